"""Redis stores for `clients`: the store share of log orphans, and attribution by payload.

`session_lookup` maps a session cookie to the key its framework writes (docs/frameworks/)
and asks the server whether it is still there; `attribute_sessions` groups the store's
sessions by one attribute of their decoded payloads (`--client-attr username`). Both use
only read commands, on the node that owns the key when the target is a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator

from sessdiag import frameworks
from sessdiag.core.errors import DecodeError
from sessdiag.frameworks.base import SNIFFED, attribute_value, ns_key, ns_pattern
from sessdiag.stores.redis import profiles as P
from sessdiag.stores.redis.nodes import NodeConns
from sessdiag.stores.redis.resp import RedisConn, ReplyError
from sessdiag.stores.redis.target import RedisTarget

MAX_VALUE = 1 << 20  # a session payload read for its attributes; larger ones are skipped
MAX_GROUPS = 200
SPRING = ("spring-session", "spring-session-simple")
SCAN_COUNT = 1000


def session_key(profile: str, namespace: str, sid: str) -> bytes | None:
    """The key a framework stores session `sid` under, or None when the id cannot be one."""
    if not sid or any(c in sid for c in ":*?[] \n"):
        return None
    keys = frameworks.get(profile).redis
    return keys.key_for(namespace, sid) if keys is not None else ns_key(namespace, sid)


def _key_pattern(profile: str, namespace: str) -> bytes:
    keys = frameworks.get(profile).redis
    return keys.scan_pattern(namespace) if keys is not None else ns_pattern(namespace)


def _groups(report: dict) -> list[tuple[str, str]]:
    return [(g["profile"], g["namespace"]) for g in report.get("groups", [])
            if g.get("sessions")]


class RedisSessionLookup:
    """cookie value -> (payload bytes, memory bytes) of the session still in the store."""

    def __init__(self, target: RedisTarget, groups: list[tuple[str, str]], cookie_name: str,
                 secret: object = None) -> None:
        self.groups = groups
        # Each group's framework maps the cookie (Spring: base64, connect: signed id).
        self.mappers = [frameworks.sid_mapper(p, cookie_name, secret) for p, _ns in groups]
        self.nodes = NodeConns(target)
        self.memory = True

    def __call__(self, raw: bytes) -> tuple[int, int] | None:
        for (profile, ns), sid_of in zip(self.groups, self.mappers, strict=True):
            sid = sid_of(raw)
            if sid is None:
                continue
            key = session_key(profile, ns, sid)
            if key is None:
                continue
            hit = self._size(key, profile in SPRING)
            if hit is not None:
                return hit
        return None

    def _size(self, key: bytes, spring: bool) -> tuple[int, int] | None:
        c = self.nodes.for_key(key)
        if spring:
            flat = c.call("HGETALL", key)
            if not isinstance(flat, list) or not flat:
                return None
            size = sum(map(len, flat))
        else:
            n = c.call("STRLEN", key)
            if not isinstance(n, int) or (n == 0 and c.call("EXISTS", key) != 1):
                return None
            size = n
        mem = size
        if self.memory:
            m = c.call("MEMORY", "USAGE", key)
            if isinstance(m, int):
                mem = m
            elif isinstance(m, ReplyError):
                self.memory = False  # denied (ACL) or unknown: payload bytes stand in
        return size, mem

    def close(self) -> None:
        self.nodes.close()


def session_lookup(target: RedisTarget, report: dict, cookie_name: str,
                   secret: object = None) -> RedisSessionLookup | None:
    groups = _groups(report)
    if not groups or not cookie_name:
        return None
    return RedisSessionLookup(target, groups, cookie_name, secret)


def _owner(entries: list[dict], attr: str) -> str | None:
    # Spring keeps attribute `x` in the hash field `sessionAttr:x`.
    return attribute_value(entries, attr, f"sessionAttr:{attr}")


def attribute_sessions(target: RedisTarget, report: dict, attr: str) -> list[dict]:
    """Rows like the file store's: one per value of `attr`, plus "(unattributed)"."""
    groups: dict[str, list[int]] = {}
    un = [0, 0, 0, 0]  # sessions, bytes, empty, undecodable
    nodes = NodeConns(target)
    try:
        for profile, ns in _groups(report):
            spring = profile in SPRING
            for c in nodes.all():
                for key in _scan(c, _key_pattern(profile, ns)):
                    kind, prof, kns = P.classify(key)
                    if kns != ns or (prof != profile and not (spring and prof in SPRING)):
                        continue
                    if spring and kind != P.SPRING:
                        continue
                    owner, size, empty = _read(c, key, profile, spring, attr, un)
                    if size is None:
                        continue
                    if owner is None:
                        un[0] += 1
                        un[1] += size
                        un[2] += int(empty)
                        continue
                    g = groups.get(owner)
                    if g is None:
                        owner = owner if len(groups) < MAX_GROUPS else "(other values)"
                        g = groups.setdefault(owner, [0, 0])
                    g[0] += 1
                    g[1] += size
    finally:
        nodes.close()
    total = report.get("sessions") or 0
    rows = [{"client": f"{attr}={k}", "sessions": v[0], "orphans": 0, "bytes": v[1],
             "share_of_sessions": round(v[0] / total, 6) if total else None,
             "source": "payload"} for k, v in groups.items()]
    rows.append({"client": "(unattributed)", "sessions": un[0], "orphans": un[2],
                 "bytes": un[1], "share_of_sessions": round(un[0] / total, 6) if total else None,
                 "undecodable": un[3], "source": "payload",
                 "note": f"sessions without {attr!r}; orphans = empty or never-reused ones"})
    return rows


def _scan(c: RedisConn, pattern: bytes) -> Iterator[bytes]:
    cursor = b"0"
    while True:
        reply = c.call("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)
        if not isinstance(reply, list) or len(reply) != 2:
            return
        cursor, keys = reply
        yield from keys
        if cursor in (b"0", 0):
            return


def _read(c: RedisConn, key: bytes, profile: str, spring: bool, attr: str,
          un: list[int]) -> tuple[str | None, int | None, bool]:
    """(owner, payload bytes, empty) of one session key; size None when it went away."""
    if spring:
        flat = c.call("HGETALL", key)
        if not isinstance(flat, list) or not flat:
            return None, None, False
        f = P.SpringFacts(flat)
        size = sum(map(len, flat))
        never_reused = f.created_ms is not None and f.created_ms == f.last_ms
        if attr in ("principal", "PRINCIPAL_NAME_INDEX_NAME") and f.principal:
            return str(f.principal), size, never_reused
        try:
            return _owner(P.decode_spring_hash(flat), attr), size, never_reused
        except DecodeError:
            un[3] += 1
            return None, size, never_reused
    n = c.call("STRLEN", key)
    if not isinstance(n, int) or n > MAX_VALUE:
        return None, (n if isinstance(n, int) else None), False
    v = c.call("GET", key)
    if not isinstance(v, bytes):
        return None, None, False
    try:
        fw = frameworks.get(profile)  # a fixed encoding (Laravel's), else what the bytes say
        entries = fw.decoder()(v) if fw.decode != SNIFFED else P.decode_string_session(v)
    except DecodeError:
        un[3] += 1
        return None, len(v), False
    return _owner(entries, attr), len(v), bool(P.string_empty(profile, v, entries))
