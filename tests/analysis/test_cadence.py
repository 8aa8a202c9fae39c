"""Hourly series: results equal the dense computation, cost follows the buckets, not the span."""

from __future__ import annotations

import random
import statistics
import tracemalloc

import pytest

from sessdiag.analysis.cadence import full_hours, hourly_floor, median_with_zeros


def dense_floor(counts: dict[int, int]) -> dict | None:
    """The definition, spelled out over every hour of the span (small spans only)."""
    first, last = min(counts), max(counts)
    full = [counts.get(h, 0) for h in range(first + 1, last)]
    if len(full) < 3:
        return None
    level = min(full[-24:])
    if level <= 0:
        return {"median_per_hour": statistics.median(full), "full_hours": len(full),
                "hours": 0}
    start = len(full)
    while start > 0 and full[start - 1] >= level / 2:
        start -= 1
    stretch = full[start:]
    return {"median_per_hour": statistics.median(stretch), "full_hours": len(full),
            "hours": len(stretch), "since_hour": first + 1 + start,
            "floor_per_hour": min(stretch)}


@pytest.mark.parametrize("seed", range(40))
def test_sparse_matches_dense(seed: int) -> None:
    rng = random.Random(seed)
    base = 490_000
    counts: dict[int, int] = {}
    for _ in range(rng.randint(1, 80)):
        h = base + rng.randint(0, rng.choice((5, 30, 200)))
        counts[h] = counts.get(h, 0) + rng.choice((1, 2, 40, 60, 100))
    got = hourly_floor(counts)
    want = dense_floor(counts)
    if want is None:
        assert got is None
        return
    assert got is not None
    for k, v in want.items():
        assert got[k] == v, (k, counts)


@pytest.mark.parametrize(("present", "n"), [([], 3), ([1, 5], 2), ([1, 5], 3), ([2, 4, 9], 6),
                                            ([7], 1), ([3, 3, 8, 9], 4)])
def test_median_with_zeros(present: list[int], n: int) -> None:
    dense = [0] * (n - len(present)) + present
    assert median_with_zeros(present, n) == statistics.median(dense)


def test_one_bogus_year_costs_buckets_not_span() -> None:
    # A session "created" at 2^53 ms sits ~2.5e9 hours away from the others: a list per hour
    # of that span is 20 GB. Ten million hours (80 MB dense) is enough to tell the two apart.
    counts = {490_000 + i: 50 for i in range(30)}
    counts[10_000_000] = 1
    tracemalloc.start()
    try:
        fl = hourly_floor(counts)
        n_full, present = full_hours(counts)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
    assert n_full == 10_000_000 - 490_000 - 1
    assert present == [50] * 29
    assert fl is not None and fl["steady"] is False and fl["floor_per_hour"] == 0
    assert fl["median_per_hour"] == 0


def test_far_future_hour_shown_without_datetime_overflow() -> None:
    far = 2**53 // 3_600_000  # epoch hour of 2^53 ms: beyond datetime's year 9999
    counts = {far - 30 + i: 100 for i in range(31)}
    fl = hourly_floor(counts)
    assert fl is not None and fl["steady"] and fl["since"] == f"epoch hour {far - 29}"
