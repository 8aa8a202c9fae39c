"""Access logs streamed into compact rows: who asked, when, with which session cookie.

One row per request: ``(client, t, request, status, presented, set, ua)`` where

- ``client`` is the client key as bytes (the IP as written, ``IP UA``, the UA, or a field),
- ``t`` is epoch seconds (float),
- ``request`` is the raw request line (``GET /path HTTP/1.1``), kept for race reports only,
- ``status`` the status as bytes (for the combined format the raw ``" 200 612 "`` field,
  split only where a row is reported: see ``status_code``),
- ``presented`` the session cookie value the request carried (``None`` without one),
- ``set`` the session cookie value the response set (``None`` when it set none, ``DELETED``
  when it cleared the cookie),
- ``ua`` the User-Agent as written (``b"-"`` without one).

Formats: ``combined-cookies`` (nginx/Apache combined + ``"$cookie_NAME"`` and, last, either
``"$sent_http_set_cookie"`` — a whole Set-Cookie header — or ``"$upstream_cookie_NAME"`` — the
bare value the upstream set for that cookie; which one a file holds is told from its first
lines), ``jsonl`` with a field mapping, and ``regex:…`` with named groups.

nginx before 1.23 puts only the *first* Set-Cookie header in ``$sent_http_set_cookie``: an
app that sends another cookie first (Laravel's XSRF-TOKEN) never shows its session cookie
there. The reader counts responses that set some cookie but not the session cookie, so the
report can say so instead of counting no sessions at all.
Files are read in 1 MiB chunks (plain, ``.gz``, or ``-`` for stdin); the combined format is
matched chunk-wide by one compiled bytes regex, so the per-line work is a tuple and a few
comparisons. Several files are merged by time (each file is time-ordered, as web servers write
them), so rotated logs and logs of several replicas give one timeline.
"""

from __future__ import annotations

import gzip
import heapq
import io
import itertools
import json
import re
import sys
from calendar import timegm
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sessdiag import frameworks
from sessdiag.core.errors import UsageError

CHUNK = 1 << 20
DELETED = b"\x00deleted"  # `set` value of a response that clears the session cookie

# Session cookie names by store profile, from the framework registry; the first is the
# framework default. Both are the registry's own tables, rebuilt in place on registration.
PROFILE_COOKIES: dict[str, tuple[str, ...]] = frameworks.PROFILE_COOKIES
KNOWN_COOKIES: list[str] = frameworks.KNOWN_COOKIES

_Q = rb'"([^"\\\n]*(?:\\.[^"\\\n]*)*)"'  # a quoted field, Apache's \" escapes allowed
COMBINED_COOKIES = re.compile(
    rb"^(\S+) \S+ \S+ \[([^\]\n]*)\] " + _Q + rb" (\d{3}|-) \S+ " + _Q + rb" " + _Q + rb" "
    + _Q + rb" " + _Q + rb"[^\n]*$", re.M)
# Groups: 1 ip, 2 time, 3 request, 4 status, 5 referer, 6 ua, 7 cookie, 8 set-cookie.

LOG_FIELD_NAMES = ("client", "ip", "time", "request", "method", "path", "status", "ua",
                   "cookie", "set_cookie", "set_cookie_value")
_JSONL_DEFAULTS = {
    "ip": ("remote_addr", "client_ip", "ip", "remote_ip", "clientip"),
    "time": ("time_local", "time_iso8601", "time", "timestamp", "@timestamp", "ts", "msec"),
    "request": ("request",),
    "method": ("request_method", "method"),
    "path": ("request_uri", "uri", "path", "url"),
    "status": ("status", "status_code"),
    "ua": ("http_user_agent", "user_agent", "ua"),
    "cookie": ("cookie", "session_cookie", "http_cookie"),
    "set_cookie": ("sent_http_set_cookie", "set_cookie", "http_set_cookie"),
}
_REGEX_ALIASES = {"ip": ("ip", "remote_addr", "client_ip", "addr"), "time": ("time", "ts"),
                  "ua": ("ua", "user_agent", "agent"), "set_cookie": ("set_cookie", "setcookie")}


