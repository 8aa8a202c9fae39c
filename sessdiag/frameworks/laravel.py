"""Laravel: file sessions and Redis sessions, and the encrypted `laravel_session` cookie.

Read from Laravel 8.83 (Debian's php-laravel-framework) and checked on a real app, see
tools/capture/laravel and fixtures/laravel:

- `laravel-files`: `storage/framework/sessions/<id>`, flat, the id 40 characters of
  [A-Za-z0-9] (`Str::random(40)`), the payload `serialize($attributes)`, mtime = last write
  (every request writes the session).
- `laravel-redis` (and any cache-backed driver on Redis): the cache store keeps the session
  under `<REDIS_PREFIX><CACHE_PREFIX>:<id>` — `laravel_database_laravel_cache:<id>` with the
  defaults — as `serialize()` of the serialized session string, with the lifetime as TTL,
  refreshed (SETEX) by every request.
- Every request in the `web` middleware group starts a session and writes it, so a client
  that never keeps the cookie leaves one session per request, holding only what StartSession
  puts there (`_token`, `_previous`, `_flash`): that is an uninitialised session here.
- On login the SessionGuard migrates the session to a new id and destroys the old one.

- The cookie is encrypted with the app's APP_KEY (`EncryptCookies`): base64 of a JSON
  envelope `{"iv", "value", "mac", "tag"}`; AES-256-CBC (AES-128 for a 16-byte key) with an
  HMAC-SHA256 over base64(iv) + base64(ciphertext), or AES-GCM with `tag` and an empty `mac`.
  The plaintext is `hash_hmac('sha1', '<cookie name>v2', key) . '|' . <id>`: a 41-character
  prefix, then the 40-character id. A fresh IV on every response, so the raw value changes
  while the id does not.
- The key is never printed: `AppKey` hides it from repr/str, and errors never quote it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from sessdiag.core.errors import UsageError
from sessdiag.frameworks.base import (
    PRINCIPAL_KEYS,
    FileLayout,
    Framework,
    RedisKeys,
    TreeSample,
    Votes,
    ns_key,
    ns_pattern,
)

COOKIE = "laravel_session"
SID = r"[A-Za-z0-9]{40}"
SID_RE = re.compile(SID)
PREFIX_LEN = 41
LIFETIME_S = 120 * 60  # config/session.php 'lifetime' => 120 (minutes)


class AppKeyError(UsageError):
    """A bad APP_KEY or .env file (the message never holds the key)."""


@dataclass(frozen=True)
class AppKey:
    """The app's encryption key. Its bytes never appear in repr, str or error messages."""

    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) not in (16, 32):
            raise AppKeyError(f"APP_KEY must be 16 or 32 bytes, not {len(self.key)}")

    def __str__(self) -> str:
        return f"AppKey(<{len(self.key)} bytes>)"

    __repr__ = __str__

    @classmethod
    def parse(cls, text: str) -> AppKey:
        """An APP_KEY value as Laravel takes it: `base64:<32 bytes in base64>`, or raw."""
        text = text.strip()
        if text.startswith("base64:"):
            try:
                key = base64.b64decode(text[7:], validate=True)
            except (binascii.Error, ValueError):
                raise AppKeyError("APP_KEY 'base64:…' is not valid base64") from None
        else:
            key = text.encode()
        return cls(key)


