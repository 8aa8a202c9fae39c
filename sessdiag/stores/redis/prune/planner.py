"""The plan pass of a Redis prune: SCAN one node, read the facts each key's rule needs, decide.

Read-only (it runs on a replica too). One round is one pipeline: ``TIME`` (TTL deadlines are
absolute server times, so the apply pass can tell a TTL that was reset), the next ``SCAN``,
and the commands for the keys the previous SCAN returned. Which commands follow from the
key's name (profiles.classify) and its framework's rule (frameworks.leaks):

- Spring hash: ``PTTL``, ``HMGET lastAccessedTime maxInactiveInterval``;
- Spring shadow ``…:sessions:expires:<id>``: ``PTTL`` and ``EXISTS`` of its session;
- Spring ``…:expirations:<minute>``: ``PTTL`` (the minute is in the name);
- Spring principal index: ``SMEMBERS``, then ``EXISTS`` of each member's session;
- string sessions: ``OBJECT IDLETIME`` first (it does not touch the key, ``GET`` would reset
  it), ``PTTL``, and for connect-redis ``GET`` (``cookie.expires``).

Keys no fingerprint names are never judged (counted, left alone). A cross-slot check in a
Cluster (a shadow's session on another primary) goes to the node that owns the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from sessdiag.frameworks import DEFAULT_LIFETIME, leaks
from sessdiag.stores.redis import profiles as P
from sessdiag.stores.redis.nodes import NodeConns
from sessdiag.stores.redis.prune.plan import Decision, RedisTally
from sessdiag.stores.redis.resp import RedisConn, ReplyError, refusal
from sessdiag.stores.redis.scanner import _java_or_plain_string

SCAN_COUNT = 1000
LAST = b"lastAccessedTime"
MAXI = b"maxInactiveInterval"


class PlanContext:
    """What every node's planner shares: the clock, the scope, the lifetimes."""

    def __init__(self, now_ms: int, namespaces: tuple[str, ...], drop: tuple[str, ...],
                 max_lifetime: int | None, fix_ttl: bool, sample_k: int,
                 profile: str | None = None) -> None:
        self.now_ms = now_ms
        self.namespaces = frozenset(namespaces)
        self.drop = frozenset(drop)
        self.max_lifetime = max_lifetime
        self.fix_ttl = fix_ttl
        self.sample_k = sample_k
        # --profile: classify names every Spring key "spring-session" (either repository).
        self.profile = "spring-session" if profile == "spring-session-simple" else profile

    def lifetime(self, profile: str) -> int | None:
        return self.max_lifetime or DEFAULT_LIFETIME.get(profile)


