"""The framework registry: one module per framework, one line per profile below.

Adding a framework is a module in this package (one `Framework` per store profile it has) and
a line in `_BUILTIN`. Everything else — cookie names for log parsing, Redis key fingerprints,
file layouts and their detection, decoders, lifetimes, emptiness, the fix to suggest — is read
from the registry. The tables below are derived from it and rebuilt in place by `register`, so
hot loops may bind them once (the Redis scanner classifies every key through `STRING_KEYS`).

Order matters in one place: a Redis key is given to the first profile whose pattern matches,
so more specific patterns come first (Django's and PHP's before the catch-all `session:`,
beego's bare hex ids last).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from re import Pattern
from typing import Any

from sessdiag.core.errors import UsageError
from sessdiag.frameworks import (
    beego,
    django,
    express,
    flask,
    generic,
    laravel,
    php,
    rails,
    spring,
)
from sessdiag.frameworks.base import (
    Decoder,
    FileLayout,
    Framework,
    RedisKeys,
    TreeSample,
    attribute_value,
    plain_sid,
)

__all__ = [
    "DEFAULT_LIFETIME",
    "FAMILY",
    "FILE_PROFILES",
    "KNOWN_COOKIES",
    "PROFILE_COOKIES",
    "REDIS_PROFILES",
    "REGISTRY",
    "SNIFF_KEY",
    "STRING_KEYS",
    "VALUE_SNIFFERS",
    "FileLayout",
    "Framework",
    "RedisKeys",
    "TreeSample",
    "attribute_value",
    "emptiness_check",
    "for_cookie",
    "get",
    "register",
    "registered",
    "session_decoder",
    "sid_from_cookie",
    "sid_mapper",
    "unregister",
]

_BUILTIN: tuple[Framework, ...] = (
    beego.FILE,
    php.FILES,
    spring.INDEXED,
    spring.SIMPLE,
    django.DJANGO_CACHE,
    php.REDIS,
    rails.RAILS_SESSION,
    express.CONNECT_REDIS,
    flask.FLASK_SESSION,
    laravel.FILES,
    laravel.REDIS,
    beego.REDIS,
    generic.GENERIC,  # keep last: keys nothing else names
)

# Cookie names seen in front of session stores that no profile uses by default (servlet
# containers): recognised in logs, mapped as plain ids.
_OTHER_COOKIES = ("JSESSIONID",)

REGISTRY: dict[str, Framework] = {}
PROFILE_COOKIES: dict[str, tuple[str, ...]] = {}
KNOWN_COOKIES: list[str] = []
FILE_PROFILES: list[str] = []
REDIS_PROFILES: list[str] = []
DEFAULT_LIFETIME: dict[str, int | None] = {}
FAMILY: dict[str, str] = {}
# Redis string sessions, in match order: (gate substring, exact key length or 0, regex, profile).
STRING_KEYS: list[tuple[bytes, int, Pattern[bytes], str]] = []
# STRING_KEYS' gates as one regex search ("any"; None when no entry has a gate) and the entries
# without a gate ("ungated"): a key that holds no gate can only match those, so a key no
# framework names costs one search, not a test per framework (refreshed by _rebuild).
STRING_GATES: dict[str, Any] = {"any": None, "ungated": []}
# Redis keys no pattern names, recognised by value: (profile, (lower key, head, format) -> bool).
VALUE_SNIFFERS: list[tuple[str, Callable[[bytes, bytes, str], bool]]] = []
# The key substrings VALUE_SNIFFERS read (the union of their sniff_key_words; None when one of
# them does not declare its words), and the sniffed profile (or None) remembered by
# (head, bit i set when the lower-cased key holds word i): emptied by _rebuild.
SNIFF_KEY: dict[str, Any] = {"words": (), "memo": {}}


def _rebuild() -> None:
    for table in (PROFILE_COOKIES, DEFAULT_LIFETIME, FAMILY):
        table.clear()
    for lst in (KNOWN_COOKIES, FILE_PROFILES, REDIS_PROFILES, STRING_KEYS, VALUE_SNIFFERS):
        lst.clear()
    for fw in REGISTRY.values():
        if fw.cookie_names:
            PROFILE_COOKIES[fw.name] = fw.cookie_names
            KNOWN_COOKIES.extend(c for c in fw.cookie_names if c not in KNOWN_COOKIES)
        DEFAULT_LIFETIME[fw.name] = fw.default_lifetime_s
        FAMILY[fw.name] = fw.family
        (FILE_PROFILES if fw.medium == "files" else REDIS_PROFILES).append(fw.name)
        if fw.redis is not None and not fw.redis.hashes:
            STRING_KEYS.append((fw.redis.gate, fw.redis.key_len, fw.redis.key_re, fw.name))
        if fw.sniff_value is not None and fw.medium == "redis":
            VALUE_SNIFFERS.append((fw.name, fw.sniff_value))
    gates = [re.escape(e[0]) for e in STRING_KEYS if e[0]]
    STRING_GATES["any"] = re.compile(b"|".join(gates)) if gates else None
    STRING_GATES["ungated"] = [e for e in STRING_KEYS if not e[0]]
    words: list[bytes] | None = []
    for fw in REGISTRY.values():
        if fw.sniff_value is None or fw.medium != "redis" or words is None:
            continue
        if fw.sniff_key_words is None:
            words = None
        else:
            words += [w for w in fw.sniff_key_words if w not in words]
    SNIFF_KEY["words"] = tuple(words) if words is not None else None
    SNIFF_KEY["memo"] = {}
    KNOWN_COOKIES.extend(c for c in _OTHER_COOKIES if c not in KNOWN_COOKIES)


def register(fw: Framework) -> None:
    """Add a profile (before `generic`, which takes what nothing else names)."""
    if fw.name in REGISTRY:
        raise ValueError(f"profile {fw.name!r} is already registered")
    if (fw.redis is None) == (fw.files is None) and fw.name != "generic":
        raise ValueError(f"{fw.name}: a profile has a Redis key pattern or a file layout")
    items = [f for f in REGISTRY.values() if f.name != "generic"] + [fw]
    if "generic" in REGISTRY:
        items.append(REGISTRY["generic"])
    REGISTRY.clear()
    REGISTRY.update((f.name, f) for f in items)
    _rebuild()


def unregister(name: str) -> None:
    REGISTRY.pop(name)
    _rebuild()


@contextmanager
def registered(fw: Framework) -> Iterator[Framework]:
    """A profile present for the duration of a block (tests: a framework added on the seam)."""
    register(fw)
    try:
        yield fw
    finally:
        unregister(fw.name)


def get(name: str) -> Framework:
    """The profile of that name; KeyError when there is none."""
    return REGISTRY[name]


def session_decoder(profile: str) -> Decoder:
    """bytes -> [{"key": typed, "value": typed}] for a profile; raises DecodeError on bad input."""
    fw = REGISTRY.get(profile)
    if fw is None:
        raise UsageError(f"no session decoder for profile {profile!r}")
    return fw.decoder()


def emptiness_check(profile: str) -> Callable[[bytes], bool]:
    """bytes -> True when the session holds nothing of the app's; raises DecodeError."""
    # Always a full decode: a cheap "is it the empty bytes?" test would call a truncated
    # payload non-empty instead of undecodable.
    decode = session_decoder(profile)
    is_empty = REGISTRY[profile].is_empty  # keys that do not make a session used
    return lambda data: bool(is_empty(data, decode(data)))