@dataclass
class LogSpec:
    """How to read the logs: format, session cookie name, client key."""

    fmt: str = "combined-cookies"
    cookie_name: str | None = None
    client_key: str = "ip"
    fields: dict[str, str] = field(default_factory=dict)
    regex: re.Pattern[bytes] | None = None
    cookie_hint: str | None = None  # the app's cookie name, for a log whose fields name none

    @classmethod
    def build(cls, fmt: str, cookie_name: str | None, client_key: str,
              log_fields: str | None, cookie_hint: str | None = None) -> LogSpec:
        spec = cls(cookie_name=cookie_name or None, client_key=client_key or "ip",
                   cookie_hint=cookie_hint or None)
        if fmt.startswith("regex:"):
            spec.fmt = "regex"
            try:
                spec.regex = re.compile(fmt[6:].encode())
            except re.error as exc:
                raise UsageError(f"--log-format regex does not compile: {exc}") from exc
            names = set(spec.regex.groupindex)
            if not names & {"time", "ts"}:
                raise UsageError("--log-format regex needs a named group 'time'")
            if not names & {"cookie", "set_cookie", "setcookie", "set_cookie_value"}:
                raise UsageError("--log-format regex needs named groups 'cookie' and/or "
                                 "'set_cookie'")
        elif fmt in ("combined-cookies", "jsonl"):
            spec.fmt = fmt
        else:
            raise UsageError(f"unknown --log-format {fmt!r} (combined-cookies, jsonl or "
                             "'regex:…' with named groups)")
        if log_fields:
            for part in log_fields.split(","):
                name, eq, src = part.partition("=")
                name, src = name.strip(), src.strip()
                if not eq or not name or not src:
                    raise UsageError(f"--log-field wants NAME=FIELD,…; got {part!r}")
                if name not in LOG_FIELD_NAMES and name != spec.client_key:
                    raise UsageError(f"--log-field: unknown name {name!r} (one of "
                                     f"{', '.join(LOG_FIELD_NAMES)} or the --client-key field)")
                spec.fields[name] = src
            if spec.fmt != "jsonl":
                raise UsageError("--log-field applies to --log-format jsonl only")
        if spec.client_key not in ("ip", "ip+ua", "ua"):
            if spec.fmt == "combined-cookies":
                raise UsageError(f"--client-key {spec.client_key!r}: the combined format has "
                                 "only ip and ua; use ip, ip+ua or ua")
            if spec.fmt == "regex" and spec.client_key not in spec.regex.groupindex:  # type: ignore[union-attr]
                raise UsageError(f"--client-key {spec.client_key!r} is not a named group of "
                                 "the regex")
        return spec


@dataclass
class LogStats:
    files: list[str] = field(default_factory=list)
    lines: int = 0
    parsed: int = 0
    skipped: int = 0
    skipped_examples: list[str] = field(default_factory=list)
    first: float | None = None
    last: float | None = None
    cookie_name: str | None = None
    cookie_name_source: str = "flag"
    out_of_order: int = 0
    set_cookie_field: str = "header"  # "header" ($sent_http_set_cookie) or "value"
    session_sets: int = 0  # responses whose Set-Cookie field carried the session cookie
    other_sets: int = 0  # responses that set cookies, none of them the session cookie

    def skip(self, line: bytes) -> None:
        self.skipped += 1
        if len(self.skipped_examples) < 3:
            self.skipped_examples.append(show_line(line))


SHOWN_CHARS = 80
_CUT_ESCAPE = re.compile(r"\\(x[0-9a-f]?|u[0-9a-f]{0,3})?$")


def show_line(line: bytes, limit: int = SHOWN_CHARS) -> str:
    """A log line as it may be shown to a person: undecodable bytes and control characters
    escaped (a binary file must not reach the terminal raw), at most `limit` characters."""
    from sessdiag.core.textsafe import escape_unprintable

    text = escape_unprintable(line[:limit].decode("utf-8", "surrogateescape"))
    if len(text) <= limit and len(line) <= limit:
        return text
    return _CUT_ESCAPE.sub("", text[:limit]) + f"… ({len(line):,} bytes)"


