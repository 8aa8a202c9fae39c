"""The command-rate cap: never ahead of rate × elapsed plus one pipeline."""

from __future__ import annotations

import time

from sessdiag.stores.redis.ratelimit import RateLimiter


def test_paces_to_the_rate() -> None:
    lim = RateLimiter(2000)
    t0 = time.monotonic()
    sent = 0
    for _ in range(20):
        lim.acquire(50)
        sent += 50
        assert sent <= 2000 * (time.monotonic() - t0) + 50 + 1
    elapsed = time.monotonic() - t0
    # 1000 commands at 2000/s: the last batch starts at 0.475 s.
    assert 0.45 <= elapsed < 0.8
    assert lim.batch_cap() == 100


def test_unlimited() -> None:
    lim = RateLimiter(None)
    t0 = time.monotonic()
    lim.acquire(10**9)
    assert time.monotonic() - t0 < 0.05 and lim.batch_cap() is None