def read_dotenv(path: str) -> dict[str, str]:
    """The KEY=VALUE pairs of a Laravel .env file (quotes, `export`, comments)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read(1 << 20)
    except OSError as exc:
        raise AppKeyError(f"cannot read {path}: {exc.strerror}") from None
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        name, eq, value = line.partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name.strip()):
            continue
        value = value.strip()
        if value[:1] in ("'", '"'):
            q = value[0]
            end = value.find(q, 1)
            value = value[1:end] if end > 0 else value[1:]
        else:
            value = value.split(" #", 1)[0].strip()
        out[name.strip()] = value
    return out


def key_from_dotenv(path: str) -> AppKey:
    env = read_dotenv(path)
    if not env.get("APP_KEY"):
        raise AppKeyError(f"{path} has no APP_KEY")
    return AppKey.parse(env["APP_KEY"])


def slug(title: str, sep: str = "_") -> str:
    """Laravel's `Str::slug($title, '_')` for ASCII-transliterable names."""
    title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    title = title.replace("-" if sep == "_" else "_", sep)
    title = title.replace("@", f"{sep}at{sep}")
    title = re.sub(rf"[^{re.escape(sep)}a-z0-9\s]+", "", title.lower())
    title = re.sub(rf"[{re.escape(sep)}\s]+", sep, title)
    return title.strip(sep)


def cookie_name_from_env(env: dict[str, str]) -> str:
    """config/session.php: SESSION_COOKIE, else `Str::slug(APP_NAME, '_') . '_session'`."""
    if env.get("SESSION_COOKIE"):
        return env["SESSION_COOKIE"]
    return slug(env.get("APP_NAME") or "laravel") + "_session"


def redis_namespace_from_env(env: dict[str, str]) -> str:
    """The Redis key prefix of the session keys (without the final ':'), as config sets it:
    REDIS_PREFIX (default `<app>_database_`) + CACHE_PREFIX (default `<app>_cache`)."""
    app = slug(env.get("APP_NAME") or "laravel")
    redis_prefix = env.get("REDIS_PREFIX", f"{app}_database_")
    cache_prefix = env.get("CACHE_PREFIX", f"{app}_cache")
    return redis_prefix + cache_prefix


def _b64(s: object) -> bytes | None:
    """PHP's lenient base64_decode: skip characters outside the alphabet."""
    if not isinstance(s, str):
        return None
    try:
        return base64.b64decode(re.sub(r"[^A-Za-z0-9+/]", "", s) + "==")
    except (binascii.Error, ValueError):
        return None