def sample_in_format(sample: bytes, spec: LogSpec) -> bool:
    """Does any of the first lines of a log look like `spec`'s format at all?"""
    lines = [ln for ln in sample.split(b"\n")[:200] if ln.strip()]
    if spec.fmt == "combined-cookies":
        return any(COMBINED_COOKIES.match(ln) for ln in lines)
    if spec.fmt == "jsonl":
        for ln in lines:
            try:
                if isinstance(json.loads(ln), dict):
                    return True
            except ValueError:
                continue
        return False
    return spec.regex is not None and any(spec.regex.search(ln) for ln in lines)


# ---------------------------------------------------------------------------------------
# Reading files


def open_log(path: str) -> io.BufferedIOBase:
    if path == "-":
        return sys.stdin.buffer
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except FileNotFoundError as exc:
        raise UsageError(f"--access-log {path}: no such file") from exc
    except IsADirectoryError as exc:
        raise UsageError(f"--access-log {path}: is a directory") from exc
    except PermissionError as exc:
        raise UsageError(f"--access-log {path}: permission denied") from exc
    magic = fh.peek(2)[:2] if hasattr(fh, "peek") else b""
    if magic == b"\x1f\x8b" or path.endswith(".gz"):
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    return fh


def iter_chunks(fh: io.BufferedIOBase, size: int = CHUNK) -> Iterator[bytes]:
    """Whole lines, about `size` bytes at a time; the last line may lack its newline."""
    rest = b""
    while True:
        try:
            block = fh.read(size)
        except (OSError, EOFError) as exc:  # truncated .gz, bad gzip data
            raise UsageError(f"cannot read access log: {exc}") from exc
        if not block:
            break
        buf = rest + block if rest else block
        cut = buf.rfind(b"\n")
        if cut < 0:
            rest = buf
            if len(rest) > 64 * CHUNK:  # no newline in 64 MiB: not a log
                raise UsageError("access log has a line longer than 64 MiB")
            continue
        rest = buf[cut + 1:]
        yield buf[: cut + 1]
    if rest:
        yield rest + b"\n"


# ---------------------------------------------------------------------------------------
# Times