class NodePlanner:
    def __init__(self, conns: NodeConns, node: int, ctx: PlanContext, tally: RedisTally,
                 out: list[Decision], tick: Callable[[int], bool]) -> None:
        self.conns = conns
        self.node = node
        self.conn: RedisConn = conns.node(node)
        self.ctx = ctx
        self.t = tally
        self.out = out
        self.tick = tick  # (keys seen) -> False to stop
        self.cluster = conns.topo.cluster
        # Follow-ups: (node index, command, callback), flushed after each round.
        self.deferred: list[tuple[int, tuple, Callable[[Any], None]]] = []

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> bool:
        """Plan the node; False when stopped early (then the plan is incomplete)."""
        cursor: bytes | None = b"0"
        keys: list[bytes] = []
        while cursor is not None or keys:
            cmds: list[tuple] = [(b"TIME",)]
            if cursor is not None:
                cmds.append((b"SCAN", cursor, b"COUNT", SCAN_COUNT))
            plan: list[tuple] = []
            for k in keys:
                self.plan_key(k, cmds, plan)
            replies = self.conn.pipeline(cmds)
            t = replies[0]
            if isinstance(t, ReplyError):
                raise refusal(self.conn.location, "TIME", t)
            server_ms = int(t[0]) * 1000 + int(t[1]) // 1000
            i = 1
            if cursor is not None:
                r = replies[1]
                if isinstance(r, ReplyError):
                    raise refusal(self.conn.location, "SCAN", r)
                cursor = r[0] if r[0] != b"0" else None
                new_keys = r[1]
                i = 2
            else:
                new_keys = []
            for _k, handler, n in plan:
                handler(server_ms, replies[i:i + n])
                i += n
            self.flush()
            if keys:
                self.t.keys_seen += len(keys)
                if not self.tick(len(keys)):
                    return False
            keys = new_keys
        return True

    def flush(self) -> None:
        for _ in range(8):  # a follow-up may ask for more (members -> EXISTS)
            if not self.deferred:
                return
            todo, self.deferred = self.deferred, []
            by_node: dict[int, list[tuple[tuple, Callable[[Any], None]]]] = {}
            for node, cmd, cb in todo:
                by_node.setdefault(node, []).append((cmd, cb))
            for node, items in by_node.items():
                conn = self.conns.node(node)
                for j in range(0, len(items), 5000):
                    part = items[j:j + 5000]
                    for (_c, cb), r in zip(part, conn.pipeline([c for c, _ in part]),
                                           strict=True):
                        cb(r)

    def exists_later(self, key: bytes, cb: Callable[[Any], None]) -> None:
        node = self.conns.topo.owner(key) if self.cluster else self.node
        self.deferred.append((node, (b"EXISTS", key), cb))

    # -- per key --------------------------------------------------------------------------
    def in_scope(self, ns: str) -> bool:
        return not self.ctx.namespaces or ns in self.ctx.namespaces

    def decide(self, d: Decision) -> None:
        d.node = self.node
        self.out.append(d)
        self.t.planned(d, self.ctx.sample_k)

    def plan_key(self, k: bytes, cmds: list, plan: list) -> None:
        kind, prof, ns = P.classify(k)
        if kind == P.UNKNOWN:
            ns = P.namespace_of(k)
        if ns in self.ctx.drop:
            cmds.append((b"PTTL", k))
            plan.append((k, self.on_drop(k, kind, prof, ns), 1))
            return
        if not self.in_scope(ns) or (self.ctx.profile and prof != self.ctx.profile):
            return
        if kind == P.SPRING:
            cmds.append((b"PTTL", k))
            cmds.append((b"HMGET", k, LAST, MAXI))
            plan.append((k, self.on_spring(k, prof, ns), 2))
        elif kind == P.SHADOW:
            cmds.append((b"PTTL", k))
            plan.append((k, self.on_shadow(k, prof, ns), 1))
        elif kind == P.EXPIRATIONS:
            cmds.append((b"PTTL", k))
            plan.append((k, self.on_expirations(k, prof, ns), 1))
        elif kind == P.INDEX:
            cmds.append((b"SMEMBERS", k))
            plan.append((k, self.on_index(k, prof, ns), 1))
        elif kind == P.STRING:
            rule = leaks.rule_kind(prof)
            cmds.append((b"OBJECT", b"IDLETIME", k))
            cmds.append((b"PTTL", k))
            n = 2
            if rule == "cookie":
                cmds.append((b"GET", k))
                n = 3
            plan.append((k, self.on_string(k, prof, ns, rule), n))
        else:
            self.t.count(self.t.not_judged, "unknown" if kind == P.UNKNOWN else "other "
                         "Spring companions")

    def on_drop(self, k: bytes, kind: int, prof: str, ns: str) -> Callable:
        is_session = kind in (P.SPRING, P.STRING)

        def h(server_ms: int, r: list) -> None:
            pttl = r[0]
            if not isinstance(pttl, int) or pttl == -2:
                return
            if is_session:
                self.t.sessions += 1
                self.t.group((prof, ns))["sessions"] += 1
            self.decide(Decision("del", "namespace" if is_session else "companion", k,
                                 "--drop-namespace", (prof or "unknown", ns),
                                 deadline=_deadline(server_ms, pttl)))
        return h

    def on_spring(self, k: bytes, prof: str, ns: str) -> Callable:
        def h(server_ms: int, r: list) -> None:
            pttl, vals = r
            if not isinstance(pttl, int) or pttl == -2 or not isinstance(vals, list):
                if isinstance(vals, ReplyError):
                    self.t.count(self.t.not_judged, "wrong type")
                return
            last_b, mi_b = vals
            self.t.sessions += 1
            self.t.group((prof, ns))["sessions"] += 1
            last = P._spring_number(last_b) if last_b is not None else None
            mi = P._spring_number(mi_b) if mi_b is not None else None
            if last is None or mi is None:
                self.t.count(self.t.not_judged, "Spring session without timestamps")
                return
            v = leaks.spring(self.ctx.now_ms, last, mi, pttl)
            self.verdict(v, k, prof, ns, server_ms, pttl, field=LAST, field_value=last_b)
        return h

    def verdict(self, v: leaks.Verdict, k: bytes, prof: str, ns: str, server_ms: int,
                pttl: int, **facts: Any) -> None:
        if v.action == leaks.DELETE:
            self.decide(Decision("del", "session", k, v.reason, (prof, ns),
                                 deadline=_deadline(server_ms, pttl), **facts))
        elif v.action == leaks.FIX_TTL:
            if self.ctx.fix_ttl:
                self.decide(Decision("fixttl", "session", k, v.reason, (prof, ns),
                                     deadline=-1, ttl_ms=max(1000, v.ttl_ms or 0), **facts))
            else:
                self.t.count(self.t.not_judged, "live without TTL (--fix-ttl gives one)")

    def on_shadow(self, k: bytes, prof: str, ns: str) -> Callable:
        nsb = k[:k.rfind(b":sessions:expires:")]
        session_key = nsb + b":sessions:" + k[len(nsb) + 18:]

        def h(server_ms: int, r: list) -> None:
            pttl = r[0]
            if not isinstance(pttl, int) or pttl == -2:
                return

            def alive(x: Any) -> None:
                if x == 0:
                    self.decide(Decision("del", "shadow", k, "session gone", (prof, ns),
                                         deadline=_deadline(server_ms, pttl),
                                         guard=session_key))
            self.exists_later(session_key, alive)
        return h

    def on_expirations(self, k: bytes, prof: str, ns: str) -> Callable:
        minute = int(k[-13:])

        def h(server_ms: int, r: list) -> None:
            pttl = r[0]
            if not isinstance(pttl, int) or pttl == -2:
                return
            if leaks.expirations_stale(self.ctx.now_ms, minute):
                self.decide(Decision("del", "expirations", k, "minute long past", (prof, ns),
                                     deadline=_deadline(server_ms, pttl)))
        return h

    def on_index(self, k: bytes, prof: str, ns: str) -> Callable:
        session_prefix = ns.encode() + b":sessions:"

        def h(server_ms: int, r: list) -> None:
            members = r[0]
            if not isinstance(members, list):
                return
            for m in members:
                sid = _java_or_plain_string(m)
                if sid is None:
                    self.t.count(self.t.not_judged, "index member not an id")
                    continue
                skey = session_prefix + sid.encode()

                def alive(x: Any, m: bytes = m, skey: bytes = skey) -> None:
                    if x == 0:
                        self.decide(Decision("srem", "index_member", k, "session gone",
                                             (prof, ns), member=m, guard=skey))
                self.exists_later(skey, alive)
        return h

    def on_string(self, k: bytes, prof: str, ns: str, rule: str) -> Callable:
        def h(server_ms: int, r: list) -> None:
            idle_r, pttl = r[0], r[1]
            if not isinstance(pttl, int) or pttl == -2:
                return
            if isinstance(idle_r, ReplyError):
                self.t.note(f"OBJECT IDLETIME refused ({_short(idle_r)}): sessions of "
                            "frameworks that record no access time are not judged")
            idle = idle_r if isinstance(idle_r, int) else None
            self.t.sessions += 1
            self.t.group((prof, ns))["sessions"] += 1
            life = self.ctx.lifetime(prof)
            facts: dict[str, Any] = {}
            if rule == "cookie":
                value = r[2]
                if not isinstance(value, bytes):
                    return
                c = P.CookieFacts(value)
                expires = int(c.expires * 1000) if c.ok and c.expires is not None else None
                facts["vsha"] = hashlib.sha1(value).hexdigest()
                if expires is None and life is None:
                    return
                v = leaks.cookie(self.ctx.now_ms, expires, pttl, idle, life or 0)
                if expires is None and v.action != leaks.KEEP and idle is not None:
                    facts["idle"] = idle
            else:
                if life is None:
                    self.t.count(self.t.not_judged, f"{prof}: no lifetime known "
                                 "(--max-lifetime)")
                    return
                v = leaks.idle(pttl, idle, life)
                if v.action != leaks.KEEP and idle is not None:
                    # Still idle at apply time, or the app touched it meanwhile.
                    facts["idle"] = idle
            self.verdict(v, k, prof, ns, server_ms, pttl, **facts)
        return h


def _deadline(server_ms: int, pttl: int) -> int:
    return -1 if pttl < 0 else server_ms + pttl


def _short(r: Any) -> str:
    return " ".join(str(r).split())[:120]