def decrypt(raw: bytes, key: AppKey) -> bytes | None:
    """A Laravel-encrypted value (as a cookie carries it) -> the plaintext, or None.

    The MAC (CBC) or the tag (GCM) is checked before anything is decrypted; a value that
    fails it, or is not an envelope at all, gives None.
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if b"%" in raw:
        raw = unquote_to_bytes(raw)
    try:
        envelope = json.loads(base64.b64decode(raw + b"=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(envelope, dict):
        return None
    iv_b64, value_b64 = envelope.get("iv"), envelope.get("value")
    iv, ct = _b64(iv_b64), _b64(value_b64)
    if iv is None or ct is None or not isinstance(envelope.get("mac"), str):
        return None
    k = key.key
    tag = _b64(envelope.get("tag")) if envelope.get("tag") else None
    if tag:  # AES-GCM: the tag authenticates
        if len(tag) != 16 or len(iv) != 12:
            return None
        try:
            return AESGCM(k).decrypt(iv, ct + tag, None)
        except InvalidTag:
            return None
    if len(iv) != 16 or not ct or len(ct) % 16:
        return None
    mac = hmac.new(k, (str(iv_b64) + str(value_b64)).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, envelope["mac"]):
        return None
    dec = Cipher(algorithms.AES(k), modes.CBC(iv)).decryptor()
    padded = dec.update(ct) + dec.finalize()
    pad = padded[-1]
    if not 1 <= pad <= 16 or padded[-pad:] != bytes([pad]) * pad:
        return None
    return padded[:-pad]


def cookie_prefix(cookie_name: str, key: AppKey) -> bytes:
    """`CookieValuePrefix::create`: hash_hmac('sha1', name . 'v2', key) . '|' (41 chars)."""
    return hmac.new(key.key, (cookie_name + "v2").encode(), hashlib.sha1).hexdigest().encode() \
        + b"|"


def sid_from_cookie(raw: bytes, key: AppKey, cookie_name: str = COOKIE) -> str | None:
    """The session id an encrypted `laravel_session` cookie carries, or None.

    Laravel >= 6.18.31/7.22 prefixes the id with `cookie_prefix` and ignores a cookie whose
    prefix is wrong (a value moved from another cookie); older versions serialized the id
    (`s:40:"<id>";`). The id must be what Laravel accepts (`Store::isValidId`: 40 alnum).
    """
    plain = decrypt(raw, key)
    if plain is None:
        return None
    if plain.startswith(cookie_prefix(cookie_name, key)):
        sid = plain[PREFIX_LEN:]
    else:
        m = re.fullmatch(rb's:40:"([A-Za-z0-9]{40})";', plain)
        if not m:
            return None
        sid = m[1]
    text = sid.decode("ascii", "replace")
    return text if SID_RE.fullmatch(text) else None


# --- payloads

# What StartSession puts in every session by itself: a session holding only these was
# never used for anything (a visit that never logged in nor stored a thing).
TRIVIAL_KEYS = frozenset({"_token", "_previous", "_flash"})
_OUTER = re.compile(rb's:(\d+):"', re.S)


def decode_file_payload(data: bytes) -> list[dict]:
    """A file session: `serialize($attributes)`, one PHP array -> entries."""
    from sessdiag.codecs.phpser import decode_serialized

    if data.startswith(b"eyJpdiI6"):
        raise _decode_error("encrypted session payload (config session.encrypt = true)")
    v = decode_serialized(data)
    if v.get("type") != "array":
        raise _decode_error(f"a Laravel session is a PHP array, not {v.get('type')}")
    items = v["value"]
    if isinstance(items, dict):
        return [{"key": {"type": "string", "value": k}, "value": val}
                for k, val in items.items()]
    return list(items)


def unwrap_cache_value(data: bytes) -> bytes:
    """The cache store's `serialize()` around the session string -> that string's bytes."""
    m = _OUTER.match(data)
    if not m or len(m[1]) > 12:
        raise _decode_error("not a PHP-serialized string (the cache layer's wrapping)")
    n, start = int(m[1]), m.end()
    if data[start + n:] != b'";':
        raise _decode_error("string length does not match the data")
    return data[start:start + n]


def decode_redis_payload(data: bytes) -> list[dict]:
    """A Redis session: the cache store serializes the serialized session again."""
    return decode_file_payload(unwrap_cache_value(data))


def _decode_error(msg: str) -> Exception:
    from sessdiag.core.errors import DecodeError

    return DecodeError(msg)


# --- the profiles

# The SessionGuard keeps the user id under login_<guard>_<sha1 of its class name>.
LOGIN_KEY = "login_web_" + hashlib.sha1(b"Illuminate\\Auth\\SessionGuard").hexdigest()
# Checked against Laravel's routing docs: routes/web.php is in the `web` middleware group,
# "which provides session state"; routes/api.php routes "are stateless".
FIX = ("every route in Laravel's `web` middleware group starts and saves a session: move "
       "health checks, webhooks and machine endpoints out of it (routes/api.php, or a group "
       "without `web`), and have API clients authenticate with tokens, not the session cookie")
FIX_DOC = "https://laravel.com/docs/8.x/routing#the-default-route-files"
ORPHANS = ("uninitialised sessions: nothing but what StartSession puts in every session "
           "(_token, _previous, _flash)")
# A cache key that is a sha1 hex digest (the rate limiter's, cache tags') is 40 characters
# too, but a Str::random(40) id is all lower-case hex with probability (16/62)^40.
_REDIS_KEY = re.compile(rb"^(.+):((?![0-9a-f]{40}$)[A-Za-z0-9]{40})$", re.S)
_ID_BYTES = re.compile(rb"[A-Za-z0-9]{40}")


def keyed_sid(raw: bytes, secret: object, cookie_name: str) -> str | None:
    """The seam's keyed mapping: a cookie value (or an id already taken from one, as access
    logs are compared by id) -> the session id, with the app's key."""
    if len(raw) == 40 and _ID_BYTES.fullmatch(raw):
        return raw.decode("ascii")
    if not isinstance(secret, AppKey):
        return None
    return sid_from_cookie(raw, secret, cookie_name)


