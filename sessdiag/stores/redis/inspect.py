"""`sessdiag inspect redis://… KEY`: one session key decoded, read-only.

KEY is a full key name, or a bare session id tried under each framework's default prefix.
"""

from __future__ import annotations

from typing import Any

from sessdiag.core.errors import DecodeError, UsageError
from sessdiag.core.timefmt import iso
from sessdiag.frameworks import REGISTRY
from sessdiag.frameworks.base import SNIFFED
from sessdiag.stores.redis import profiles as P
from sessdiag.stores.redis.nodes import NodeConns
from sessdiag.stores.redis.resp import RedisConn, ReplyError
from sessdiag.stores.redis.target import parse_target

INSPECT_SCHEMA = "sessdiag.inspect/1"
MAX_INSPECT = 64 * 1024 * 1024


def default_prefixes() -> list[str]:
    """The key prefixes each registered framework uses by default, for a bare session id."""
    return [p for fw in REGISTRY.values() if fw.redis is not None
            for p in fw.redis.default_prefixes]


def _iso_ms(v: int | None) -> str | None:
    """Spring and connect-redis record epoch milliseconds."""
    return None if v is None else iso(v / 1000)


def inspect_redis(url: str, key: str, *, password_env: str | None = None,
                  profile: str | None = None) -> dict:
    if not key or "\n" in key or len(key) > 4096:
        raise UsageError(f"not a key: {key[:40]!r}")
    target = parse_target(url, password_env)
    nodes: NodeConns | None = None
    try:
        nodes = NodeConns(target)
        candidates = [key.encode()] + [(p + key).encode() for p in default_prefixes()
                                       if p and not key.startswith(p)]
        for k in candidates:
            c = nodes.for_key(k)
            typ = c.call("TYPE", k)
            if typ != b"none":
                return _decode_key(c, k, typ.decode(), target.location, profile)  # type: ignore[union-attr]
        raise UsageError(f"no key {key!r} in {target.location} (also tried the default "
                         "prefixes of each framework)")
    finally:
        if nodes is not None:
            nodes.close()


def _decode_key(c: RedisConn, k: bytes, typ: str, location: str, profile: str | None) -> dict:
    kind, prof, ns = P.classify(k)
    pttl = c.call("PTTL", k)
    out: dict[str, Any] = {"schema": INSPECT_SCHEMA, "sid": _sid(k, ns, kind, prof),
                           "key": k.decode("utf-8", "replace"), "location": location,
                           "type": typ, "ttl_s": (pttl / 1000 if isinstance(pttl, int)
                                                  and pttl >= 0 else None)}
    if typ == "hash":
        flat = c.call("HGETALL", k)
        assert isinstance(flat, list)
        if profile is None and kind == P.SPRING:
            # Only the indexed repository writes a shadow "expires" key beside each session.
            shadow = f"{ns}:sessions:expires:{out['sid']}".encode()
            profile = "spring-session" if c.call("EXISTS", shadow) == 1 else \
                "spring-session-simple"
        out["profile"] = profile or "generic"
        out["namespace"] = ns
        out["size"] = sum(map(len, flat))
        try:
            entries = P.decode_spring_hash(flat)
        except DecodeError as exc:
            raise UsageError(f"{out['key']}: not a decodable session: {exc}") from exc
        f = P.SpringFacts(flat)
        out.update({"format": f.fmt, "created": _iso_ms(f.created_ms),
                    "last_access": _iso_ms(f.last_ms), "max_inactive_s": f.max_inactive,
                    "never_reused": f.created_ms is not None and f.created_ms == f.last_ms})
        out["empty"] = f.empty
        out["entries"] = entries
        return out
    if typ != "string":
        raise UsageError(f"{out['key']} is a {typ}, not a session (hash or string)")
    n = c.call("STRLEN", k)
    if isinstance(n, int) and n > MAX_INSPECT:
        raise UsageError(f"{out['key']} holds {n} bytes, more than any session should")
    v = c.call("GET", k)
    if isinstance(v, ReplyError) or not isinstance(v, bytes):
        raise UsageError(f"{out['key']}: cannot read the value")
    fmt = P.sniff(v)
    if kind == P.UNKNOWN:
        prof = "generic"
        ns = P.namespace_of(k)
    out.update({"profile": profile or prof, "namespace": ns, "size": len(v), "format": fmt})
    fw = REGISTRY.get(out["profile"])
    try:  # a profile that fixes its encoding (Laravel's double serialize) decodes its own
        entries = (fw.decoder()(v) if fw is not None and fw.decode != SNIFFED
                   else P.decode_string_session(v, fmt))
    except DecodeError as exc:
        raise UsageError(f"{out['key']}: not a valid {out['profile']} session payload "
                         f"({fmt}): {exc}") from exc
    empty = P.string_empty(out["profile"], v, entries)
    out["empty"] = bool(empty)
    if out["profile"] == "connect-redis" and fmt == "json":
        cf = P.CookieFacts(v)
        out["cookie_expires"] = _iso_ms(int(cf.expires * 1000)) if cf.expires else None
        out["original_max_age_s"] = cf.original_max_age
    out["entries"] = entries
    return out


def _sid(k: bytes, ns: str, kind: int, profile: str) -> str:
    """The session id a key holds (what the cookie carries, or rack's private id): the id
    group of the profile's key pattern (Django's ids follow the prefix without a ':')."""
    fw = REGISTRY.get(profile)
    m = fw.redis.key_re.match(k) if fw is not None and fw.redis is not None else None
    if m is not None and kind != P.SHADOW:
        return m.group(2).decode("utf-8", "replace")
    s = k.decode("utf-8", "replace")
    i = s.rfind(":")
    return s[i + 1:] if i >= 0 else s