def for_cookie(cookie_name: str | None) -> Framework | None:
    """The first profile whose default cookie has that name."""
    if cookie_name:
        for fw in REGISTRY.values():
            if cookie_name in fw.cookie_names:
                return fw
    return None


def _framework_of(profile: str | None, cookie_name: str | None) -> Framework | None:
    fw = REGISTRY.get(profile or "")
    if fw is None or fw.name == "generic":
        fw = for_cookie(cookie_name)
    return fw


def sid_mapper(profile: str | None, cookie_name: str | None,
               secret: object = None) -> Callable[[bytes], str | None]:
    """cookie value -> the session id a store keeps, for one store profile and cookie.

    The profile's own mapping when it has one; otherwise the mapping of the framework whose
    cookie this is (logs without a store, `generic` stores); otherwise the value itself. A
    framework whose cookie only its app's secret opens maps nothing without `secret`.
    """
    fw = _framework_of(profile, cookie_name)
    if fw is None:
        return plain_sid
    keyed = fw.keyed_sid_from_cookie
    if keyed is not None:
        if secret is None:
            return lambda raw: None
        name = cookie_name or fw.cookie_names[0]
        return lambda raw: keyed(raw, secret, name)
    return fw.sid_from_cookie


def sid_from_cookie(raw: bytes, profile: str | None = None, cookie_name: str | None = None,
                    secret: object = None) -> str | None:
    """One cookie value mapped as `sid_mapper` does (loops should take the mapper once)."""
    return sid_mapper(profile, cookie_name, secret)(raw)


for _fw in _BUILTIN:
    REGISTRY[_fw.name] = _fw
_rebuild()