def _vote(sample: TreeSample, name_re: re.Pattern[str]) -> Votes:
    """Files named by a 40-character id right in the directory (no shards, no prefix)."""
    n = sum(1 for name, is_file in sample.top if is_file and name_re.fullmatch(name))
    return {0: n} if n else {}


FILES = Framework(
    name="laravel-files", family="Laravel", medium="files", cookie_names=(COOKIE,),
    keyed_sid_from_cookie=keyed_sid, stable_cookie=False,
    default_lifetime_s=LIFETIME_S, decode="sessdiag.frameworks.laravel:decode_file_payload",
    trivial_keys=TRIVIAL_KEYS, principal_keys=(LOGIN_KEY, *PRINCIPAL_KEYS),
    # No payload size means "empty": whether a session holds only StartSession's keys
    # takes a decode, so a scan decodes every payload.
    files=FileLayout(depth=0, prefix="", sid_pattern=SID, empty_sizes=frozenset(),
                     vote=_vote, describe=lambda depth: "Laravel file sessions: ROOT/<id>",
                     decode_for_empty=True),
    sniff_value=lambda low, head, fmt: head[:2] == b"a:",  # serialize() of the attribute array
    orphans=ORPHANS, orphan_fix=FIX, orphan_fix_doc=FIX_DOC,
)

REDIS = Framework(
    name="laravel-redis", family="Laravel", medium="redis", cookie_names=(COOKIE,),
    keyed_sid_from_cookie=keyed_sid, stable_cookie=False,
    default_lifetime_s=LIFETIME_S, decode="sessdiag.frameworks.laravel:decode_redis_payload",
    trivial_keys=TRIVIAL_KEYS, principal_keys=(LOGIN_KEY, *PRINCIPAL_KEYS),
    redis=RedisKeys(key_re=_REDIS_KEY, gate=b"_cache", key_for=ns_key, scan_pattern=ns_pattern,
                    default_prefixes=("laravel_database_laravel_cache:", "laravel_cache:")),
    orphans=ORPHANS, orphan_fix=FIX, orphan_fix_doc=FIX_DOC,
)


@dataclass(frozen=True)
class AppSettings:
    """What `--app-key`/`--app-env` give: the key (never shown) and the app's settings."""

    key: AppKey | None = field(default=None, repr=False)
    cookie_name: str | None = None  # from the .env's SESSION_COOKIE or APP_NAME
    lifetime_s: int | None = None  # the .env's SESSION_LIFETIME (Laravel's default if unset)
    namespace: str | None = None  # the Redis key prefix the .env implies
    notes: tuple[str, ...] = ()


def load_app(app_key: str | None = None, app_env: str | None = None) -> AppSettings:
    """The key (`--app-key` text, else the .env's APP_KEY) and the .env's settings."""
    if not app_key and not app_env:
        return AppSettings()
    env = read_dotenv(app_env) if app_env else {}
    if app_key:
        key = AppKey.parse(app_key)
    elif env.get("APP_KEY"):
        key = AppKey.parse(env["APP_KEY"])
    else:
        raise AppKeyError(f"{app_env} has no APP_KEY")
    if not env:
        return AppSettings(key)
    notes = []
    raw = env.get("SESSION_LIFETIME", "")
    lifetime = int(raw) * 60 if raw.isdigit() and int(raw) > 0 else LIFETIME_S
    if not raw.isdigit():
        notes.append(f"{app_env} sets no SESSION_LIFETIME: Laravel's default, 120 min")
    return AppSettings(key, cookie_name_from_env(env), lifetime, redis_namespace_from_env(env),
                       tuple(notes))
