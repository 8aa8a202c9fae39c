"""Mergeable aggregates of a Redis scan: one `GroupAgg` per (profile, namespace) per node.

Like `sessdiag.census.Census`, partial aggregates from SCAN slices, cluster primaries or
processes merge exactly: counts add, histograms add bucket-wise, timelines add hour-wise,
principal sets unite (capped), min/max combine. Ages that can only be inferred from a TTL
and a lifetime are kept as exact TTL counts and resolved once the lifetime is known.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

TTL_EDGES = (60, 3600, 86400, 7 * 86400, 30 * 86400)
PRINCIPALS_CAP = 20_000
EXAMPLES = 3
TTL_COUNTER_CAP = 200_000  # distinct TTL seconds kept exactly; beyond it, minute resolution

_SUM_FIELDS = (
    "sessions", "bytes", "expired", "empty", "orphans", "no_ttl", "undecodable", "decoded",
    "oversized", "mem_sum", "mem_n", "created_n", "shadow", "shadow_no_ttl",
    "shadow_without_session", "shadow_checked", "shadow_mem_sum", "shadow_mem_n", "exp_sets",
    "exp_no_ttl", "exp_past", "exp_members", "exp_mem_sum", "exp_mem_n", "index_sets",
    "index_members", "index_sampled", "index_dead_sampled", "index_no_ttl", "zset_keys",
    "zset_members", "other_companions", "foreign", "future", "bad_timestamps",
)


def _add_dict(a: dict, b: dict) -> None:
    for k, v in b.items():
        a[k] = a.get(k, 0) + v


def _mn(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def _mx(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


@dataclass
class GroupAgg:
    profile: str
    namespace: str
    n_age: int = 6
    sessions: int = 0
    bytes: int = 0
    expired: int = 0
    empty: int = 0
    orphans: int = 0
    no_ttl: int = 0
    undecodable: int = 0
    decoded: int = 0
    oversized: int = 0
    future: int = 0
    bad_timestamps: int = 0  # Spring times outside the sane window: aged by TTL instead
    foreign: int = 0  # keys named like this profile whose type or value is not a session
    reasons: dict = field(default_factory=dict)
    formats: dict = field(default_factory=dict)
    ttl_hist: list = field(default_factory=list)  # TTL_EDGES buckets + older
    age_hist: list = field(default_factory=list)  # recorded ages (age edges + older)
    created_hist: list = field(default_factory=list)
    created_n: int = 0
    age_sources: dict = field(default_factory=dict)
    created_hours: dict = field(default_factory=dict)  # epoch hour -> sessions created
    orphan_hours: dict = field(default_factory=dict)  # epoch hour -> never-reused created
    ttl_counts: dict = field(default_factory=dict)  # ttl s -> sessions (ages from TTL)
    ttl_empty_counts: dict = field(default_factory=dict)
    ttl_quantized: bool = False
    idle_counts: dict = field(default_factory=dict)  # idle s -> sessions without TTL
    idle_empty_counts: dict = field(default_factory=dict)
    lifetimes: dict = field(default_factory=dict)  # recorded lifetime s -> sessions
    max_ttl: int | None = None
    oldest_access: float | None = None
    newest_access: float | None = None
    oldest_created: float | None = None
    newest_created: float | None = None
    mem_sum: int = 0
    mem_n: int = 0
    principals: set = field(default_factory=set)
    principals_capped: bool = False
    examples: dict = field(default_factory=dict)
    # Spring companions.
    shadow: int = 0
    shadow_no_ttl: int = 0
    shadow_without_session: int = 0
    shadow_checked: int = 0
    shadow_mem_sum: int = 0
    shadow_mem_n: int = 0
    exp_sets: int = 0
    exp_no_ttl: int = 0
    exp_past: int = 0
    exp_members: int = 0
    exp_mem_sum: int = 0
    exp_mem_n: int = 0
    exp_oldest_minute: int | None = None
    index_sets: int = 0
    index_members: int = 0
    index_sampled: int = 0
    index_dead_sampled: int = 0
    index_dead_est: float = 0.0
    index_no_ttl: int = 0
    zset_keys: int = 0
    zset_members: int = 0
    other_companions: int = 0

    def __post_init__(self) -> None:
        if not self.ttl_hist:
            self.ttl_hist = [0] * (len(TTL_EDGES) + 1)
        if not self.age_hist:
            self.age_hist = [0] * self.n_age
        if not self.created_hist:
            self.created_hist = [0] * self.n_age

    # -- recording --------------------------------------------------------------------------
    def example(self, kind: str, key: str) -> None:
        lst = self.examples.setdefault(kind, [])
        if len(lst) < EXAMPLES:
            lst.append(key)

    def add_ttl(self, ttl_ms: int) -> None:
        if ttl_ms < 0:
            self.no_ttl += 1
            return
        s = -(-ttl_ms // 1000)  # whole seconds, rounded up: EX 3600 reads back as 3600
        self.ttl_hist[bisect_left(TTL_EDGES, s)] += 1
        if self.max_ttl is None or s > self.max_ttl:
            self.max_ttl = s

    def infer_from_ttl(self, ttl_ms: int, empty: bool) -> None:
        """Age = lifetime − TTL, resolved in `finish` once the lifetime is known."""
        s = -(-ttl_ms // 1000)  # ceil: a fresh key with TTL L shows L*1000-ε ms
        if self.ttl_quantized:
            s = s // 60 * 60
        self.ttl_counts[s] = self.ttl_counts.get(s, 0) + 1
        if empty:
            self.ttl_empty_counts[s] = self.ttl_empty_counts.get(s, 0) + 1
        if len(self.ttl_counts) > TTL_COUNTER_CAP and not self.ttl_quantized:
            self._quantize()

    def add_ttl_inferring(self, ttl_ms: int, empty: bool) -> None:
        """add_ttl then infer_from_ttl, for a TTL >= 0 (a session aged by its TTL): one call,
        the seconds rounded once."""
        s = -(-ttl_ms // 1000)
        self.ttl_hist[bisect_left(TTL_EDGES, s)] += 1
        if self.max_ttl is None or s > self.max_ttl:
            self.max_ttl = s
        if self.ttl_quantized:
            s = s // 60 * 60
        counts = self.ttl_counts
        counts[s] = counts.get(s, 0) + 1
        if empty:
            counts = self.ttl_empty_counts
            counts[s] = counts.get(s, 0) + 1
        if len(self.ttl_counts) > TTL_COUNTER_CAP and not self.ttl_quantized:
            self._quantize()

    def _quantize(self) -> None:
        self.ttl_quantized = True
        for name in ("ttl_counts", "ttl_empty_counts"):
            q: dict[int, int] = {}
            for k, v in getattr(self, name).items():
                q[k // 60 * 60] = q.get(k // 60 * 60, 0) + v
            setattr(self, name, q)

    def add_idle(self, idle_s: int, empty: bool) -> None:
        self.idle_counts[idle_s] = self.idle_counts.get(idle_s, 0) + 1
        if empty:
            self.idle_empty_counts[idle_s] = self.idle_empty_counts.get(idle_s, 0) + 1

    def add_age(self, age_s: float, edges: tuple[int, ...], source: str) -> None:
        self.age_hist[bisect_left(edges, age_s)] += 1
        self.age_sources[source] = self.age_sources.get(source, 0) + 1

    def add_access(self, ts: float) -> None:
        self.oldest_access = _mn(self.oldest_access, ts)
        self.newest_access = _mx(self.newest_access, ts)

    def add_created(self, ts: float, now: float, edges: tuple[int, ...], orphan: bool) -> None:
        self.created_n += 1
        self.created_hist[bisect_left(edges, max(0.0, now - ts))] += 1
        h = int(ts // 3600)
        self.created_hours[h] = self.created_hours.get(h, 0) + 1
        if orphan:
            self.orphan_hours[h] = self.orphan_hours.get(h, 0) + 1
        self.oldest_created = _mn(self.oldest_created, ts)
        self.newest_created = _mx(self.newest_created, ts)

    def add_principal(self, p: str | None) -> None:
        if p is None:
            return
        if len(self.principals) < PRINCIPALS_CAP:
            self.principals.add(p)
        elif p not in self.principals:
            self.principals_capped = True

    def add_reason(self, reason: str) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    # -- merging ----------------------------------------------------------------------------
    def merge(self, o: GroupAgg) -> GroupAgg:
        for name in _SUM_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(o, name))
        self.index_dead_est += o.index_dead_est
        for name in ("ttl_hist", "age_hist", "created_hist"):
            setattr(self, name, [a + b for a, b in zip(getattr(self, name), getattr(o, name),
                                                       strict=True)])
        if o.ttl_quantized and not self.ttl_quantized:
            self._quantize()
        for name in ("reasons", "formats", "age_sources", "created_hours", "orphan_hours",
                     "ttl_counts", "ttl_empty_counts", "idle_counts", "idle_empty_counts",
                     "lifetimes"):
            _add_dict(getattr(self, name), getattr(o, name))
        if self.ttl_quantized and not o.ttl_quantized:
            self._quantize()
        self.max_ttl = _mx(self.max_ttl, o.max_ttl)
        self.oldest_access = _mn(self.oldest_access, o.oldest_access)
        self.newest_access = _mx(self.newest_access, o.newest_access)
        self.oldest_created = _mn(self.oldest_created, o.oldest_created)
        self.newest_created = _mx(self.newest_created, o.newest_created)
        self.exp_oldest_minute = _mn(self.exp_oldest_minute, o.exp_oldest_minute)
        for p in o.principals:
            self.add_principal(p)
        self.principals_capped = self.principals_capped or o.principals_capped
        for kind, keys in o.examples.items():
            for k in keys:
                self.example(kind, k)
        return self


@dataclass
class NodeResult:
    """What one node's scan yields: groups, key counts by type, notes, server facts."""

    location: str
    groups: dict = field(default_factory=dict)  # (profile, namespace) -> GroupAgg
    keys_seen: int = 0
    dbsize: int | None = None
    other_keys: int = 0
    other_by_type: dict = field(default_factory=dict)
    other_prefixes: dict = field(default_factory=dict)
    commands: int = 0
    rounds: int = 0
    duration_s: float = 0.0
    notes: list = field(default_factory=list)
    server: dict = field(default_factory=dict)
    memory_denied: bool = False
    config_denied: bool = False
    notify_keyspace_events: str | None = None
    scan_count_final: int = 0

    def group(self, profile: str, namespace: str, n_age: int) -> GroupAgg:
        key = (profile, namespace)
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = GroupAgg(profile, namespace, n_age)
        return g


def show_key(k: bytes) -> str:
    """A key for a report: session ids are credentials, so only their first 8 characters."""
    s = k.decode("utf-8", "replace")
    i = max(s.rfind(":"), -1) + 1
    sid = s[i:]
    if len(sid) > 12:
        return s[:i] + sid[:8] + "…"
    return s
