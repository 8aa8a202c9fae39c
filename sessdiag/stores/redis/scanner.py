"""The per-node keyspace scan: SCAN + pipelines of read-only commands, rate-limited, adaptive.

One *round* is one pipeline: the per-key commands for the keys the previous SCAN returned,
the follow-ups earlier replies asked for (``STRLEN`` of a value longer than what was read,
``OBJECT IDLETIME`` of a session without TTL, index-set members and their liveness…), and the
next ``SCAN`` itself, so a round costs one round trip. Commands per key follow from the key's
name (profiles.classify); nothing is sent that could write: the whole command vocabulary is
SCAN, TYPE, PTTL, GETRANGE, STRLEN, HGETALL, EXISTS, SCARD, ZCARD, SMEMBERS, SRANDMEMBER,
MEMORY USAGE, OBJECT IDLETIME, INFO, CONFIG GET, DBSIZE, CLUSTER NODES (see READ_ONLY_COMMANDS).

SCAN COUNT adapts to the time a round takes (aiming at tens of milliseconds per round, so no
reply grows large and the server interleaves other clients freely), and under ``--rate`` a round
carries at most ~50 ms of the command budget.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sessdiag.codecs.javaser import INTEGER_PREFIX, LONG_PREFIX
from sessdiag.codecs.javaser import string_value as _jstring
from sessdiag.core.errors import DecodeError
from sessdiag.frameworks import REGISTRY, SNIFF_KEY, VALUE_SNIFFERS
from sessdiag.frameworks.base import SNIFFED
from sessdiag.stores.redis import profiles as P
from sessdiag.stores.redis.census import (
    EXAMPLES,
    GroupAgg,
    NodeResult,
    show_key,
)
from sessdiag.stores.redis.ratelimit import RateLimiter
from sessdiag.stores.redis.resp import (
    CommandRefused,
    RedisConn,
    ReplyError,
    is_denied,
    refusal,
)
from sessdiag.stores.redis.target import RedisTarget
from sessdiag.stores.redis.topology import Topology, parse_info

READ_ONLY_COMMANDS = frozenset({
    "SCAN", "TYPE", "PTTL", "GETRANGE", "STRLEN", "HGETALL", "EXISTS", "SCARD", "ZCARD",
    "SMEMBERS", "SRANDMEMBER", "MEMORY", "OBJECT", "INFO", "CONFIG", "DBSIZE", "CLUSTER",
    "AUTH", "SELECT", "GET", "HLEN", "HMGET", "PING",
})

MAX_VALUE = 65536  # bytes of a string value read; longer values are measured, not decoded
SNIFF_BYTES = 256
INDEX_SAMPLE = 200
MIN_COUNT, START_COUNT, MAX_COUNT = 10, 100, 1000
TARGET_ROUND_S = 0.05

PTTL, HGETALL, GETRANGE, EXISTS, SCARD, ZCARD, TYPE = (
    b"PTTL", b"HGETALL", b"GETRANGE", b"EXISTS", b"SCARD", b"ZCARD", b"TYPE")
ZERO, MAXV_1, SNIFF_1 = b"0", str(MAX_VALUE - 1).encode(), str(SNIFF_BYTES - 1).encode()
# A non-spring kind for --pattern keys no fingerprint recognises.
GENERIC = 100
JDK_MAGIC = b"\xac\xed\x00\x05"
# Session times outside [2000-01-01, now + 1 day] are anomalies, not ages (issue 19).
SANE_SINCE_MS = 946_684_800_000
SANE_AHEAD_S = 86_400


def _LONG(v: bytes) -> int | None:
    """A Spring number: the JDK's exact Long/Integer bytes (fast path), else any encoding."""
    n = len(v)
    if n == 82 and v.startswith(LONG_PREFIX):
        return _FROM(v[74:], "big", signed=True)
    if n == 81 and v.startswith(INTEGER_PREFIX):
        return _FROM(v[77:], "big", signed=True)
    return P._spring_number(v)


_FROM = int.from_bytes
PRINCIPAL_MEMO = 20_000  # principal attribute values remembered (a user has many sessions)
VALUE_FACTS, VALUE_FACTS_BYTES = 4096, 64  # string values whose format/emptiness is remembered
# Spring hash values whose decode (ok, or why not) the decoded sample remembers, and the
# lengths remembered: at most 1,024 x 4 KB
DECODE_MEMO, DECODE_MEMO_MIN, DECODE_MEMO_MAX = 1024, 128, 4096


@dataclass
class ScanParams:
    now: float
    age_edges: tuple[int, ...]
    pattern: str | None = None
    profile: str | None = None
    sample: int = 1000
    deep: bool = False
    count: int | None = None


