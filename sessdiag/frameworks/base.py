"""What sessdiag knows about one framework's sessions, as plain data plus small pure functions.

A `Framework` is one store profile (docs/frameworks/: `beego-file`, `connect-redis`, …):
its cookie and how a cookie value maps to the id the store keeps, its default lifetime, where
the store keeps a session (Redis key pattern or file layout), how the payload decodes, what an
"empty" session is, and the fix to suggest when a route mints sessions nobody presents back.
Nothing here does I/O: stores read media, this layer only interprets names and bytes.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from sessdiag.codecs import contained

Decoder = Callable[[bytes], list[dict]]
CookieToSid = Callable[[bytes], "str | None"]

# Payload keys that name the user, where frameworks keep one (Django, Flask-Login, PHP apps,
# express/passport, Rails/warden): `principal` columns and --client-attr fallbacks.
PRINCIPAL_KEYS: Final = ("_auth_user_id", "_user_id", "user_id", "uid", "userId",
                         "warden.user.user.key")

# A decoder named by "module:function", imported on first use: a plain file scan must not pay
# for the import of every codec, and the hot loops take the resolved function once.
SNIFFED = ""  # `decode` for Redis string values whose encoding is recognised from its bytes


def unquote_cookie(value: bytes) -> bytes:
    return unquote_to_bytes(value) if b"%" in value else value


def plain_sid(raw: bytes) -> str | None:
    """The cookie value is the id (beego, PHP, Flask, Django, Rails' public id)."""
    try:
        return unquote_cookie(raw).decode("ascii")
    except UnicodeDecodeError:
        return None


def resolve(path: str) -> Decoder:
    mod, _, name = path.partition(":")
    fn: Decoder = getattr(importlib.import_module(mod), name)
    return fn


@dataclass(frozen=True)
class RedisKeys:
    """Where a framework keeps its sessions in Redis.

    `key_re` matches a session key: group 1 is the namespace (None or "" for bare keys),
    group 2 the id part. `gate` is a substring every such key holds, tested before the regex
    (the scanner classifies every key of the keyspace); `key_len` an exact length, or 0.
    """

    key_re: re.Pattern[bytes]
    gate: bytes
    key_for: Callable[[str, str], bytes]  # (namespace, session id from the cookie) -> key
    scan_pattern: Callable[[str], bytes]  # namespace -> SCAN MATCH pattern of its session keys
    default_prefixes: tuple[str, ...] = ()  # tried by `inspect` for a bare id
    key_len: int = 0
    hashes: bool = False  # sessions are hashes (Spring), not strings


def ns_key(namespace: str, sid: str) -> bytes:
    """`<namespace>:<sid>`, or the bare id without a namespace (most string stores)."""
    return f"{namespace}:{sid}".encode() if namespace else sid.encode()


def escape_glob(s: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in s)


def ns_pattern(namespace: str) -> bytes:
    return f"{escape_glob(namespace)}:*".encode() if namespace else b"*"


@dataclass(frozen=True)
class TreeSample:
    """A bounded sample of a directory tree, for layout detection (filled by stores/files).

    `top`: (name, is_file) of the first entries of the root. `shards`: for up to 24
    one-character directories d1 of the root, (d1, its entries, and for up to 4 one-character
    directories d2 in it: (d2, its entries, `chains`)). A chain follows one-character
    directories below a one-character entry of d2: [(depth, names of regular files there)].
    """

    top: list[tuple[str, bool]]
    shards: list[tuple[str, list[tuple[str, bool]],
                       list[tuple[str, list[tuple[str, bool]], list[list[tuple[int, list[str]]]]]]]]


Votes = dict[int, int]  # shard depth -> sampled files that fit a layout at that depth


@dataclass(frozen=True)
class FileLayout:
    """How a framework lays sessions out under a directory."""

    depth: int  # shard levels between root and a session file (the default when it varies)
    prefix: str  # file-name prefix before the id ("sess_" for PHP)
    sid_pattern: str
    empty_sizes: frozenset[int]  # payload sizes that are exactly "no attributes"
    vote: Callable[[TreeSample, re.Pattern[str]], Votes]  # (sample, name regex) -> votes
    describe: Callable[[int], str]  # depth -> one line for reports
    variable_depth: bool = False  # the depth is a setting of the app (PHP's "N;/path")
    # No payload size tells "empty" (Laravel): a scan decodes every payload to count them.
    decode_for_empty: bool = False


@dataclass(frozen=True)
class Framework:
    """One store profile of one framework: everything sessdiag knows about it."""

    name: str  # the profile name of docs/frameworks/ (target.profile, groups[].profile)
    family: str  # the framework, as reports name it ("Spring Session", "beego")
    medium: str  # "files" or "redis": the store kind this profile lives in
    cookie_names: tuple[str, ...] = ()  # the first is the framework's default
    sid_from_cookie: CookieToSid = plain_sid
    # For cookies only the app's secret opens (Laravel encrypts with APP_KEY):
    # (raw value, secret, cookie name) -> id. Used instead of `sid_from_cookie` when set.
    keyed_sid_from_cookie: Callable[[bytes, Any, str], str | None] | None = None
    # False when one session's cookie value differs from response to response (Laravel
    # re-encrypts it each time): access logs are then compared by sid_from_cookie() ids.
    stable_cookie: bool = True
    default_lifetime_s: int | None = None
    decode: str = SNIFFED  # "module:function" -> bytes -> entries; SNIFFED for Redis strings
    empty_values: frozenset[bytes] = frozenset()  # exact payloads that hold nothing
    empty_by_bytes_only: bool = False  # only those (or b"") are empty: no decode needed
    trivial_keys: frozenset[str] = frozenset()  # keys that do not make a session "used"
    principal_keys: tuple[str, ...] = PRINCIPAL_KEYS
    redis: RedisKeys | None = None
    files: FileLayout | None = None
    # Recognise a session of this framework by its value alone (keys no pattern names):
    # (lower-cased key, first bytes, sniffed format) -> bool.
    sniff_value: Callable[[bytes, bytes, str], bool] | None = None
    # The substrings of the lower-cased key `sniff_value` reads: its answer depends on the key
    # only through which of them the key holds (() for a sniffer that ignores the key). With
    # every sniffer's words declared, the scanner remembers the answer per (head, words held);
    # None (unknown) keeps every sniffer running for every key.
    sniff_key_words: tuple[bytes, ...] | None = None
    orphans: str = "sessions that hold no attributes"  # what "orphan" means here
    orphan_fix: str = ""  # the fix to suggest for routes that mint orphan sessions
    orphan_fix_doc: str = ""  # the framework documentation the fix was checked against
    _decoder: list[Decoder] = field(default_factory=list, compare=False, repr=False)

    def decoder(self) -> Decoder:
        """The payload decoder (bytes -> entries; DecodeError on bad input), imported once."""
        if not self._decoder:
            name = self.decode
            if name == SNIFFED:
                name = "sessdiag.frameworks.values:decode_sniffed"
            self._decoder.append(contained(resolve(name)))
        return self._decoder[0]

    def is_empty(self, v: bytes, entries: list[dict] | None) -> bool | None:
        """Does this payload hold nothing? None when only a decode can tell."""
        if not v or v in self.empty_values:
            return True
        if entries is None:
            if self.empty_by_bytes_only or len(v) > 512:
                return False
            return None
        trivial = self.trivial_keys
        for e in entries:
            k = e.get("key", {}).get("value")
            if not (isinstance(k, str) and k in trivial):
                return False
        return True

    def principal(self, entries: list[dict]) -> str | None:
        """A user id from decoded entries, where the framework keeps one."""
        keys = self.principal_keys
        for e in entries:
            k = e.get("key", {}).get("value")
            if k in keys:
                v = e.get("value", {}).get("value")
                if isinstance(v, str | int) and not isinstance(v, bool):
                    return str(v)
        return None


def attribute_value(entries: list[dict], *keys: str) -> str | None:
    """The value of the first decoded entry named one of `keys`, as text (--client-attr)."""
    for e in entries:
        if e.get("key", {}).get("value") in keys:
            v = e.get("value", {}).get("value")
            return v if isinstance(v, str) else str(v)
    return None
