"""Group aggregates merge exactly, whatever the split (SCAN slices, cluster primaries)."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from sessdiag.stores.redis.census import GroupAgg

EDGES = (3600, 86400, 7 * 86400)


def _fill(g: GroupAgg, rows: list[tuple[int, bool, float, str]]) -> None:
    for ttl_ms, empty, age, principal in rows:
        g.sessions += 1
        g.add_ttl(ttl_ms)
        if ttl_ms >= 0:
            g.infer_from_ttl(ttl_ms, empty)
        g.add_age(age, EDGES, "recorded")
        g.add_created(1_700_000_000 - age, 1_700_000_000, EDGES, empty)
        g.add_principal(principal)
        g.empty += empty


def test_merge_equals_whole() -> None:
    rnd = random.Random(3)
    rows = [(rnd.choice([-1, rnd.randrange(0, 40 * 86400_000)]), rnd.random() < 0.4,
             rnd.uniform(0, 30 * 86400), f"u{rnd.randrange(50)}") for _ in range(2000)]
    whole = GroupAgg("p", "ns", len(EDGES) + 1)
    _fill(whole, rows)
    parts = [GroupAgg("p", "ns", len(EDGES) + 1) for _ in range(3)]
    for i, row in enumerate(rows):
        _fill(parts[i % 3], [row])
    merged = parts[0].merge(parts[1]).merge(parts[2])
    for name in ("sessions", "empty", "no_ttl", "ttl_hist", "age_hist", "created_hist",
                 "ttl_counts", "ttl_empty_counts", "created_hours", "orphan_hours", "max_ttl",
                 "oldest_created", "newest_created", "principals", "age_sources"):
        assert getattr(merged, name) == getattr(whole, name), name


def test_ttl_counter_is_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sessdiag.stores.redis.census as c

    monkeypatch.setattr(c, "TTL_COUNTER_CAP", 100)
    g = GroupAgg("p", "ns")
    for s in range(1000):
        g.infer_from_ttl(s * 1000, False)
    assert g.ttl_quantized and len(g.ttl_counts) <= 100 and sum(g.ttl_counts.values()) == 1000


@given(st.lists(st.tuples(st.integers(0, 40 * 86400_000), st.booleans()), max_size=60),
       st.sampled_from([4, 10, 200_000]))
def test_add_ttl_inferring_is_add_ttl_then_infer_from_ttl(rows, cap) -> None:  # type: ignore[no-untyped-def]
    """(cap: distinct TTL seconds kept exactly, quantized past it)"""
    from dataclasses import asdict

    from sessdiag.stores.redis import census

    old, census.TTL_COUNTER_CAP = census.TTL_COUNTER_CAP, cap
    try:
        one, two = GroupAgg("p", "ns"), GroupAgg("p", "ns")
        for ttl_ms, empty in rows:
            one.add_ttl_inferring(ttl_ms, empty)
            two.add_ttl(ttl_ms)
            two.infer_from_ttl(ttl_ms, empty)
        assert asdict(one) == asdict(two)
    finally:
        census.TTL_COUNTER_CAP = old
