"""A keyspace with every framework's sessions, live and leaked, and the leaks it holds.

Spring (JDK and JSON values) is written by the repositories' own command stream
(spring_data.SpringWriter); the string frameworks are the committed captures of the real
apps (fixtures/redis/*.json, fixtures/laravel/redis/redis.json) and real beego's values
(fixtures/beego-real/redis), replayed byte for byte. Ages Redis measures itself (OBJECT
IDLETIME) are set with `RESTORE … IDLETIME n`, so no test waits for a key to age.

Every leak is far from any edge (hours or days past its end), so the expected sets hold
whatever the moment the test runs.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import redis
from spring_data import PRINCIPAL_INDEX, SpringWriter

REPO = Path(__file__).resolve().parents[2]
CAPTURES = REPO / "fixtures" / "redis"
MIN = 60_000
LOCK = b"sessdiag:prune:lock"


@dataclass
class World:
    leaks: set[bytes] = field(default_factory=set)  # session keys a prune deletes
    companions: set[bytes] = field(default_factory=set)  # companion keys it deletes
    dead_members: set[tuple[bytes, bytes]] = field(default_factory=set)  # (index, member)
    fix_ttl: set[bytes] = field(default_factory=set)  # live sessions without a TTL
    idle: dict[bytes, int] = field(default_factory=dict)  # key -> idle seconds to keep
    live_spring: list[str] = field(default_factory=list)
    spring_leaks: list[str] = field(default_factory=list)


def restore_idle(r: redis.Redis, key: bytes, value: bytes, ttl_s: int | None, idle: int) -> None:
    r.set(key, value)
    dump = r.dump(key)
    r.delete(key)
    r.execute_command("RESTORE", key, (ttl_s or 0) * 1000, dump, "IDLETIME", idle)


def reidle(r: redis.Redis, w: World) -> None:
    """Put back the idle times a read (DUMP for a snapshot) reset."""
    for key, idle in w.idle.items():
        dump, pttl = r.dump(key), r.pttl(key)
        if dump is None:
            continue
        r.execute_command("RESTORE", key, max(pttl, 0), dump, "REPLACE", "IDLETIME", idle)


def spring(r: redis.Redis, w: World, now_ms: int, ns: str = "spring:session",
           json_values: bool = False) -> None:
    sw = SpringWriter(r, ns=ns, json_values=json_values)
    for i in range(5):  # live, two logged in
        w.live_spring.append(sw.session(now_ms, now_ms - 7200_000, now_ms - 60_000,
                                        principal="alice" if i < 2 else None))
    for _ in range(2):  # expired 100 s ago: inside the repository's 5 minutes, not a leak
        sw.session(now_ms, now_ms - 4000_000, now_ms - 1800_000 - 100_000)
    sw.session(now_ms, now_ms - 86400_000, now_ms - 86400_000, max_inactive=-1)  # never ends

    def raw(last_ms: int, ttl_s: int | None) -> bytes:
        sid = str(uuid.uuid4())
        key = f"{ns}:sessions:{sid}".encode()
        r.hset(key, mapping=sw.session_fields(last_ms - 60_000, last_ms, 1800, None, None))
        if ttl_s:
            r.expire(key, ttl_s)
        return key
    for _ in range(3):  # expired 3 h ago, no TTL (spring-session #3357)
        k = raw(now_ms - 3 * 3600_000, None)
        w.leaks.add(k)
        w.spring_leaks.append(k.decode().rsplit(":", 1)[1])
    k = raw(now_ms - 3 * 3600_000, 30 * 86400)  # expired, TTL of a month
    w.leaks.add(k)
    w.spring_leaks.append(k.decode().rsplit(":", 1)[1])
    w.fix_ttl.add(raw(now_ms - 60_000, None))  # live, no TTL
    for _ in range(3):
        sid = sw.orphan_shadow()
        w.companions.add(f"{ns}:sessions:expires:{sid}".encode())
    stale = now_ms // MIN * MIN - 3600_000
    sw.expirations(stale, [str(uuid.uuid4())], ttl_s=None)  # spring-session #3477
    w.companions.add(f"{ns}:expirations:{stale}".encode())
    sw.expirations((now_ms // MIN + 31) * MIN, w.live_spring[:3], ttl_s=2100)
    for principal in ("carol", "alice"):
        dead = str(uuid.uuid4())
        sw.index_member(principal, dead)
        w.dead_members.add((f"{ns}:index:{PRINCIPAL_INDEX}:{principal}".encode(),
                            sw.text(dead)))


def replay(r: redis.Redis, w: World, doc: dict, lifetime: int | None) -> None:
    """Captured keys: the first without TTL and idle beyond the lifetime (a leak when the
    framework has a lifetime), the rest as captured."""
    for i, k in enumerate(doc["keys"]):
        key, value = k["key"].encode(), bytes.fromhex(k["value_hex"])
        if i == 0:
            idle = (lifetime or 86400) + 3600
            restore_idle(r, key, value, None, idle)
            w.idle[key] = idle
            if lifetime:
                w.leaks.add(key)
        else:
            restore_idle(r, key, value, k["ttl_s"] if k["ttl_s"] > 0 else None, 5)
            w.idle[key] = 5


def connect_redis(r: redis.Redis, w: World, now_ms: int) -> None:
    """The captured cookies ended in 2026-11: every one with a cookie.expires is past it,
    with a TTL or without. One live session in the same shape, and one without a TTL."""
    doc = json.loads((CAPTURES / "connect-redis.json").read_text())
    for i, k in enumerate(doc["keys"]):
        key, value = k["key"].encode(), bytes.fromhex(k["value_hex"])
        if json.loads(value)["cookie"]["expires"] is None:
            r.set(key, value, ex=3600)  # no maxAge: judged by idle time, and it is fresh
            continue
        r.set(key, value, ex=3600 if i % 2 else None)
        w.leaks.add(key)
    for ttl in (86400, None):
        v = json.loads(bytes.fromhex(doc["keys"][0]["value_hex"]))
        v["cookie"]["expires"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                               time.gmtime(now_ms / 1000 + 86400))
        v["cookie"]["originalMaxAge"] = 86400_000
        key = f"sess:{uuid.uuid4().hex[:32]}".encode()
        r.set(key, json.dumps(v, separators=(",", ":")).encode(), ex=ttl)
        if ttl is None:
            w.fix_ttl.add(key)


def build(r: redis.Redis, now_ms: int) -> World:
    w = World()
    spring(r, w, now_ms)
    spring(r, w, now_ms, ns="myapp", json_values=True)
    connect_redis(r, w, now_ms)
    for name, life in (("php-redis", 1440), ("flask-session-0.5", 2678400), ("rails", None)):
        replay(r, w, json.loads((CAPTURES / f"{name}.json").read_text()), life)
    laravel = json.loads((REPO / "fixtures" / "laravel" / "redis" / "redis.json").read_text())
    replay(r, w, laravel, 7200)
    beego = sorted((REPO / "fixtures" / "beego-real" / "redis").iterdir())
    replay(r, w, {"keys": [{"key": p.name, "value_hex": p.read_bytes().hex(), "ttl_s": 3600}
                           for p in beego]}, 3600)
    r.set("app:config:feature", "on")  # not a session: never judged
    r.sadd("app:queue", "job")
    return w


Snapshot = dict[bytes, tuple[bytes, object, int]]


def content(r: redis.Redis, k: bytes) -> object:
    """A key's value in a canonical form: a DUMP of a hash or set in its hashtable encoding
    lists the members in table order, which a RESTORE does not keep, so equal contents can
    have different DUMPs."""
    t = r.type(k)
    if t == b"string":
        return r.get(k)
    if t == b"hash":
        return sorted(r.hgetall(k).items())
    if t == b"set":
        return sorted(r.smembers(k))
    if t == b"zset":
        return r.zrange(k, 0, -1, withscores=True)
    return r.lrange(k, 0, -1) if t == b"list" else t


def snapshot(r: redis.Redis) -> Snapshot:
    """Every key's DUMP, value and absolute deadline (server ms; -1 none)."""
    out = {}
    for k in r.scan_iter(count=1000):
        if k == LOCK:
            continue
        sec, usec = r.time()
        pttl = r.pttl(k)
        dump = r.dump(k)
        if dump is None:
            continue
        end = -1 if pttl < 0 else sec * 1000 + usec // 1000 + pttl
        out[k] = (dump, content(r, k), end)
    return out


def differences(a: Snapshot, b: Snapshot, tolerance_ms: int = 1000,
                exact: bool = True) -> list[str]:
    """Keys that differ: missing on one side, another value (with `exact`, other DUMP
    bytes), or a deadline moved by more than the time between two reads of it."""
    out = [f"only before: {k!r}" for k in a.keys() - b.keys()]
    out += [f"only after: {k!r}" for k in b.keys() - a.keys()]
    for k in a.keys() & b.keys():
        (da, ca, ea), (db, cb, eb) = a[k], b[k]
        if ca != cb or (exact and da != db):
            out.append(f"value differs: {k!r}")
        elif (ea == -1) != (eb == -1) or abs(ea - eb) > tolerance_ms:
            out.append(f"deadline differs: {k!r} {ea} {eb}")
    return out