class NodeScanner:
    def __init__(self, conn: RedisConn, params: ScanParams, limiter: RateLimiter,
                 topo: Topology | None = None, node_index: int = 0,
                 connect: Callable[[int], RedisConn] | None = None,
                 progress: Callable[[int], None] | None = None) -> None:
        self.conn = conn
        self.p = params
        self.limiter = limiter
        self.topo = topo if topo is not None and topo.cluster else None
        # Shadow keys' EXISTS goes in the same pipeline only when this node holds every key
        # (standalone); otherwise, and for a dump read as a stream, through exists_check.
        self.inline_exists = self.topo is None
        self.node_index = node_index
        self.connect = connect
        self.remote: dict[int, RedisConn] = {}
        self.remote_q: dict[int, list[tuple[bytes, Callable[[Any], None]]]] = {}
        self.progress = progress
        self.res = NodeResult(conn.location)
        self.n_age = len(params.age_edges) + 1
        self.deferred: list[tuple[tuple, Callable[[Any], None]]] = []
        self.mem_ok = True
        self.idle_ok = True
        self.mem_taken: dict[tuple[str, str, str], int] = {}
        self.pattern_ns = P.pattern_namespace(params.pattern) if params.pattern else ""
        # Profiles that fix their value encoding (the others are decoded by what the bytes say).
        self.decoders = {fw.name: fw.decoder() for fw in REGISTRY.values()
                         if fw.redis is not None and fw.decode != SNIFFED}
        self.principal_of: dict[bytes, str | None] = {}  # Spring principal value -> name
        self.value_facts: dict[tuple[str, bytes], tuple[str, bool | None]] = {}
        self.value_decodes: dict[bytes, str | None] = {}  # Spring value -> why undecodable

    # -- helpers ----------------------------------------------------------------------------
    def group(self, profile: str, ns: str) -> GroupAgg:
        return self.res.group(profile, ns, self.n_age)

    def want_memory(self, profile: str, ns: str, what: str) -> bool:
        if not self.mem_ok:
            return False
        k = (profile, ns, what)
        n = self.mem_taken.get(k, 0)
        if self.p.deep or n < max(self.p.sample, 1):
            self.mem_taken[k] = n + 1
            return True
        return False

    def pipeline(self, conn: RedisConn, cmds: list) -> list:
        self.limiter.acquire(len(cmds))
        self.res.commands += len(cmds)
        return conn.pipeline(cmds)

    def send(self, conn: RedisConn, cmds: list) -> None:
        self.limiter.acquire(len(cmds))
        self.res.commands += len(cmds)
        conn.send(cmds)

    def on_memory(self, g: GroupAgg, what: str) -> Callable[[Any], None]:
        def cb(r: Any) -> None:
            if isinstance(r, ReplyError):
                if is_denied(r):
                    self.mem_ok = False
                    self.res.memory_denied = True
                return
            if isinstance(r, int):
                if what == "session":
                    g.mem_sum += r
                    g.mem_n += 1
                elif what == "shadow":
                    g.shadow_mem_sum += r
                    g.shadow_mem_n += 1
                else:
                    g.exp_mem_sum += r
                    g.exp_mem_n += 1
        return cb

    def exists_check(self, key: bytes, cb: Callable[[Any], None]) -> None:
        """EXISTS on the node that owns `key` (this one in standalone mode)."""
        owner = self.topo.owner(key) if self.topo else self.node_index
        if owner == self.node_index:
            self.deferred.append(((EXISTS, key), cb))
            return
        q = self.remote_q.setdefault(owner, [])
        q.append((key, cb))
        if len(q) >= 2000:
            self.flush_remote(owner)

    def flush_remote(self, owner: int) -> None:
        q = self.remote_q.pop(owner, [])
        if not q:
            return
        conn = self.remote.get(owner)
        if conn is None:
            assert self.connect is not None
            conn = self.remote[owner] = self.connect(owner)
        replies = self.pipeline(conn, [(EXISTS, k) for k, _ in q])
        for (_, cb), r in zip(q, replies, strict=True):
            cb(r)

    # -- the scan ---------------------------------------------------------------------------
    def prologue(self) -> None:
        c = self.conn
        try:
            self.res.dbsize = int(c.call("DBSIZE"))  # type: ignore[arg-type]
        except CommandRefused:
            self.res.notes.append("DBSIZE refused: no progress total")
        try:
            r = c.call("CONFIG", "GET", "notify-keyspace-events")
            if isinstance(r, list) and len(r) >= 2:
                self.res.notify_keyspace_events = r[1].decode("utf-8", "replace")
        except CommandRefused as exc:
            self.res.config_denied = True
            self.res.notes.append(f"{c.location}: CONFIG GET refused ({exc.reply}); "
                                  "notify-keyspace-events not checked")
        self.res.commands += 2
        if self.topo is not None:
            # A primary's own memory: the cluster's is the sum of its primaries' (the INFO
            # of the node named in the URL is one of them).
            try:
                info = parse_info(c.call("INFO", "memory"))  # type: ignore[arg-type]
                for k in ("used_memory", "maxmemory"):
                    self.res.server[k] = info.get(k)
            except CommandRefused:
                pass
            self.res.commands += 1

    def run(self) -> NodeResult:
        """SCAN rounds, two in flight: the next round is sent as soon as the SCAN reply that
        names its keys arrives (SCAN goes first in every round), so the server works on
        round N+1 while this process handles round N's replies."""
        t0 = time.monotonic()
        self.prologue()
        p = self.p
        count = p.count or START_COUNT
        match = (b"MATCH", p.pattern.encode()) if p.pattern else ()
        conn = self.conn
        first = [(b"SCAN", ZERO, *match, b"COUNT", str(count))]
        self.send(conn, first)
        # A round in flight: (has_scan, deferred, plan, n_commands, n_keys)
        inflight: tuple = (True, [], [], 1, 0)
        last = time.monotonic()
        while inflight is not None:
            has_scan, deferred, plan, n, nkeys = inflight
            nxt = None
            rest_n = n
            if has_scan:
                reply = conn.read(1)[0]
                rest_n -= 1
                if isinstance(reply, ReplyError):
                    raise refusal(conn.location, "SCAN", reply)
                cursor, keys = reply[0], reply[1]
                more = cursor != ZERO
                cap = self.limiter.batch_cap()
                if cap is not None:
                    count = max(MIN_COUNT, min(count, cap // 3))
                elif p.count is None:
                    took = time.monotonic() - last
                    if took < TARGET_ROUND_S and count < MAX_COUNT:
                        count = min(MAX_COUNT, count * 2)
                    elif took > 4 * TARGET_ROUND_S and count > MIN_COUNT:
                        count = max(MIN_COUNT, count // 2)
                last = time.monotonic()
                cmds: list[tuple] = []
                if more:
                    cmds.append((b"SCAN", cursor, *match, b"COUNT", str(count)))
                d2, self.deferred = self.deferred, []
                cmds.extend(c for c, _ in d2)
                plan2: list[tuple] = []
                self.plan(keys, cmds, plan2)
                if cmds:
                    self.send(conn, cmds)
                    nxt = (more, d2, plan2, len(cmds), len(keys))
            replies = conn.read(rest_n) if rest_n else []
            nd = len(deferred)
            for (_, cb), r in zip(deferred, replies[:nd], strict=True):
                cb(r)
            self.handle(plan, replies, nd)
            if nkeys:
                self.res.keys_seen += nkeys
                if self.progress:
                    self.progress(nkeys)
            self.res.rounds += 1
            inflight = nxt
        # Follow-ups until none is left (each may ask for more, e.g. members -> EXISTS).
        for _ in range(16):
            for owner in list(self.remote_q):
                self.flush_remote(owner)
            if not self.deferred:
                break
            deferred, self.deferred = self.deferred, []
            cap = self.limiter.batch_cap() or 4000
            for i in range(0, len(deferred), cap):
                part = deferred[i : i + cap]
                replies = self.pipeline(self.conn, [c for c, _ in part])
                for (_, cb), r in zip(part, replies, strict=True):
                    cb(r)
        for owner in list(self.remote_q):
            self.flush_remote(owner)
        for c in self.remote.values():
            c.close()
        self.res.scan_count_final = count
        self.res.duration_s = time.monotonic() - t0
        return self.res

    # -- planning: which commands each key needs ------------------------------------------
    def plan(self, keys: list[bytes], cmds: list, plan: list) -> None:
        forced = self.p.profile
        pattern = self.p.pattern
        classify = P.classify
        groups: dict[tuple[str, str], GroupAgg] = {}
        mem = self.mem_taken
        mem_cap = 1 << 62 if self.p.deep else max(self.p.sample, 1)
        mem_ok = self.mem_ok
        inline_exists = self.inline_exists
        add = cmds.append
        for k in keys:
            kind, prof, ns = P.forced_kind(forced, k) if forced else classify(k)
            if kind == P.UNKNOWN:
                if pattern:
                    kind, prof, ns = GENERIC, "generic", self.pattern_ns
                else:
                    add((TYPE, k))
                    add((GETRANGE, k, ZERO, SNIFF_1))
                    plan.append((k, kind, None, 2))
                    continue
            gk = (prof, ns)
            g = groups.get(gk)
            if g is None:
                g = groups[gk] = self.group(prof, ns)
            if kind == P.SPRING:
                add((PTTL, k))
                add((HGETALL, k))
                n = 2
                what = "session"
            elif kind == P.SHADOW:
                add((PTTL, k))
                n = 1
                if inline_exists:
                    nsb = k[:k.rfind(b":sessions:expires:")]
                    add((EXISTS, nsb + b":sessions:" + k[len(nsb) + 18:]))
                    n = 2
                what = "shadow"
            elif kind == P.STRING:
                add((PTTL, k))
                add((GETRANGE, k, ZERO, MAXV_1))
                n = 2
                what = "session"
            elif kind == P.EXPIRATIONS or kind == P.INDEX:
                add((PTTL, k))
                add((SCARD, k))
                n = 2
                what = "expirations" if kind == P.EXPIRATIONS else ""
            elif kind == P.SPRING_ZSET:
                add((PTTL, k))
                add((ZCARD, k))
                n = 2
                what = ""
            elif kind == P.SPRING_OTHER:
                add((PTTL, k))
                n = 1
                what = ""
            else:  # GENERIC
                add((TYPE, k))
                add((PTTL, k))
                add((GETRANGE, k, ZERO, MAXV_1))
                n = 3
                what = "session"
            if what and mem_ok:
                mk = (prof, ns, what)
                taken = mem.get(mk, 0)
                if taken < mem_cap:
                    mem[mk] = taken + 1
                    add((b"MEMORY", b"USAGE", k))
                    n += 1
            plan.append((k, kind, g, n))

    # -- replies --------------------------------------------------------------------------
    def handle(self, plan: list, replies: list, i: int) -> None:
        for k, kind, g, n in plan:
            if kind == P.SPRING:
                self.on_spring(k, g, replies[i], replies[i + 1],
                               replies[i + 2] if n > 2 else None)
            elif kind == P.SHADOW:
                self.on_shadow(k, g, replies[i : i + n])
            elif kind == P.STRING:
                self.on_string(k, g, replies[i], replies[i + 1],
                               replies[i + 2] if n > 2 else None)
            elif kind == P.EXPIRATIONS:
                self.on_expirations(k, g, replies[i : i + n])
            elif kind == P.INDEX:
                self.on_index(k, g, replies[i : i + n])
            elif kind == P.SPRING_ZSET:
                if isinstance(replies[i + 1], int):
                    g.zset_keys += 1
                    g.zset_members += replies[i + 1]
            elif kind == P.SPRING_OTHER:
                if isinstance(replies[i], int) and replies[i] != -2:
                    g.other_companions += 1
            elif kind == GENERIC:
                self.on_generic(k, g, replies[i : i + n])
            else:
                self.on_unknown(k, replies[i], replies[i + 1])
            i += n

    def on_spring(self, k: bytes, g: GroupAgg, pttl: Any, h: Any, mem: Any) -> None:
        """One Spring session hash (the hot path: kept flat, no per-session objects)."""
        if h.__class__ is not list:
            self.other(k, "wrongtype")
            return
        if not h:  # expired or deleted between SCAN and HGETALL
            return
        d = dict(zip(h[0::2], h[1::2], strict=False))
        cv = d.get(b"creationTime")
        lv = d.get(b"lastAccessedTime")
        mv = d.get(b"maxInactiveInterval")
        if cv is None and lv is None and mv is None:
            self.other(k, "hash")
            return
        if mem is not None:
            self.on_memory(g, "session")(mem)
        if self.p.deep or g.decoded + g.undecodable < self.p.sample:
            # (before spring_session: no fact it records depends on the decode, nor the other
            # way round)
            reason = self.spring_decodes(h)
            if reason is None:
                g.decoded += 1
            else:
                g.undecodable += 1
                g.add_reason(reason)
                _example(g, "undecodable", k)
        empty = True
        if len(d) > 3:
            for f in d:
                if f[:12] == b"sessionAttr:":
                    empty = False
                    break
        self.spring_session(g, k, pttl, cv, lv, mv, sum(map(len, h)), empty,
                            d.get(P.PRINCIPAL_ATTR))

    def spring_decodes(self, h: list[bytes]) -> str | None:
        """Why P.decode_spring_hash(h) fails (its DecodeError's reason), or None when every
        value decodes. A value's answer is remembered (a long value only: the numbers are
        fast to decode and differ from session to session), since many sessions hold the
        same attribute bytes (a user object, a security context)."""
        memo = self.value_decodes
        for i in range(1, len(h), 2):  # (the values, as decode_spring_hash walks them)
            v = h[i]
            kept = DECODE_MEMO_MIN <= len(v) <= DECODE_MEMO_MAX
            reason = memo.get(v, memo) if kept else memo
            if reason is memo:
                try:
                    P.decode_spring_value(v)
                    reason = None
                except DecodeError as exc:
                    reason = exc.reason
                if kept and len(memo) < DECODE_MEMO:
                    memo[v] = reason
            if reason is not None:
                return reason  # type: ignore[return-value]
        return None

    def spring_session(self, g: GroupAgg, k: bytes, pttl: Any, cv: bytes | None,
                       lv: bytes | None, mv: bytes | None, nbytes: int, empty: bool,
                       pv: bytes | None) -> None:
        """The facts of one Spring session hash, from its three time fields (at least one
        present), its payload bytes, its emptiness (no sessionAttr: field among more than
        three) and its principal attribute: shared by the live scan (from HGETALL) and the
        dump scan (from the record, without building the hash)."""
        # _LONG's JDK Long / Integer case inline (every session has three such fields)
        # (the format follows from creationTime: a JDK Long's prefix is JDK_MAGIC's)
        if cv is None:
            ct = None
            fmt = "json"
        elif len(cv) == 82 and cv.startswith(LONG_PREFIX):
            ct = _FROM(cv[74:], "big", signed=True)
            fmt = "jdk"
        else:
            ct = _LONG(cv)
            fmt = "jdk" if cv.startswith(JDK_MAGIC) else "json"
        if lv is None:
            la = None
        elif len(lv) == 82 and lv.startswith(LONG_PREFIX):
            la = _FROM(lv[74:], "big", signed=True)
        else:
            la = _LONG(lv)
        if mv is None:
            mi = None
        elif len(mv) == 81 and mv.startswith(INTEGER_PREFIX):
            mi = _FROM(mv[77:], "big", signed=True)
        else:
            mi = _LONG(mv)
        self.spring_numbers(g, k, pttl if pttl.__class__ is int else -1, ct, la, mi, fmt,
                            nbytes, empty, pv)

    def spring_numbers(self, g: GroupAgg, k: bytes, ttl: int, ct: int | None, la: int | None,
                       mi: int | None, fmt: str, nbytes: int, empty: bool,
                       pv: bytes | None) -> None:
        """spring_session's counts, from the numbers its time fields hold (None: absent or
        not a number), the format its creationTime is in and its TTL (-1: none): the dump
        scan reads the numbers of the common JDK values itself."""
        g.sessions += 1
        g.bytes += nbytes
        formats = g.formats
        formats[fmt] = formats.get(fmt, 0) + 1
        g.add_ttl(ttl)
        if empty:
            g.empty += 1
        elif pv is not None:
            memo = self.principal_of
            name = memo.get(pv, memo)
            if name is memo:
                name = _jstring(pv) or P._json_string(pv)
                if len(memo) < PRINCIPAL_MEMO:
                    memo[pv] = name
            g.add_principal(name)
        if la is None or ct is None:
            _example(g, "no_timestamps", k)  # age from the TTL instead
            self.ttl_age(g, k, ttl, empty)
            return
        p = self.p
        now = p.now
        ahead = (now + SANE_AHEAD_S) * 1000
        if not (SANE_SINCE_MS <= ct <= ahead and SANE_SINCE_MS <= la <= ahead):
            # A valid JDK Long such as 2^53 ms is no session time: an anomaly, aged by its TTL.
            g.bad_timestamps += 1
            _example(g, "bad_timestamps", k)
            self.ttl_age(g, k, ttl, empty)
            return
        edges = p.age_edges
        orphan = ct == la
        if orphan:
            g.orphans += 1
        last = la / 1000.0
        age = now - last
        if age < 0:
            g.future += 1
            age = 0.0
        g.age_hist[bisect_left(edges, age)] += 1
        src = g.age_sources
        src["recorded"] = src.get("recorded", 0) + 1
        if g.oldest_access is None or last < g.oldest_access:
            g.oldest_access = last
        if g.newest_access is None or last > g.newest_access:
            g.newest_access = last
        created = ct / 1000.0
        g.created_n += 1
        g.created_hist[bisect_left(edges, now - created if now > created else 0.0)] += 1
        hour = ct // 3_600_000  # = int(created // 3600) for a sane ct (a test holds them)
        hours = g.created_hours
        hours[hour] = hours.get(hour, 0) + 1
        if orphan:
            hours = g.orphan_hours
            hours[hour] = hours.get(hour, 0) + 1
        if g.oldest_created is None or created < g.oldest_created:
            g.oldest_created = created
        if g.newest_created is None or created > g.newest_created:
            g.newest_created = created
        if mi is not None:
            g.lifetimes[mi] = g.lifetimes.get(mi, 0) + 1
            if mi >= 0 and last + mi < now:
                g.expired += 1
                # _example inline: most sessions of a leak are expired, the examples full
                ex = g.examples.get("expired")
                if ex is None or len(ex) < EXAMPLES:
                    g.example("expired", show_key(k))

    def ttl_age(self, g: GroupAgg, k: bytes, ttl: int, empty: bool) -> None:
        if ttl >= 0:
            g.infer_from_ttl(ttl, empty)
        elif self.idle_ok:
            def cb(r: Any) -> None:
                if isinstance(r, int):
                    g.add_idle(r, empty)
                else:
                    self.idle_ok = False
                    g.add_idle(-1, empty)
                    self.res.notes.append(f"OBJECT IDLETIME refused ({_short(r)}): sessions "
                                          "without TTL have no age")
            self.deferred.append(((b"OBJECT", b"IDLETIME", k), cb))
        else:
            g.add_idle(-1, empty)

    def on_string(self, k: bytes, g: GroupAgg, pttl: Any, v: Any, mem: Any) -> None:
        if isinstance(v, ReplyError):
            self.other(k, "wrongtype")
            return
        if not isinstance(pttl, int) or pttl == -2 or v is None:
            return  # gone between SCAN and now
        if mem is not None:
            self.on_memory(g, "session")(mem)
        self.string_session(g, k, g.profile, pttl, v)

    def string_session(self, g: GroupAgg, k: bytes, prof: str, pttl: int, v: bytes) -> None:
        now = self.p.now
        g.sessions += 1
        g.bytes += len(v)
        g.add_ttl(pttl)
        # What a short value's bytes say (its format, and whether it is empty when that
        # takes no decode), remembered: many sessions hold the same bytes (every cookieless
        # beego session is the same 20-byte gob)
        facts = self.value_facts.get((prof, v)) if len(v) <= VALUE_FACTS_BYTES else None
        fmt = facts[0] if facts is not None else P.sniff(v)
        g.formats[fmt] = g.formats.get(fmt, 0) + 1
        truncated = len(v) >= MAX_VALUE
        if truncated:
            g.oversized += 1

            def fix(r: Any, g: GroupAgg = g, n: int = len(v)) -> None:
                if isinstance(r, int):
                    g.bytes += r - n
            self.deferred.append(((b"STRLEN", k), fix))
        if prof == "connect-redis" and fmt == "json" and not truncated:
            self.cookie_session(g, k, pttl, v, now)
            return
        entries = None
        dec = self.decoders.get(prof)
        if not truncated and (self.p.deep or g.decoded + g.undecodable < self.p.sample):
            try:
                entries = dec(v) if dec is not None else P.decode_string_session(v, fmt)
                g.decoded += 1
            except DecodeError as exc:
                g.undecodable += 1
                g.add_reason(exc.reason)
                _example(g, "undecodable", k)
        if entries is None and facts is not None:
            empty = facts[1]
        else:
            empty = P.string_empty(prof, v, entries)
            if entries is None and len(v) <= VALUE_FACTS_BYTES \
                    and len(self.value_facts) < VALUE_FACTS:
                self.value_facts[(prof, v)] = (fmt, empty)
        if empty is None:
            try:
                entries = dec(v) if dec is not None else P.decode_string_session(v, fmt)
                empty = P.string_empty(prof, v, entries)
            except DecodeError:
                empty = False
        if empty:
            g.empty += 1
            g.orphans += 1
        if entries:
            g.add_principal(P.principal_of(entries, prof))
        self.ttl_age(g, k, pttl, bool(empty))

    def cookie_session(self, g: GroupAgg, k: bytes, pttl: int, v: bytes, now: float) -> None:
        c = P.CookieFacts(v)
        if not c.ok:
            g.undecodable += 1
            g.add_reason("not a JSON object")
            _example(g, "undecodable", k)
            self.ttl_age(g, k, pttl, False)
            return
        g.decoded += 1
        if c.empty:
            g.empty += 1
            g.orphans += 1
        g.add_principal(c.principal)
        oma = c.original_max_age
        if oma:
            g.lifetimes[int(oma)] = g.lifetimes.get(int(oma), 0) + 1
        if c.expires is not None and c.expires < now:
            g.expired += 1
            _example(g, "expired", k)
        if c.empty and c.expires is not None and oma:
            written = c.expires - oma  # an uninitialised session is written once: its birth
            if SANE_SINCE_MS / 1000 <= written <= now + SANE_AHEAD_S:
                h = int(written // 3600)
                g.orphan_hours[h] = g.orphan_hours.get(h, 0) + 1
            else:  # e.g. originalMaxAge 1e300: a birth no date can show
                g.bad_timestamps += 1
                _example(g, "bad_timestamps", k)
        if oma and pttl >= 0:
            age = max(0.0, oma - pttl / 1000.0)  # touch() resets the TTL to originalMaxAge
            g.add_age(age, self.p.age_edges, "cookie")
            g.add_access(now - age)
        elif oma and c.expires is not None:
            age = max(0.0, now - (c.expires - oma))
            g.add_age(age, self.p.age_edges, "cookie")
            g.add_access(now - age)
        else:
            self.ttl_age(g, k, pttl, c.empty)

    def on_shadow(self, k: bytes, g: GroupAgg, r: list) -> None:
        pttl = r[0]
        if not isinstance(pttl, int) or pttl == -2:
            return
        g.shadow += 1
        if pttl == -1:
            g.shadow_no_ttl += 1
        if self.inline_exists:
            exists = r[1]
            if len(r) > 2:
                self.on_memory(g, "shadow")(r[2])
            if isinstance(exists, int):
                g.shadow_checked += 1
                if exists == 0:
                    g.shadow_without_session += 1
                    _example(g, "shadow_without_session", k)
            return
        if len(r) > 1:
            self.on_memory(g, "shadow")(r[1])
        ns = g.namespace
        session_key = ns.encode() + b":sessions:" + k[len(ns.encode()) + 18:]

        def cb(x: Any, g: GroupAgg = g, k: bytes = k) -> None:
            if isinstance(x, int):
                g.shadow_checked += 1
                if x == 0:
                    g.shadow_without_session += 1
                    _example(g, "shadow_without_session", k)
        self.exists_check(session_key, cb)

    def on_expirations(self, k: bytes, g: GroupAgg, r: list) -> None:
        pttl, n = r[0], r[1]
        if not isinstance(n, int) or not isinstance(pttl, int) or pttl == -2:
            if isinstance(n, ReplyError):
                self.other(k, "wrongtype")
            return
        if len(r) > 2:
            self.on_memory(g, "expirations")(r[2])
        g.exp_sets += 1
        g.exp_members += n
        minute_ms = int(k[-13:])
        if pttl == -1:
            g.exp_no_ttl += 1
            g.example("expirations_no_ttl", k.decode("utf-8", "replace"))
        if minute_ms < (self.p.now - 120) * 1000:
            g.exp_past += 1
            g.example("expirations_past", k.decode("utf-8", "replace"))
        g.exp_oldest_minute = minute_ms if g.exp_oldest_minute is None else min(
            g.exp_oldest_minute, minute_ms)

    def on_index(self, k: bytes, g: GroupAgg, r: list) -> None:
        pttl, n = r[0], r[1]
        if not isinstance(n, int):
            if isinstance(n, ReplyError):
                self.other(k, "wrongtype")
            return
        if not isinstance(pttl, int) or pttl == -2:
            return
        ns = g.namespace
        g.index_sets += 1
        g.index_members += n
        if pttl == -1:
            g.index_no_ttl += 1
        prefix = ns.encode() + b":index:" + P.PRINCIPAL_INDEX + b":"
        g.add_principal(k[len(prefix):].decode("utf-8", "replace"))
        if n <= 0:
            return
        cmd = (b"SMEMBERS", k) if n <= INDEX_SAMPLE else (b"SRANDMEMBER", k, str(INDEX_SAMPLE))
        session_prefix = ns.encode() + b":sessions:"

        def members(m: Any, g: GroupAgg = g) -> None:
            if not isinstance(m, list):
                return
            for member in m:
                sid = _java_or_plain_string(member)
                if sid is None:
                    continue

                def alive(x: Any, g: GroupAgg = g) -> None:
                    if isinstance(x, int):
                        g.index_sampled += 1
                        if x == 0:
                            g.index_dead_sampled += 1
                self.exists_check(session_prefix + sid.encode(), alive)
        self.deferred.append((cmd, members))

    def on_generic(self, k: bytes, g: GroupAgg, r: list) -> None:
        typ, pttl, v = r[0], r[1], r[2]
        if not isinstance(pttl, int) or pttl == -2 or isinstance(typ, ReplyError):
            return
        t = typ.decode() if isinstance(typ, bytes) else str(typ)
        if t == "none":
            return
        if len(r) > 3:
            self.on_memory(g, "session")(r[3])
        if t == "string" and isinstance(v, bytes):
            self.string_session(g, k, "generic", pttl, v)
            return
        g.sessions += 1
        g.add_ttl(pttl)
        g.formats[t] = g.formats.get(t, 0) + 1
        self.ttl_age(g, k, pttl, False)

    def on_unknown(self, k: bytes, typ: Any, head: Any) -> None:
        t = typ.decode() if isinstance(typ, bytes) else "?"
        if t == "none":
            return
        if t == "string" and isinstance(head, bytes):
            prof = _sniff_profile(k, head)
            if prof:
                ns = P.namespace_of(k)
                g = self.group(prof, ns)
                _example(g, "detected_by_value", k)

                state: dict[str, Any] = {}

                def on_pttl(r: Any) -> None:
                    state["pttl"] = r

                def on_value(r: Any, g: GroupAgg = g, k: bytes = k, prof: str = prof) -> None:
                    pttl = state.get("pttl")
                    if isinstance(r, bytes) and isinstance(pttl, int) and pttl != -2:
                        self.string_session(g, k, prof, pttl, r)
                self.deferred.append(((PTTL, k), on_pttl))
                self.deferred.append(((GETRANGE, k, ZERO, MAXV_1), on_value))
                if self.want_memory(prof, ns, "session"):
                    self.deferred.append(((b"MEMORY", b"USAGE", k), self.on_memory(g, "session")))
                return
        self.other(k, t)

    def other(self, k: bytes, t: str) -> None:
        # (DumpScanner._unknown repeats this inline)
        res = self.res
        res.other_keys += 1
        by_type = res.other_by_type
        by_type[t] = by_type.get(t, 0) + 1
        i = k.find(b":")
        pre = _prefix(k[:i]) if i > 0 else "(no prefix)"
        prefixes = res.other_prefixes
        if pre in prefixes or len(prefixes) < 1000:
            prefixes[pre] = prefixes.get(pre, 0) + 1


_PREFIXES: dict[bytes, str] = {}


def _prefix(b: bytes) -> str:
    """A key prefix as text (remembered: a keyspace has few)."""
    s = _PREFIXES.get(b)
    if s is None:
        s = b.decode("utf-8", "replace")
        if len(_PREFIXES) < 10_000:
            _PREFIXES[b] = s
    return s


SNIFF_MEMO = 20_000  # (head, key words held) answers _sniff_profile remembers
SNIFF_MEMO_BYTES = 256  # (heads up to the live scan's GETRANGE 0 255)


def _sniff_profile(k: bytes, head: bytes) -> str | None:
    """Profile of a key no fingerprint names, from its value (distinctive encodings only).

    The answer is remembered per (head, which of the sniffers' declared key words the key
    holds) when every sniffer declares them: a keyspace's unnamed strings (caches, counters)
    repeat a few heads under millions of names. `_sniff_all` is the reference (a test holds
    the two together)."""
    words = SNIFF_KEY["words"]
    if words is None or len(head) > SNIFF_MEMO_BYTES:
        return _sniff_all(k, head)
    low = k.lower()
    bits = 0
    for i, w in enumerate(words):
        if low.find(w) >= 0:
            bits |= 1 << i
    memo = SNIFF_KEY["memo"]
    mk = (head, bits)
    prof = memo.get(mk, memo)
    if prof is memo:
        prof = _sniff_all(k, head)
        if len(memo) < SNIFF_MEMO:
            memo[mk] = prof
    return prof  # type: ignore[return-value]


def _sniff_all(k: bytes, head: bytes) -> str | None:
    """_sniff_profile, running every sniffer."""
    low = k.lower()
    fmt = P.sniff(head)
    for profile, sniff in VALUE_SNIFFERS:
        if sniff(low, head, fmt):
            return profile
    return None


def _java_or_plain_string(m: Any) -> str | None:
    if not isinstance(m, bytes):
        return None
    from sessdiag.codecs.javaser import string_value

    s = string_value(m)
    if s is not None:
        return s
    if m[:1] == b'"' and m[-1:] == b'"':
        return m[1:-1].decode("utf-8", "replace")
    try:
        return m.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _example(g: GroupAgg, kind: str, k: bytes) -> None:
    """g.example(kind, show_key(k)), the key shown only while the examples have room: most
    calls (every expired session, say) come when they have none."""
    if len(g.examples.get(kind, ())) < EXAMPLES:
        g.example(kind, show_key(k))



def _short(r: Any) -> str:
    return " ".join(str(r).split())[:120]


def open_conn(target: RedisTarget) -> RedisConn:
    return RedisConn(target)
