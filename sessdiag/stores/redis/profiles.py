"""Session frameworks on Redis: key fingerprints, value sniffing, and per-session facts.

Facts come from frameworks.md, part A (fingerprint table A8). A key is classified by its name
first (cheap, no round trip); the commands sent for it follow from that; the value then
confirms the framework and yields the facts every report field is built from: payload bytes,
emptiness, never-reused, last access and creation where the framework records them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from sessdiag.codecs import gob, javaser, jsonsafe, msgpack, phpser, pickleinspect, rubymarshal
from sessdiag.core.errors import DecodeError, UsageError

PROFILES: Final = ("spring-session", "spring-session-simple", "beego-redis", "connect-redis",
                   "flask-session", "django-cache", "php-redis", "rails-session", "generic")

# The lifetime each framework uses by default (frameworks.md A2–A7), for ages inferred from TTL.
DEFAULT_LIFETIME: Final[dict[str, int | None]] = {
    "beego-redis": 3600,
    "connect-redis": 86400,
    "flask-session": 2678400,
    "django-cache": 1209600,
    "php-redis": 1440,
    "rails-session": None,
    "generic": None,
}
FRAMEWORK: Final = {  # profile -> framework, for namespace drift
    "spring-session": "Spring Session", "spring-session-simple": "Spring Session",
    "beego-redis": "beego", "connect-redis": "express-session/connect-redis",
    "flask-session": "Flask-Session", "django-cache": "Django", "php-redis": "PHP phpredis",
    "rails-session": "Rails", "generic": "generic",
}

# Key kinds.
SPRING, SHADOW, EXPIRATIONS, INDEX, SPRING_ZSET, SPRING_OTHER, STRING, UNKNOWN = range(8)

PRINCIPAL_INDEX = (b"org.springframework.session.FindByIndexNameSessionRepository"
                   b".PRINCIPAL_NAME_INDEX_NAME")
PRINCIPAL_ATTR = b"sessionAttr:" + PRINCIPAL_INDEX

_SPRING_SESSION = re.compile(rb"^(.+):sessions:([^:]+)$", re.S)
_SPRING_SHADOW = re.compile(rb"^(.+):sessions:expires:([^:]+)$", re.S)
_SPRING_EXPIRATIONS = re.compile(rb"^(.+):expirations:(\d{13})$", re.S)
_SPRING_INDEX = re.compile(rb"^(.+):index:" + re.escape(PRINCIPAL_INDEX) + rb":(.*)$", re.S)
_SPRING_REACTIVE = re.compile(rb"^(.+):sessions:(?:index:.+|[^:]+:idx)$", re.S)
_DJANGO = re.compile(rb"^(.*:\d+:django\.contrib\.sessions\.(?:cache|cached_db))([a-z0-9]{32})$",
                     re.S)
_PHP = re.compile(rb"^(.*PHPREDIS_(?:CLUSTER_)?SESSION):([0-9a-zA-Z,-]{22,256})$", re.S)
_RAILS = re.compile(rb"^(?:(.*):)?(2::[0-9a-f]{64})$", re.S)
_CONNECT = re.compile(rb"^(.*sess):([A-Za-z0-9_-]{32})$", re.S)
_FLASK = re.compile(rb"^(.*session):([0-9a-f]{8}-[0-9a-f-]{27}|[A-Za-z0-9_-]{43})$", re.S)
_BEEGO = re.compile(rb"^[0-9a-f]{32}$")

Kind = tuple[int, str, str]  # (kind, profile, namespace)
_UNKNOWN: Final[Kind] = (UNKNOWN, "", "")


def _ns(b: bytes | None) -> str:
    return (b or b"").decode("utf-8", "replace")


_NS_CACHE: dict[bytes, str] = {}


def _nsc(b: bytes) -> str:
    s = _NS_CACHE.get(b)
    if s is None:
        s = b.decode("utf-8", "replace")
        if len(_NS_CACHE) < 10_000:
            _NS_CACHE[b] = s
    return s


def classify(key: bytes) -> Kind:
    """Key name -> (kind, profile, namespace). Cheap substring tests gate every regex."""
    j = key.rfind(b":sessions:")
    if j > 0:
        rest = key[j + 10:]
        if rest and b":" not in rest:  # the hot path: a session hash
            if rest == b"expirations":
                return (SPRING_ZSET, "spring-session", _nsc(key[:j]))
            return (SPRING, "spring-session", _nsc(key[:j]))
        j = key.rfind(b":sessions:expires:")
        if j > 0 and len(key) > j + 18 and b":" not in key[j + 18:]:
            return (SHADOW, "spring-session", _nsc(key[:j]))
    if b":sessions:" in key:
        if key.endswith(b":sessions:expirations"):
            return (SPRING_ZSET, "spring-session", _ns(key[:-21]))
        m = _SPRING_SHADOW.match(key)
        if m:
            return (SHADOW, "spring-session", _ns(m.group(1)))
        m = _SPRING_SESSION.match(key)
        if m:
            return (SPRING, "spring-session", _ns(m.group(1)))
        m = _SPRING_REACTIVE.match(key)
        if m:
            return (SPRING_OTHER, "spring-session", _ns(m.group(1)))
    if b":expirations:" in key:
        m = _SPRING_EXPIRATIONS.match(key)
        if m:
            return (EXPIRATIONS, "spring-session", _ns(m.group(1)))
    if b":index:" in key:
        m = _SPRING_INDEX.match(key)
        if m:
            return (INDEX, "spring-session", _ns(m.group(1)))
    if b"django.contrib.sessions." in key:
        m = _DJANGO.match(key)
        if m:
            return (STRING, "django-cache", _ns(m.group(1)))
    if b"PHPREDIS_" in key:
        m = _PHP.match(key)
        if m:
            return (STRING, "php-redis", _ns(m.group(1)))
    if b"2::" in key:
        m = _RAILS.match(key)
        if m:
            return (STRING, "rails-session", _ns(m.group(1)))
    if b"sess:" in key:
        m = _CONNECT.match(key)
        if m:
            return (STRING, "connect-redis", _ns(m.group(1)))
    if b"session:" in key:
        m = _FLASK.match(key)
        if m:
            return (STRING, "flask-session", _ns(m.group(1)))
    if len(key) == 32 and _BEEGO.match(key):
        return (STRING, "beego-redis", "")
    return _UNKNOWN


def namespace_of(key: bytes) -> str:
    """A key's prefix up to its last ':' (for keys no fingerprint names)."""
    i = key.rfind(b":")
    return _ns(key[:i]) if i > 0 else ""


