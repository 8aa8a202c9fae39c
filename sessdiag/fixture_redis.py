"""Materialise realistic Spring Session keyspaces in Redis from a spec, with their ground truth.

`sessdiag fixtures make redis://HOST:PORT/DB --spec fixtures/spring-*.yaml` is the only
command of sessdiag that writes to Redis. It writes into one database only (the URL's), and
only when that database is empty, unless `--force` (which empties that database, and no other,
first). The keys are those spring-session-data-redis writes (docs/frameworks/spring-session.md):

- indexed repository (`RedisIndexedSessionRepository`): hash `NS:sessions:<id>` with
  `creationTime`, `lastAccessedTime`, `maxInactiveInterval` and `sessionAttr:*`, TTL
  maxInactiveInterval + 5 min; shadow `NS:sessions:expires:<id>` (`APPEND ""`) with the real
  TTL; `NS:expirations:<minute>` sets of `"expires:<id>"`; principal index sets, no TTL;
- non-indexed repository (`RedisSessionRepository`): the hash only, expiring at
  lastAccessedTime + maxInactiveInterval;
- `maxInactiveInterval < 0`: hash (and shadow key) `PERSIST`ed, a session without a TTL.

Values are JDK-serialised (`sessdiag.codecs.javawrite`, byte-exact with what the JDK writes)
or JSON. Ages are whole seconds plus one half, counted from the local clock at write time;
live sessions stay at least a minute away from their expiry and sessions "expired but still
present" (the indexed repository's 5 minutes) at least a minute away from deletion, so the
expected counts hold for a scan run within a minute of writing.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import yaml

from sessdiag.codecs.javawrite import INT_MAX, jint, jlong, jstring, jvalue
from sessdiag.core.errors import StoreRefused, UsageError
from sessdiag.core.units import parse_duration
from sessdiag.fixtures import FixtureSpec, compose_spec

PRINCIPAL_INDEX = ("org.springframework.session.FindByIndexNameSessionRepository"
                   ".PRINCIPAL_NAME_INDEX_NAME")
PROFILE = "spring-session"
DEFAULT_ATTRIBUTES: dict[str, str | int | bool] = {
    "locale": "en_GB", "cartItems": 2, "cookieConsent": True}
BROKEN_JDK = b"\xac\xed\x00\x05t\x00\x40truncated"  # declares 64 bytes, holds 9
BROKEN_JSON = b'{"items": ['

Command = Sequence[str | bytes | int]
Send = Callable[[Command], object]


# --- the writer: what the two repositories send -----------------------------------------


class SpringWriter:
    """Writes what RedisIndexedSessionRepository / RedisSessionRepository write.

    Every command goes through `send(command)`, so the same writer feeds a pipeline of
    sessdiag's own RESP connection (`fixtures make`) or a redis-py client (the tests).
    """

    def __init__(self, send: Send, ns: str = "spring:session", indexed: bool = True,
                 json_values: bool = False, new_id: Callable[[], str] | None = None) -> None:
        self.send = send
        self.ns = ns
        self.indexed = indexed
        self.json = json_values
        self.new_id = new_id or (lambda: str(uuid.uuid4()))
        self.ids: list[str] = []

    def num(self, v: int, integer: bool = False) -> bytes:
        if self.json:
            return str(v).encode()
        return jint(v) if integer else jlong(v)

    def text(self, s: str) -> bytes:
        return json.dumps(s).encode() if self.json else jstring(s)

    def value(self, v: str | int | bool) -> bytes:
        if self.json:
            return json.dumps(v).encode()
        return jvalue(v)

    def session_fields(self, created_ms: int, last_ms: int, max_inactive: int,
                       principal: str | None, attrs: dict[str, bytes] | None) -> dict[str, bytes]:
        f = {"creationTime": self.num(created_ms), "lastAccessedTime": self.num(last_ms),
             "maxInactiveInterval": self.num(max_inactive, integer=True)}
        if principal:
            f[f"sessionAttr:{PRINCIPAL_INDEX}"] = self.text(principal)
        for k, v in (attrs or {}).items():
            f[f"sessionAttr:{k}"] = v
        return f

    def session(self, now_ms: int, created_ms: int, last_ms: int, max_inactive: int = 1800,
                principal: str | None = None, attrs: dict[str, bytes] | None = None,
                shadow: bool = True, sid: str | None = None) -> str:
        sid = sid or self.new_id()
        key = f"{self.ns}:sessions:{sid}"
        flat: list[str | bytes] = []
        for k, v in self.session_fields(created_ms, last_ms, max_inactive, principal,
                                        attrs).items():
            flat += [k, v]
        self.send(("HSET", key, *flat))
        expires_ms = last_ms + max_inactive * 1000
        if max_inactive < 0:
            self.send(("PERSIST", key))
        elif self.indexed:
            self.send(("PEXPIRE", key, expires_ms + 300_000 - now_ms))
        else:
            self.send(("PEXPIREAT", key, expires_ms))
        if self.indexed and shadow:
            skey = f"{self.ns}:sessions:expires:{sid}"
            self.send(("APPEND", skey, b""))
            if max_inactive < 0:
                self.send(("PERSIST", skey))
            else:  # not positive once expired: Redis deletes it, as Spring's would be
                self.send(("PEXPIRE", skey, expires_ms - now_ms))
        if self.indexed and principal:
            self.index_member(principal, sid)
        self.ids.append(sid)
        return sid

    def orphan_shadow(self, ttl_s: int = 600, sid: str | None = None) -> str:
        sid = sid or self.new_id()
        self.send(("SET", f"{self.ns}:sessions:expires:{sid}", b"", "EX", ttl_s))
        return sid

    def expirations(self, minute_ms: int, sids: list[str], ttl_s: int | None) -> None:
        key = f"{self.ns}:expirations:{minute_ms}"
        for sid in sids:
            self.send(("SADD", key, self.text(f"expires:{sid}")))
        if ttl_s is not None:
            self.send(("EXPIRE", key, ttl_s))

    def index_member(self, principal: str, sid: str) -> None:
        self.send(("SADD", f"{self.ns}:index:{PRINCIPAL_INDEX}:{principal}", self.text(sid)))


# --- the spec -----------------------------------------------------------------------------


@dataclass
class GroupSpec:
    """One population of sessions one service writes into one namespace."""

    name: str = ""
    namespace: str = "spring:session"
    indexed: bool = True
    serializer: str = "jdk"
    sessions: int = 100
    never_reused: float = 0.0
    logged_in: float = 0.0
    principals: int | None = None
    max_inactive: int = 1800
    idle_max: int | None = None
    span_max: int = 8 * 3600
    expired: int = 0
    no_ttl: int = 0
    no_ttl_idle_max: int = 7 * 86400
    undecodable: int = 0
    attributes: dict[str, str | int | bool] = field(
        default_factory=lambda: dict(DEFAULT_ATTRIBUTES))

    @property
    def label(self) -> str:
        return self.name or self.namespace

    def counts(self) -> tuple[int, int, int]:
        """(never reused, logged in, anonymous reused) among `sessions`."""
        n = self.sessions
        never = min(round(n * self.never_reused), n)
        login = min(round(n * self.logged_in), n - never)
        return never, login, n - never - login


@dataclass
class RedisFixtureSpec:
    profile: str = PROFILE
    seed: int = 0
    groups: list[GroupSpec] = field(default_factory=list)


_DURATIONS = ("max_inactive", "idle_max", "span_max", "no_ttl_idle_max")
_COUNTS = ("sessions", "expired", "no_ttl", "undecodable")
_FRACTIONS = ("never_reused", "logged_in")
GROUP_KEYS = tuple(f.name for f in fields(GroupSpec))
TOP_KEYS = ("profile", "seed", "groups")


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _plain(node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(node))


def load_redis_spec(path: str, root: yaml.Node | None = None) -> RedisFixtureSpec:
    """Parse and validate a Redis fixture spec; every error names the file and the line."""
    if root is None:
        root = compose_spec(path)
    if not isinstance(root, yaml.MappingNode):
        raise UsageError(f"{path}: a fixture spec is a mapping of keys to values")
    spec = RedisFixtureSpec()
    groups_node: yaml.Node | None = None
    for knode, vnode in root.value:
        key = knode.value
        where = f"{path}:{_line(knode)}"
        if key not in TOP_KEYS:
            raise UsageError(f"{where}: unknown key {key!r} in a Redis fixture spec "
                             f"(known: {', '.join(TOP_KEYS)})")
        value = _plain(vnode)
        if key == "profile":
            if value != PROFILE:
                raise UsageError(f"{where}: profile must be {PROFILE} for a Redis fixture")
        elif key == "seed":
            if not isinstance(value, int) or isinstance(value, bool):
                raise UsageError(f"{where}: seed must be an integer")
            spec.seed = value
        else:
            groups_node = vnode
    if groups_node is None:
        raise UsageError(f"{path}: a Redis fixture spec needs 'groups', a list of session "
                         "groups (namespace, sessions, …)")
    if not isinstance(groups_node, yaml.SequenceNode) or not groups_node.value:
        raise UsageError(f"{path}:{_line(groups_node)}: groups must be a non-empty list")
    for i, gnode in enumerate(groups_node.value, 1):
        spec.groups.append(_parse_group(gnode, path, i))
    indexed: dict[str, tuple[bool, int]] = {}
    for i, g in enumerate(spec.groups, 1):
        prev = indexed.setdefault(g.namespace, (g.indexed, i))
        if prev[0] != g.indexed:
            raise UsageError(f"{path}: groups {prev[1]} and {i} share namespace "
                             f"{g.namespace!r} but disagree on 'indexed' (one repository "
                             "writes a namespace)")
    return spec


def _parse_group(node: yaml.Node, path: str, i: int) -> GroupSpec:
    if not isinstance(node, yaml.MappingNode):
        raise UsageError(f"{path}:{_line(node)}: group {i} must be a mapping")
    g = GroupSpec()
    for knode, vnode in node.value:
        key = knode.value
        where = f"{path}:{_line(knode)}"
        if key not in GROUP_KEYS:
            raise UsageError(f"{where}: unknown key {key!r} in group {i} "
                             f"(known: {', '.join(GROUP_KEYS)})")
        v = _plain(vnode)
        if key in _DURATIONS:
            try:
                setattr(g, key, parse_duration(v))
            except UsageError as exc:
                raise UsageError(f"{where}: {key}: {exc}") from None
        elif key in _COUNTS or key == "principals":
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise UsageError(f"{where}: {key} must be a non-negative integer")
            setattr(g, key, v)
        elif key in _FRACTIONS:
            if not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v <= 1:
                raise UsageError(f"{where}: {key} must be a fraction between 0 and 1")
            setattr(g, key, float(v))
        elif key == "indexed":
            if not isinstance(v, bool):
                raise UsageError(f"{where}: indexed must be true or false")
            g.indexed = v
        elif key == "serializer":
            if v not in ("jdk", "json"):
                raise UsageError(f"{where}: serializer must be jdk (JdkSerializationRedis"
                                 "Serializer, Spring's default) or json")
            g.serializer = v
        elif key in ("name", "namespace"):
            if not isinstance(v, str) or (key == "namespace" and not v.strip(": ")):
                raise UsageError(f"{where}: {key} must be a non-empty string")
            setattr(g, key, v.strip() if key == "name" else v.strip().rstrip(":"))
        elif key == "attributes":
            if not isinstance(v, dict) or not all(
                    isinstance(k, str) and isinstance(x, str | int | bool) and (
                        isinstance(x, bool) or not isinstance(x, int) or
                        -(1 << 63) <= x < (1 << 63)) for k, x in v.items()):
                raise UsageError(f"{where}: attributes must map names to strings, integers "
                                 "(Integer, or Long beyond 32 bits) or booleans")
            g.attributes = v
    _check_group(g, f"{path}:{_line(node)}", i)
    return g


def _check_group(g: GroupSpec, where: str, i: int) -> None:
    if g.never_reused + g.logged_in > 1 + 1e-9:
        raise UsageError(f"{where}: group {i}: never_reused + logged_in exceed 1 (a logged-in "
                         "session has been reused)")
    if not 120 <= g.max_inactive <= INT_MAX:
        raise UsageError(f"{where}: group {i}: max_inactive must be at least 120 s "
                         "(sessions without TTL are the no_ttl count)")
    if g.idle_max is not None and not 1 <= g.idle_max <= g.max_inactive - 60:
        raise UsageError(f"{where}: group {i}: idle_max must be between 1 s and max_inactive "
                         "- 60 s (a live session is a minute away from its expiry)")
    if g.span_max < 61:
        raise UsageError(f"{where}: group {i}: span_max must be more than 60 s")
    if g.no_ttl_idle_max < 1:
        raise UsageError(f"{where}: group {i}: no_ttl_idle_max must be at least 1 s")
    if g.expired and not g.indexed:
        raise UsageError(f"{where}: group {i}: expired sessions stay in Redis only with the "
                         "indexed repository (its 5 extra minutes); the non-indexed one "
                         "expires the hash at lastAccessedTime + maxInactiveInterval")
    if g.expired > g.sessions:
        raise UsageError(f"{where}: group {i}: expired exceeds sessions")
    _, _, anon = g.counts()
    if g.undecodable > anon:
        raise UsageError(f"{where}: group {i}: undecodable ({g.undecodable}) exceeds the "
                         f"anonymous reused sessions ({anon}) that carry attributes")
    if g.principals == 0 and g.counts()[1]:
        raise UsageError(f"{where}: group {i}: logged-in sessions need principals > 0")


def load_spec(path: str) -> FixtureSpec | RedisFixtureSpec:
    """A file-tree spec or a Redis spec (``profile: spring-session``), by its profile."""
    root = compose_spec(path)
    if is_redis_spec(root):
        return load_redis_spec(path, root)
    return FixtureSpec.from_node(root, path)


def is_redis_spec(root: yaml.Node | None) -> bool:
    if not isinstance(root, yaml.MappingNode):
        return False
    for knode, vnode in root.value:
        if knode.value == "profile" and isinstance(vnode, yaml.ScalarNode):
            return vnode.value == PROFILE
    return False


# --- generation: the sessions to write and the truth about them -----------------------------


@dataclass
class _Truth:
    namespace: str
    indexed: bool
    sessions: int = 0
    bytes: int = 0
    empty: int = 0
    orphans: int = 0
    expired: int = 0
    no_ttl: int = 0
    undecodable: int = 0
    logged_in: int = 0
    principals: set[str] = field(default_factory=set)
    shadow_keys: int = 0
    shadow_keys_no_ttl: int = 0
    expirations: dict[int, list[str]] = field(default_factory=dict)
    expirations_ttl_ms: dict[int, int] = field(default_factory=dict)
    index_members: int = 0
    orphans_created: list[float] = field(default_factory=list)
    lifetime_s: int = 0  # the groups' maxInactiveInterval (the largest, when several)

    def to_dict(self) -> dict:
        return {
            "namespace": self.namespace,
            "profile": "spring-session" if self.indexed else "spring-session-simple",
            "repository": "indexed" if self.indexed else "non-indexed",
            "sessions": self.sessions, "bytes": self.bytes, "empty": self.empty,
            "orphans": self.orphans, "expired": self.expired, "no_ttl": self.no_ttl,
            "undecodable": self.undecodable, "logged_in": self.logged_in,
            "principals": len(self.principals),
            "shadow_keys": self.shadow_keys, "shadow_keys_no_ttl": self.shadow_keys_no_ttl,
            "expirations_sets": len(self.expirations),
            "expirations_members": sum(len(v) for v in self.expirations.values()),
            "index_sets": len(self.principals) if self.indexed else 0,
            "index_members": self.index_members,
        }


def write_groups(spec: RedisFixtureSpec, send: Send, now: float) -> dict:
    """Send every command of the spec's sessions to `send`; return the expected report."""
    rnd = random.Random(spec.seed)
    now_ms = int(now * 1000)
    truths: dict[str, _Truth] = {}
    writers: dict[str, SpringWriter] = {}

    def new_id() -> str:
        return str(uuid.UUID(int=rnd.getrandbits(128), version=4))

    for g in spec.groups:
        t = truths.setdefault(g.namespace, _Truth(g.namespace, g.indexed))
        t.lifetime_s = max(t.lifetime_s, g.max_inactive)
        w = SpringWriter(send, g.namespace, g.indexed, g.serializer == "json", new_id)
        attrs = {k: w.value(v) for k, v in g.attributes.items()}
        broken = dict(attrs, cart=BROKEN_JSON if w.json else BROKEN_JDK)
        never, login, anon = g.counts()
        kinds = ["never"] * never + ["login"] * login + ["anon"] * anon
        rnd.shuffle(kinds)
        undecodable = set(rnd.sample([i for i, k in enumerate(kinds) if k == "anon"],
                                     g.undecodable))
        expired = [True] * g.expired + [False] * (g.sessions - g.expired)
        rnd.shuffle(expired)
        pool = g.principals if g.principals is not None else max(login, 1)
        idle_max = g.idle_max or g.max_inactive - 60
        mi = g.max_inactive
        n_login = 0
        for i, kind in enumerate(kinds):
            if expired[i]:  # past maxInactiveInterval, inside the indexed repository's 5 min
                idle = rnd.randrange(mi + 1, mi + 240) + 0.5
            else:
                idle = rnd.randrange(0, idle_max) + 0.5
            last_ms = now_ms - int(idle * 1000)
            principal = None
            a: dict[str, bytes] = {}
            if kind == "never":
                created_ms = last_ms
            else:
                created_ms = last_ms - int((rnd.randrange(60, g.span_max) + 0.5) * 1000)
                a = broken if i in undecodable else attrs
                if kind == "login":
                    principal = f"user{n_login % pool:04d}"
                    n_login += 1
            sid = w.session(now_ms, created_ms, last_ms, mi, principal, a)
            _account(t, w, created_ms, last_ms, mi, principal, a, now_ms)
            if i in undecodable:
                t.undecodable += 1
            if expired[i]:
                t.expired += 1
            elif g.indexed:
                minute = math.ceil((last_ms + mi * 1000) / 60_000) * 60_000
                t.expirations.setdefault(minute, []).append(sid)
                ttl_ms = last_ms + (mi + 300) * 1000 - now_ms
                t.expirations_ttl_ms[minute] = max(t.expirations_ttl_ms.get(minute, 0), ttl_ms)
        for _ in range(g.no_ttl):  # maxInactiveInterval < 0: the hash is PERSISTed
            idle = rnd.randrange(0, g.no_ttl_idle_max) + 0.5
            last_ms = now_ms - int(idle * 1000)
            created_ms = last_ms - int((rnd.randrange(60, g.span_max) + 0.5) * 1000)
            w.session(now_ms, created_ms, last_ms, -1, None, attrs)
            _account(t, w, created_ms, last_ms, -1, None, attrs, now_ms)
            t.no_ttl += 1
        writers.setdefault(g.namespace, w)
    # The indexed repository's minute sets (2.7.4 order: SADD, then EXPIRE, so each has a TTL).
    for ns, t in truths.items():
        for minute in sorted(t.expirations):
            writers[ns].expirations(minute, t.expirations[minute],
                                    -(-t.expirations_ttl_ms[minute] // 1000))
    return _expected(truths, now)


def _account(t: _Truth, w: SpringWriter, created_ms: int, last_ms: int, mi: int,
             principal: str | None, attrs: dict[str, bytes], now_ms: int) -> None:
    t.sessions += 1
    f = w.session_fields(created_ms, last_ms, mi, principal, attrs)
    t.bytes += sum(len(k.encode()) + len(v) for k, v in f.items())
    if not principal and not attrs:
        t.empty += 1
    if created_ms == last_ms:
        t.orphans += 1
        t.orphans_created.append(created_ms / 1000)
    if principal:
        t.logged_in += 1
        t.principals.add(principal)
        if w.indexed:
            t.index_members += 1
    if w.indexed:
        if mi < 0:
            t.shadow_keys += 1
            t.shadow_keys_no_ttl += 1
        elif last_ms + mi * 1000 > now_ms:
            t.shadow_keys += 1


def _expected(truths: dict[str, _Truth], now: float) -> dict:
    groups = sorted(truths.values(), key=lambda t: (-t.sessions, t.namespace))
    n = sum(t.sessions for t in groups)
    empty = sum(t.empty for t in groups)
    expired = sum(t.expired for t in groups)
    recent = sum(1 for t in groups for c in t.orphans_created
                 if int(c // 3600) * 3600 >= now - 86400)
    # Redis holds only a lifetime's worth of sessions: orphans per hour over that window.
    per_hour = 0.0
    for t in groups:
        window = min(86400, t.lifetime_s or 86400)
        n_recent = sum(1 for c in t.orphans_created if (int(c // 3600) + 1) * 3600 > now - window)
        per_hour += n_recent * 3600 / window
    shared: set[str] = set()
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            shared |= a.principals & b.principals
    return {
        "profile": PROFILE,
        "now": now,
        "sessions": n,
        "bytes": sum(t.bytes for t in groups),
        "expired": expired,
        "expired_fraction": round(expired / n, 6) if n else 0.0,
        "empty": empty,
        "empty_fraction": round(empty / n, 6) if n else 0.0,
        "orphans": sum(t.orphans for t in groups),
        "no_ttl": sum(t.no_ttl for t in groups),
        "undecodable": sum(t.undecodable for t in groups),
        "logged_in": sum(t.logged_in for t in groups),
        # What `check`'s max_orphan_rate_per_hour reads for a store without access logs.
        "orphan_rate_last_24h_per_hour": round(recent / 24, 3),
        "orphan_rate_recent_per_hour": round(per_hour, 3),
        "namespaces": sorted(truths),
        "shared_principals": len(shared),
        "groups": [t.to_dict() for t in groups],
    }


# --- writing to a server -------------------------------------------------------------------


class _Pipeline:
    """Commands sent in batches on sessdiag's RESP connection; the first error stops all."""

    BATCH = 2000

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.buf: list[Command] = []
        self.sent = 0

    def __call__(self, cmd: Command) -> None:
        self.buf.append(cmd)
        if len(self.buf) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        from sessdiag.stores.redis.resp import ReplyError

        if not self.buf:
            return
        cmds, self.buf = self.buf, []
        for cmd, r in zip(cmds, self.conn.pipeline(cmds), strict=True):
            if isinstance(r, ReplyError):
                raise StoreRefused(f"{self.conn.location}: cannot write the fixture: "
                                   f"{cmd[0]} refused ({_short(r)})")
        self.sent += len(cmds)


def _short(r: object) -> str:
    return " ".join(str(r).split())[:160]


def _info_field(info: object, name: str) -> str | None:
    text = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def make_redis(url: str, spec: RedisFixtureSpec, *, force: bool = False,
               password_env: str | None = None) -> dict:
    """Write the spec's keyspace into the (empty) database of `url`; the expected report."""
    from sessdiag.stores.redis.resp import CommandRefused, RedisConn
    from sessdiag.stores.redis.target import parse_target

    target = parse_target(url, password_env)
    conn = RedisConn(target)
    try:
        loc = target.location
        try:
            cluster = _info_field(conn.call("INFO", "cluster"), "cluster_enabled")
            role = _info_field(conn.call("INFO", "replication"), "role")
            keys = conn.call("DBSIZE")
        except CommandRefused as exc:
            raise StoreRefused(f"{loc}: cannot inspect the database before writing: "
                               f"{exc.reason}") from None
        if cluster == "1":
            raise UsageError(f"{loc} is a Redis Cluster node; fixtures are written to a "
                             "standalone server only")
        if role in ("slave", "replica"):
            raise StoreRefused(f"{loc} is a read-only replica; write fixtures to a primary")
        if keys:
            if not force:
                raise UsageError(f"{loc} holds {keys} keys; fixtures are only written into "
                                 f"an empty database (--force empties db {target.db} first, "
                                 "and no other)")
            try:
                conn.call("FLUSHDB")
            except CommandRefused as exc:
                raise StoreRefused(f"{loc}: --force could not empty the database: "
                                   f"{exc.reason}") from None
        pipe = _Pipeline(conn)
        expected = write_groups(spec, pipe, time.time())
        pipe.flush()
    finally:
        conn.close()
    expected["target"] = loc
    expected["db"] = target.db
    expected["commands"] = pipe.sent
    return expected
