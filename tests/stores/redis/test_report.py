"""Redis report pieces: hourly rates cost their buckets, never the span between them."""

from __future__ import annotations

import tracemalloc

from sessdiag.stores.redis.report import _rate


def test_rate_of_a_bogus_hour_is_bucket_bounded() -> None:
    hours = {490_000: 3, 490_001: 4, 490_002: 5, 10_000_000: 1}
    tracemalloc.start()
    try:
        r = _rate(hours)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # the dense list of the span was 80 MB
    assert r is not None
    assert r["hours"] == 10_000_000 - 490_000 + 1
    assert r["per_hour_floor"] == 0 and r["per_hour_median"] == 0


def test_rate_without_gaps() -> None:
    r = _rate({10: 1, 11: 6, 12: 2, 13: 9, 14: 1})
    assert r is not None
    assert (r["per_hour_floor"], r["per_hour_median"], r["hours"]) == (2, 6, 5)
    assert _rate({10: 1, 11: 1})["per_hour_median"] is None  # type: ignore[index]