def pattern_namespace(pattern: str) -> str:
    """The literal prefix of a SCAN MATCH pattern, without its trailing ':'."""
    m = re.match(r"^[^*?\[\\]*", pattern)
    lit = m.group(0) if m else ""
    return lit[: lit.rfind(":")] if ":" in lit else lit.rstrip(":")


def forced_kind(profile: str, key: bytes) -> Kind:
    """--profile: every key is a session of that profile (companions still recognised)."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r} for a Redis target "
                         f"(one of {', '.join(PROFILES)})")
    k = classify(key)
    if profile.startswith("spring-session"):
        if k[0] in (SPRING, SHADOW, EXPIRATIONS, INDEX, SPRING_ZSET, SPRING_OTHER):
            return k
        return (SPRING, "spring-session", namespace_of(key))
    if k[0] == STRING and k[1] == profile:
        return k
    return (STRING, profile, namespace_of(key))


# --- value formats -------------------------------------------------------------------------

_PHP_VAR = re.compile(rb"^[A-Za-z0-9_\x7f-\xff.\-]{1,256}\|[abdiNOsCEr]")


def sniff(v: bytes) -> str:
    """The encoding a value is in, from its first bytes."""
    if not v:
        return "empty"
    b0 = v[0]
    if v[:4] == javaser.MAGIC:
        return "jdk"
    if v[:3] == b"\x0e\xff\x81" or (b0 < 0x80 and v[1:3] == b"\xff\x81"):
        return "gob"
    if b0 == 0x80 and len(v) > 1 and v[1] <= 5:
        return "pickle"
    if v[:2] == b"\x04\x08":
        return "marshal"
    if b0 in (0x7B, 0x5B):  # { [
        return "json"
    if (0x81 <= b0 <= 0x8F and len(v) > 1 and 0xA0 <= v[1] <= 0xBF) or b0 in (0xDE, 0xDF):
        return "msgpack"
    if _PHP_VAR.match(v) or v[:2] == b"a:":
        return "php"
    return "other"


_DECODERS: Final[dict[str, Callable[[bytes], list[dict]]]] = {
    "gob": gob.decode_session,
    "pickle": pickleinspect.decode_session,
    "msgpack": msgpack.decode_session,
    "json": jsonsafe.decode_session,
    "marshal": rubymarshal.decode_session,
    "php": phpser.decode_session,
}


def decode_string_session(v: bytes, fmt: str | None = None) -> list[dict]:
    """Any string session value -> entries; DecodeError when it does not parse."""
    fmt = fmt or sniff(v)
    if fmt == "empty":
        return []
    if fmt == "jdk":
        val = javaser.decode(v)
        items = val.get("value")
        if isinstance(items, dict):
            return [{"key": {"type": "java.lang.String", "value": k}, "value": x}
                    for k, x in items.items()]
        return [{"key": {"type": "value", "value": ""}, "value": val}]
    dec = _DECODERS.get(fmt)
    if dec is None:
        raise DecodeError("unknown value encoding", 0)
    return dec(v)


def decode_spring_value(v: bytes) -> Any:
    if v[:4] == javaser.MAGIC:
        return javaser.decode(v)
    if not v:
        raise DecodeError("empty hash value", 0)
    return jsonsafe.decode(v)


def decode_spring_hash(flat: list[bytes]) -> list[dict]:
    """HGETALL reply -> entries, every value decoded (JDK serialization or JSON)."""
    out = []
    for i in range(0, len(flat) - 1, 2):
        f = flat[i].decode("utf-8", "replace")
        out.append({"key": {"type": "string", "value": f},
                    "value": decode_spring_value(flat[i + 1])})
    return out


# --- per-session facts ---------------------------------------------------------------------

def _spring_number(v: bytes) -> int | None:
    if v[:4] == javaser.MAGIC:
        return javaser.long_value(v)
    s = v.strip()
    if s[:1] == b"[":  # Jackson default typing: ["java.lang.Long", 123]
        try:
            x = json.loads(s)
        except ValueError:
            return None
        s = str(x[1]).encode() if isinstance(x, list) and len(x) == 2 else b""
    try:
        return int(s)
    except ValueError:
        return None


class SpringFacts:
    __slots__ = ("created_ms", "empty", "fmt", "last_ms", "max_inactive", "nbytes", "principal")

    def __init__(self, flat: list[bytes]) -> None:
        self.created_ms: int | None = None
        self.last_ms: int | None = None
        self.max_inactive: int | None = None
        self.empty = True
        self.principal: str | None = None
        self.fmt = "json"
        n = 0
        for i in range(0, len(flat) - 1, 2):
            f = flat[i]
            v = flat[i + 1]
            n += len(f) + len(v)
            if f == b"creationTime":
                self.created_ms = _spring_number(v)
                if v[:4] == javaser.MAGIC:
                    self.fmt = "jdk"
            elif f == b"lastAccessedTime":
                self.last_ms = _spring_number(v)
            elif f == b"maxInactiveInterval":
                self.max_inactive = _spring_number(v)
            elif f[:12] == b"sessionAttr:":
                self.empty = False
                if f == PRINCIPAL_ATTR:
                    self.principal = javaser.string_value(v) or _json_string(v)
        self.nbytes = n


def _json_string(v: bytes) -> str | None:
    try:
        x = json.loads(v)
    except ValueError:
        return None
    return x if isinstance(x, str) else None


def parse_iso(s: Any) -> float | None:
    if not isinstance(s, str):
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class CookieFacts:
    """express-session JSON: cookie.originalMaxAge / cookie.expires, uninitialised or not."""

    __slots__ = ("empty", "expires", "ok", "original_max_age", "principal")

    def __init__(self, v: bytes) -> None:
        self.ok = False
        self.empty = False
        self.expires: float | None = None
        self.original_max_age: float | None = None
        self.principal: str | None = None
        try:
            d = jsonsafe.loads(v)
        except DecodeError:
            return
        if not isinstance(d, dict):
            return
        self.ok = True
        cookie = d.get("cookie")
        if isinstance(cookie, dict):
            oma = cookie.get("originalMaxAge")
            if isinstance(oma, int | float) and not isinstance(oma, bool) and oma > 0:
                self.original_max_age = oma / 1000.0
            self.expires = parse_iso(cookie.get("expires"))
        self.empty = set(d) <= {"cookie"}
        p = d.get("passport")
        user = p.get("user") if isinstance(p, dict) else d.get("userId", d.get("user"))
        if isinstance(user, str | int) and not isinstance(user, bool):
            self.principal = str(user)


# Exact payloads of sessions that hold nothing (frameworks.md, verified bytes).
EMPTY_VALUES: Final[dict[str, frozenset[bytes]]] = {
    "beego-redis": frozenset({gob.EMPTY_SESSION}),
    "flask-session": frozenset({
        bytes.fromhex("80049512000000000000007d948c0a5f7065726d616e656e749488732e"),
        bytes.fromhex("80059512000000000000007d948c0a5f7065726d616e656e749488732e"),
        bytes.fromhex("81aa5f7065726d616e656e74c3"),
        b'{"_permanent": true}', b'{"_permanent":true}',
    }),
}
# Keys that do not make a session "used": Flask's permanence flag, Rails' CSRF token and id.
_TRIVIAL_KEYS: Final[dict[str, frozenset[str]]] = {
    "flask-session": frozenset({"_permanent"}),
    "rails-session": frozenset({"session_id", "_csrf_token"}),
    "connect-redis": frozenset({"cookie"}),  # as CookieFacts.empty: only the cookie
}


def string_empty(profile: str, v: bytes, entries: list[dict] | None) -> bool | None:
    """Is this string session empty/uninitialised? None when it needs a decode to tell."""
    if not v:
        return True
    exact = EMPTY_VALUES.get(profile)
    if exact is not None and v in exact:
        return True
    if entries is None:
        if profile in ("beego-redis", "php-redis") or len(v) > 512:
            return False  # only the exact empty payloads above (or b"") are empty
        return None
    trivial = _TRIVIAL_KEYS.get(profile, frozenset())
    for e in entries:
        k = e.get("key", {}).get("value")
        if not (isinstance(k, str) and k in trivial):
            return False
    return True


def principal_of(entries: list[dict]) -> str | None:
    """A user id from decoded entries, where frameworks keep one (Django, Flask-Login, PHP)."""
    for e in entries:
        k = e.get("key", {}).get("value")
        if k in ("_auth_user_id", "_user_id", "user_id", "uid", "userId", "warden.user.user.key"):
            v = e.get("value", {}).get("value")
            if isinstance(v, str | int) and not isinstance(v, bool):
                return str(v)
    return None