_MONTHS = {m.encode(): i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


class TimeParser:
    """nginx/Apache `10/Oct/2000:13:55:36 -0700`, ISO 8601, or epoch seconds -> epoch float.

    Consecutive lines share their second, and seconds share their hour: both are cached, so
    a line costs one comparison and most of the rest an addition.
    """

    def __init__(self) -> None:
        self.last_raw: bytes | None = None
        self.last: float = 0.0
        self.hours: dict[bytes, int] = {}

    def __call__(self, raw: bytes) -> float:
        if raw == self.last_raw:
            return self.last
        t = self._parse(raw)
        self.last_raw = raw
        self.last = t
        return t

    def _parse(self, raw: bytes) -> float:
        # dd/Mon/yyyy:HH:MM:SS +zzzz
        if len(raw) >= 20 and raw[2:3] == b"/" and raw[11:12] == b":":
            key = raw[:14] + raw[20:]
            base = self.hours.get(key)
            if base is None:
                base = self._hour_clf(raw)
                if len(self.hours) > 4096:
                    self.hours.clear()
                self.hours[key] = base
            try:
                return base + int(raw[15:17]) * 60 + int(raw[18:20]) + _frac(raw[20:])
            except ValueError as exc:
                raise ValueError(f"bad time {raw!r}") from exc
        s = raw.decode("ascii", "replace").strip()
        if s and (s[0].isdigit() and ("-" not in s[:5])):
            return float(s)
        if s.endswith("Z"):
            s = s[:-1] + "+00:00"
        dt = datetime.fromisoformat(s)
        if dt.tzinfo is None:
            return timegm(dt.timetuple()) + dt.microsecond / 1e6
        return dt.timestamp()

    @staticmethod
    def _hour_clf(raw: bytes) -> int:
        try:
            day = int(raw[0:2])
            month = _MONTHS[raw[3:6]]
            year = int(raw[7:11])
            hour = int(raw[12:14])
        except (KeyError, ValueError) as exc:
            raise ValueError(f"bad time {raw!r}") from exc
        tz = raw[20:].strip()
        if b"." in tz[:1]:  # fractional seconds before the zone (some Apache formats)
            tz = tz.split(b" ", 1)[1] if b" " in tz else b""
        offset = 0
        if len(tz) == 5 and tz[:1] in b"+-":
            offset = (int(tz[1:3]) * 3600 + int(tz[3:5]) * 60) * (-1 if tz[:1] == b"-" else 1)
        return timegm((year, month, day, hour, 0, 0)) - offset


def _frac(tail: bytes) -> float:
    if tail[:1] == b".":
        digits = tail[1:].split(b" ", 1)[0]
        return float(b"0." + digits) if digits.isdigit() else 0.0
    return 0.0


# ---------------------------------------------------------------------------------------
# Cookies


class CookieReader:
    """Pull the session cookie out of the two cookie fields of a log line."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.eq = name.encode() + b"="

    def presented(self, raw: bytes) -> bytes | None:
        """`$cookie_NAME` (the bare value) or a whole Cookie header -> the value or None."""
        if raw == b"-" or not raw:
            return None
        eq = self.eq
        if eq in raw:
            value = self._find(raw, eq, b";")
            return value or None
        return raw

    def set(self, raw: bytes) -> bytes | None:
        """`$sent_http_set_cookie` -> the value this response set, DELETED, or None."""
        if raw == b"-" or not raw:
            return None
        eq = self.eq
        if raw.startswith(eq):
            start = len(eq)
        else:
            i = _find_cookie_start(raw, eq)
            if i < 0:
                return None
            start = i + len(eq)
        end = raw.find(b";", start)
        value = raw[start:] if end < 0 else raw[start:end]
        if value[:1] in (b" ", b'"') or value[-1:] in (b" ", b'"'):
            value = value.strip().strip(b'"')
        if not value or value == b"deleted":
            return DELETED
        if end >= 0 and (b"1970" in raw or b"ge=0" in raw or b"GE=0" in raw or b"ge=-" in raw
                         or b"GE=-" in raw):
            attrs = raw[end:end + 200]
            # Several Set-Cookie headers arrive joined by ", ": only this cookie's own
            # attributes count, not a later cookie's Max-Age=0.
            nxt = _NEXT_COOKIE.search(attrs)
            if nxt:
                attrs = attrs[:nxt.start()]
            if _CLEARING_ATTR.search(attrs):
                return DELETED
        return value

    @staticmethod
    def set_value(raw: bytes) -> bytes | None:
        """`$upstream_cookie_NAME`: the bare value the upstream set, DELETED for the
        conventional clearing values."""
        if raw == b"-" or not raw:
            return None
        if raw == b"deleted" or raw == b'""':
            return DELETED
        return raw

    @staticmethod
    def _find(raw: bytes, eq: bytes, sep: bytes) -> bytes | None:
        i = _find_cookie_start(raw, eq)
        if i < 0:
            return None
        start = i + len(eq)
        end = raw.find(sep, start)
        return (raw[start:] if end < 0 else raw[start:end]).strip().strip(b'"')


_NEXT_COOKIE = re.compile(rb",\s*[^=;,\s]+=")
_CLEARING_ATTR = re.compile(rb"max-age\s*=\s*(?:0(?!\d)|-)|expires\s*=[^;]*\b1970\b", re.I)


def _find_cookie_start(raw: bytes, eq: bytes) -> int:
    i = raw.find(eq)
    while i > 0 and raw[i - 1:i] not in (b" ", b";", b",", b"\t"):
        i = raw.find(eq, i + 1)
    return i


# Cookies that are never the session cookie, though apps set them on every response (and,
# sent first, they are all nginx < 1.23 logs of Set-Cookie): never guessed as its name.
NOT_SESSION_COOKIES = frozenset({"XSRF-TOKEN", "csrftoken", "csrf_token", "_csrf", "CSRF-TOKEN"})
_HEADER_FORM = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+=(?:[^=]|$)")


def set_cookie_form(sample: bytes) -> str:
    """Is the last field of these combined-cookies lines a whole Set-Cookie header
    (`$sent_http_set_cookie`: "name=value; Path=/…") or a bare value
    (`$upstream_cookie_NAME`)? A header has a name= and nearly always attributes; a bare
    value has neither. "header" when no line sets anything (nothing to tell by)."""
    bare = 0
    for m in COMBINED_COOKIES.finditer(sample, 0, 1 << 18):
        sc = m.group(8)
        if sc == b"-" or not sc:
            continue
        if b";" in sc or _HEADER_FORM.match(sc):
            return "header"
        bare += 1
    return "value" if bare else "header"


_SET_NAME = re.compile(rb'(?:^|"|, |;\s*)([A-Za-z0-9_.!#$%&\'*+^`|~-]+)=')


def detect_cookie_name(sample: bytes, fmt: str, profile: str | None) -> tuple[str | None, str]:
    """Name of the session cookie from the Set-Cookie fields of the first lines."""
    seen: Counter[str] = Counter()
    if fmt == "combined-cookies":
        for m in COMBINED_COOKIES.finditer(sample):
            sc = m.group(8)
            if sc != b"-":
                head = sc.split(b";", 1)[0]
                name, eq, _v = head.partition(b"=")
                name = name.strip()
                if eq and name:  # a bare value ($upstream_cookie_NAME) names nothing
                    seen[name.decode("latin-1")] += 1
    else:
        for m in _SET_NAME.finditer(sample):
            seen[m.group(1).decode("latin-1")] += 1
    preferred = [*PROFILE_COOKIES.get(profile or "", ()), *KNOWN_COOKIES]
    for name in preferred:
        if seen.get(name):
            return name, "detected from Set-Cookie"
    for name in NOT_SESSION_COOKIES:
        seen.pop(name, None)
    if fmt == "combined-cookies" and seen:
        # An app that names its own cookie (Rails' _myapp_session): what the log shows wins
        # over the profile's default, which would match nothing.
        why = "most frequent Set-Cookie name"
        if profile in PROFILE_COOKIES:
            why += f" (profile {profile}'s {PROFILE_COOKIES[profile][0]} not seen)"
        return seen.most_common(1)[0][0], why
    if profile in PROFILE_COOKIES:
        return PROFILE_COOKIES[profile][0], f"default of profile {profile}"
    return None, "none"


# ---------------------------------------------------------------------------------------
# Rows

Row = tuple[bytes, float, bytes, bytes, bytes | None, bytes | None, bytes]


class LogReader:
    """Rows from one or more access logs, merged by time."""

    def __init__(self, paths: list[str], spec: LogSpec, profile: str | None = None) -> None:
        if not paths:
            raise UsageError("no access log given")
        if paths.count("-") > 1:
            raise UsageError("--access-log - (stdin) can be given once")
        self.paths = paths
        self.spec = spec
        self.profile = profile
        self.stats = LogStats(files=list(paths))
        self.cookies: CookieReader | None = None
        if spec.cookie_name:
            self.cookies = CookieReader(spec.cookie_name)
            self.stats.cookie_name = spec.cookie_name

    def rows(self) -> Iterator[Row]:
        handles = [open_log(p) for p in self.paths]
        try:
            streams = [self._file_rows(fh) for fh in handles]
            yield from streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_time_of)
        finally:
            for fh in handles:
                if fh is not sys.stdin.buffer:
                    fh.close()

    def _ensure_cookie_name(self, first_chunk: bytes, path: str = "") -> None:
        if self.cookies is None:
            name, source = detect_cookie_name(first_chunk, self.spec.fmt, self.profile)
            if name is None and self.spec.cookie_hint:
                # A log of bare values ("$upstream_cookie_NAME") names no cookie; the app's
                # own settings (Laravel's .env) do.
                name, source = self.spec.cookie_hint, "the app's settings (--app-env)"
            if name is None:
                # A log in another format (or not a log at all) has no Set-Cookie field to
                # read either: say what is wrong with the file before asking for a name.
                if not sample_in_format(first_chunk, self.spec):
                    first = next((ln for ln in first_chunk.split(b"\n") if ln.strip()), b"")
                    raise UsageError(f"--access-log {path or '-'}: not in the {self.spec.fmt} "
                                     f"format (first line: '{show_line(first)}')")
                raise UsageError("cannot tell the session cookie's name from the log's "
                                 "Set-Cookie fields (a log of \"$upstream_cookie_NAME\" "
                                 "names none); pass --cookie-name")
            self.cookies = CookieReader(name)
            self.stats.cookie_name = name
            self.stats.cookie_name_source = source

    def _file_rows(self, fh: io.BufferedIOBase) -> Iterator[Row]:
        chunks = iter_chunks(fh)
        first = next(chunks, None)
        if first is None:
            return iter(())
        self._ensure_cookie_name(first, getattr(fh, "name", "") or "")
        chunks = itertools.chain((first,), chunks)
        if self.spec.fmt == "combined-cookies":
            form = set_cookie_form(first)
            self.stats.set_cookie_field = form
            return self._combined(chunks, form)
        parse = self._jsonl if self.spec.fmt == "jsonl" else self._regex
        return itertools.chain.from_iterable(map(parse, chunks))

    def _combined(self, chunks: Iterable[bytes], form: str = "header") -> Iterator[Row]:
        """The hot path: split on quotes (nginx escapes `"` inside fields as \\x22, so a
        line has exactly 10 quotes); anything else goes through the full regex."""
        st = self.stats
        tparse = TimeParser()
        ck = self.cookies
        assert ck is not None
        presented = ck.presented
        eq = ck.eq
        setc = ck.set if form == "header" else ck.set_value
        key = self.spec.client_key
        session_sets = other_sets = 0
        slow = COMBINED_COOKIES.match
        by_ip = key == "ip"
        last_raw = None
        t = 0.0
        first_t: float | None = None
        last_t = -1e300
        for chunk in chunks:
            n = bad = 0
            lines = chunk.split(b"\n")
            if lines and not lines[-1]:
                lines.pop()
            for line in lines:
                p = line.split(b'"')
                if len(p) == 11:
                    head, req, status, _ref, s4, ua, _s6, cookie, s8, sc, _tail = p
                    ok = s4 == b" " and s8 == b" "
                else:
                    ok = False
                if ok:
                    ip = head[:head.find(b" ")]
                    ts = head[head.find(b"[") + 1:-2]
                else:
                    m = slow(line)
                    if m is None:
                        if line.strip():
                            bad += 1
                            if len(st.skipped_examples) < 3:
                                st.skipped_examples.append(show_line(line))
                        continue
                    ip, ts, req, status, _ref, ua, cookie, sc = m.groups()
                if ts != last_raw:  # a new second: parse, and check the order once
                    try:
                        t = tparse(ts)
                    except ValueError:
                        bad += 1
                        continue
                    last_raw = ts
                    if t < last_t:
                        st.out_of_order += 1
                        self._seen_time(t)
                    else:
                        if first_t is None:
                            first_t = t
                        last_t = t
                n += 1
                if by_ip:
                    client = ip
                elif key == "ip+ua":
                    client = ip + b" " + ua
                else:
                    client = ua
                if cookie == b"-":
                    cookie = None
                elif eq in cookie or not cookie:
                    cookie = presented(cookie)
                if sc == b"-":
                    sc = None
                else:
                    sc = setc(sc)
                    if sc is None:
                        other_sets += 1
                    else:
                        session_sets += 1
                yield (client, t, req, status, cookie, sc, ua)
            st.lines += len(lines)
            st.parsed += n
            st.skipped += bad
        st.session_sets += session_sets
        st.other_sets += other_sets
        if first_t is not None:
            self._seen_time(first_t)
            self._seen_time(last_t)

    def _seen_time(self, t: float) -> None:
        st = self.stats
        if st.first is None or t < st.first:
            st.first = t
        if st.last is None or t > st.last:
            st.last = t

    def _jsonl(self, chunk: bytes) -> Iterator[Row]:
        st = self.stats
        tparse = TimeParser()
        ck = self.cookies
        assert ck is not None
        getters = _json_getters(self.spec, ck.name)
        key = self.spec.client_key
        for line in chunk.split(b"\n"):
            if not line.strip():
                continue
            st.lines += 1
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not an object")
                vals = {name: get(obj) for name, get in getters.items()}
                t = _time_value(tparse, vals["time"])
            except (ValueError, TypeError, KeyError):
                st.skip(line)
                continue
            row = self._row(vals, t, key, ck)
            st.parsed += 1
            self._seen_time(t)
            yield row

    def _regex(self, chunk: bytes) -> Iterator[Row]:
        st = self.stats
        tparse = TimeParser()
        ck = self.cookies
        assert ck is not None
        rx = self.spec.regex
        assert rx is not None
        names = rx.groupindex
        key = self.spec.client_key
        for line in chunk.split(b"\n"):
            if not line.strip():
                continue
            st.lines += 1
            m = rx.search(line)
            if m is None:
                st.skip(line)
                continue
            d = m.groupdict()
            vals: dict[str, bytes | None] = {}
            for want in ("ip", "time", "ua", "set_cookie"):
                for alias in _REGEX_ALIASES[want]:
                    if alias in names and d[alias] is not None:
                        vals[want] = d[alias]
                        break
            for want in ("client", "request", "method", "path", "status", "cookie",
                         "set_cookie_value"):
                vals[want] = d.get(want)
            if key not in ("ip", "ip+ua", "ua"):
                vals[key] = d.get(key)
            try:
                t = tparse(vals.get("time") or b"")
            except ValueError:
                st.skip(line)
                continue
            st.parsed += 1
            self._seen_time(t)
            yield self._row(vals, t, key, ck)

    @staticmethod
    def _row(vals: dict, t: float, key: str, ck: CookieReader) -> Row:
        ip = vals.get("ip") or vals.get("client") or b"-"
        ua = vals.get("ua") or b"-"
        if key == "ip":
            client = ip
        elif key == "ip+ua":
            client = ip + b" " + ua
        elif key == "ua":
            client = ua
        else:
            client = vals.get(key) or b"-"
        request = vals.get("request")
        if not request:
            method = vals.get("method") or b"-"
            path = vals.get("path") or b"-"
            request = method + b" " + path
        cookie = vals.get("cookie")
        sc = vals.get("set_cookie")
        if sc and sc != b"-":
            issued = ck.set(sc)
        else:  # `$upstream_cookie_NAME` logged as its own field: the bare value
            issued = ck.set_value(vals.get("set_cookie_value") or b"-")
        return (client, t, request, vals.get("status") or b"-",
                None if not cookie or cookie == b"-" else ck.presented(cookie), issued, ua)


def _time_of(row: Row) -> float:
    return row[1]


def _time_value(tparse: TimeParser, v: bytes | None) -> float:
    if v is None:
        raise ValueError("no time")
    return tparse(v)


def _to_bytes(v: object) -> bytes | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        return v
    if isinstance(v, bool):
        return b"true" if v else b"false"
    if isinstance(v, int | float):
        return repr(v).encode()
    if isinstance(v, list):  # several Set-Cookie headers
        return b", ".join(x for x in (_to_bytes(i) for i in v) if x)
    return str(v).encode("utf-8", "surrogateescape")


def _json_getters(spec: LogSpec, cookie_name: str) -> dict:
    def path_getter(path: str):  # type: ignore[no-untyped-def]
        parts = path.split(".")
        if len(parts) == 1:
            return lambda obj: _to_bytes(obj.get(path))

        def get(obj: dict) -> bytes | None:
            cur: object = obj
            for p in parts:
                if not isinstance(cur, dict):
                    return None
                cur = cur.get(p)
            return _to_bytes(cur)
        return get

    def first_of(candidates: Iterable[str]):  # type: ignore[no-untyped-def]
        cands = tuple(candidates)
        return lambda obj: next((_to_bytes(obj[c]) for c in cands if obj.get(c) is not None),
                                None)

    getters = {}
    wanted = list(LOG_FIELD_NAMES)
    if spec.client_key not in ("ip", "ip+ua", "ua"):
        wanted.append(spec.client_key)
    for name in wanted:
        if name in spec.fields:
            getters[name] = path_getter(spec.fields[name])
        elif name == "cookie":
            getters[name] = first_of(("cookie_" + cookie_name, *_JSONL_DEFAULTS["cookie"]))
        elif name == "set_cookie_value":
            getters[name] = first_of(("upstream_cookie_" + cookie_name,))
        elif name in _JSONL_DEFAULTS:
            getters[name] = first_of(_JSONL_DEFAULTS[name])
        elif name == spec.client_key:
            getters[name] = path_getter(name)
        else:
            getters[name] = lambda obj: None
    return getters


def status_code(status: bytes) -> int | None:
    head = status.split(None, 1)[0] if status.strip() else b""
    return int(head) if head.isdigit() else None


def request_parts(request: bytes) -> tuple[str, str]:
    """`GET /p?q HTTP/1.1` -> ("GET", "/p?q"), decoded for display."""
    text = request.decode("utf-8", "replace")
    parts = text.split(" ")
    if len(parts) >= 2:
        return parts[0], parts[1]
    return "-", text
