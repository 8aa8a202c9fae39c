"""Session frameworks on Redis: key fingerprints, value sniffing, and per-session facts.

Facts come from docs/frameworks/ and the captures in fixtures/redis. A key is classified by its name
first (cheap, no round trip); the commands sent for it follow from that; the value then
confirms the framework and yields the facts every report field is built from: payload bytes,
emptiness, never-reused, last access and creation where the framework records them.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Final

from sessdiag import frameworks as fw_registry
from sessdiag.codecs import contained, javaser, jsonsafe
from sessdiag.core.errors import DecodeError, UsageError
from sessdiag.frameworks import spring, values

# Profile names, lifetimes and framework names come from the registry (sessdiag.frameworks);
# these aliases are the same objects, rebuilt in place when a profile is registered.
PROFILES: Final = fw_registry.REDIS_PROFILES
DEFAULT_LIFETIME: Final = fw_registry.DEFAULT_LIFETIME
FRAMEWORK: Final = fw_registry.FAMILY  # profile -> framework, for namespace drift

# Key kinds.
SPRING, SHADOW, EXPIRATIONS, INDEX, SPRING_ZSET, SPRING_OTHER, STRING, UNKNOWN = range(8)

PRINCIPAL_INDEX = spring.PRINCIPAL_INDEX
PRINCIPAL_ATTR = spring.PRINCIPAL_ATTR

_SPRING_SESSION = spring.SESSION_RE
_SPRING_SHADOW = spring.SHADOW_RE
_SPRING_EXPIRATIONS = spring.EXPIRATIONS_RE
_SPRING_INDEX = spring.INDEX_RE
_SPRING_REACTIVE = spring.REACTIVE_RE
_STRING_KEYS = fw_registry.STRING_KEYS
_STRING_GATES = fw_registry.STRING_GATES

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


# The companions' markers and the string keys' gates as one search (classify: a key that
# holds none of them is an ungated string key or no session key), and the gates regex it was
# built from (the registry rebuilds that one when a profile is registered).
_MARKS: list[Any] = [object(), None]


def _marks(gates: re.Pattern[bytes] | None) -> re.Pattern[bytes]:
    spring = re.escape(b":expirations:") + b"|" + re.escape(b":index:")
    rx = re.compile(spring if gates is None else spring + b"|" + gates.pattern)
    _MARKS[:] = [gates, rx]
    return rx


def classify(key: bytes) -> Kind:
    """Key name -> (kind, profile, namespace). Cheap substring tests gate every regex.

    (`key.find(x) >= 0` rather than `x in key`: the same test, at half the cost for bytes.)
    """
    j = key.rfind(b":sessions:")
    if j > 0:
        rest = key[j + 10:]
        if rest and rest.find(b":") < 0:  # the hot path: a session hash
            if rest == b"expirations":
                return (SPRING_ZSET, "spring-session", _nsc(key[:j]))
            return (SPRING, "spring-session", _nsc(key[:j]))
        e = key.rfind(b":sessions:expires:")
        if e > 0 and len(key) > e + 18 and key.find(b":", e + 18) < 0:
            return (SHADOW, "spring-session", _nsc(key[:e]))
    if j >= 0:  # b":sessions:" in key
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
    gates = _STRING_GATES["any"]
    marks = _MARKS[1] if _MARKS[0] is gates else _marks(gates)
    if marks.search(key) is None:  # (the bulk: one search, for no companion and no gate)
        keys = _STRING_GATES["ungated"]
    else:
        if key.find(b":expirations:") >= 0:
            m = _SPRING_EXPIRATIONS.match(key)
            if m:
                return (EXPIRATIONS, "spring-session", _ns(m.group(1)))
        if key.find(b":index:") >= 0:
            m = _SPRING_INDEX.match(key)
            if m:
                return (INDEX, "spring-session", _ns(m.group(1)))
        keys = _STRING_KEYS if gates is None or gates.search(key) is not None \
            else _STRING_GATES["ungated"]
    n = len(key)
    for gate, key_len, rx, profile in keys:  # the registry's order: most specific first
        if (key_len and n != key_len) or (gate and key.find(gate) < 0):
            continue
        m = rx.match(key)
        if m:
            return (STRING, profile, _nsc(m.group(1) or b""))
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

sniff = values.sniff
decode_string_session = values.decode_sniffed


@contained
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


def string_empty(profile: str, v: bytes, entries: list[dict] | None) -> bool | None:
    """Is this string session empty/uninitialised? None when it needs a decode to tell."""
    return fw_registry.get(profile).is_empty(v, entries)


def principal_of(entries: list[dict], profile: str = "generic") -> str | None:
    """A user id from decoded entries, where frameworks keep one (Django, Flask-Login, PHP)."""
    return fw_registry.get(profile).principal(entries)
