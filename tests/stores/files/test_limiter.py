"""The adaptive in-flight limit: its control law, step by step, on made-up latencies."""

from __future__ import annotations

import pytest

from sessdiag.stores.files.limiter import (
    BACK_OFF,
    GROW,
    HOLD,
    PLATEAU,
    REBASE,
    Limiter,
    LimitSettings,
)

MS = 1e-3


def _lim(**kw) -> Limiter:
    return Limiter(LimitSettings(**{"initial": 16, "maximum": 256, "backoff": 0.5, **kw}))


def test_grows_fast_then_gently_while_latency_stays_at_the_baseline():
    lim = _lim()
    assert lim.decide(1.0 * MS) == GROW and lim.current == 24  # slow start: x1.5
    assert lim.decide(1.1 * MS) == GROW and lim.current == 36
    assert lim.decide(3.0 * MS) == BACK_OFF and lim.current == 18  # queueing: halve
    assert not lim.slow_start
    assert lim.decide(1.2 * MS) == GROW and lim.current == 22  # + sqrt(18)
    assert lim.baseline == 1.0 * MS  # the lowest median seen


def test_backs_off_while_its_own_load_is_the_cause():
    """The latency falls when the limit does: the back-off worked, keep it and grow slowly."""
    lim = _lim(initial=128)
    assert lim.decide(1.0 * MS) == GROW and lim.current == 192
    assert lim.decide(8.0 * MS) == BACK_OFF and lim.current == 96
    assert lim.decide(4.0 * MS) == BACK_OFF and lim.current == 48  # better, still queueing
    assert lim.decide(1.5 * MS) == GROW and lim.current == 54
    assert lim.baseline == 1.0 * MS


def test_a_slower_mount_is_rebased_after_one_back_off_that_did_not_help():
    lim = _lim(initial=64)
    lim.decide(1.0 * MS)
    lim.decide(1.0 * MS)
    before = lim.current
    assert lim.decide(5.0 * MS) == BACK_OFF and lim.current == before // 2
    assert lim.decide(5.1 * MS) == REBASE and lim.current == before // 2
    assert lim.baseline == 5.1 * MS and lim.slow_start
    assert lim.decide(5.0 * MS) == GROW and lim.current == int(before // 2 * 1.5)


def test_stays_within_its_bounds():
    lim = _lim(initial=200, maximum=256, minimum=2)
    lim.decide(1.0 * MS)
    lim.decide(1.0 * MS)
    assert lim.current == 256
    for k in range(20):
        lim.decide((100 + 50 * k) * MS)  # ever worse: back off (or rebase) every window
    assert lim.current >= 2
    assert _lim(initial=500, maximum=8).current == 8


def test_observe_decides_once_per_window_on_its_typical_latency():
    lim = _lim(initial=16, min_window=32)
    assert lim.window_size() == 32
    clock = iter(range(1000))  # a fake clock: one second per operation
    acts = [lim.observe(x * MS, next(clock)) for x in [1.0] * 15 + [2.0] * 14]
    assert acts == [None] * 29
    acts = [lim.observe(x * MS, next(clock)) for x in (50, 60)]  # the slowest tenth: noise
    assert acts == [None, None]
    assert lim.observe(2.0 * MS, next(clock)) == GROW
    assert lim.last_median == pytest.approx((15 * 1.0 + 13 * 2.0) / 28 * MS)
    assert lim.window_size() == 48  # two rounds of the new limit
    assert lim.last_rate == 32 / 31



def test_absorb_takes_a_chunk_only_when_no_window_closes_in_it():
    """The engine hands a chunk's latencies to absorb(), and only when it declines to
    observe() one by one: both limiters must end up in the same state, step by step."""
    one, many = _lim(min_window=32), _lim(min_window=32)
    lats = [(1.0 + (i % 7) * 0.3 + (i // 40) * 0.9) * MS for i in range(400)]
    chunks = [lats[i:i + 5] for i in range(0, len(lats), 5)]
    absorbed = declined = 0
    for t, chunk in enumerate(chunks):
        a1 = [a for x in chunk if (a := one.observe(x, float(t))) is not None]
        if many.absorb(chunk, float(t)):
            a2: list[str] = []
            absorbed += 1
        else:
            a2 = [a for x in chunk if (a := many.observe(x, float(t))) is not None]
            declined += 1
        assert a1 == a2
        assert (one.limit, one.baseline, one.last_rate, one._window, one._window_start) == \
            (many.limit, many.baseline, many.last_rate, many._window, many._window_start)
    assert absorbed > declined > 0
    assert many.absorb([], 99.0) and one.absorb([], 99.0)

def test_a_new_phase_forgets_the_baseline_not_the_limit():
    lim = _lim(initial=16)
    lim.decide(1 * MS)
    lim.new_phase()
    assert lim.baseline is None and lim.current == 24
    assert lim.decide(2.5 * MS) == GROW and lim.baseline == 2.5 * MS  # not a back-off


def test_a_growth_that_buys_no_throughput_is_undone():
    """Latency steady, but completions per second flat: our CPU (or the server's fixed
    thread pool) is the limit; more in flight would only queue."""
    lim = _lim(initial=32)
    assert lim.decide(1 * MS, rate=10_000) == GROW and lim.current == 48
    assert lim.decide(1 * MS, rate=14_000) == GROW and lim.current == 72  # +40 %: keep
    assert lim.decide(1 * MS, rate=14_100) == PLATEAU and lim.current == 48
    assert not lim.slow_start
    assert lim.decide(1 * MS, rate=14_000) == GROW and lim.current == 54  # probe again
    assert lim.decide(1 * MS, rate=None) == GROW  # no throughput known: latency alone


@pytest.mark.parametrize("latency", [0.2 * MS, 1 * MS, 60 * MS])
def test_steady_latency_converges_to_the_maximum(latency):
    """Whatever the mount's latency, while it does not climb the limit grows to its cap."""
    lim = _lim(maximum=128)
    for _ in range(40):
        lim.decide(latency)
    assert lim.current == 128


def test_queueing_that_buys_throughput_is_held_not_backed_off():
    """Latency over the tolerance while completions per second reach a new high: the
    queueing is paying (a server with more threads than it looked); hold. Once it stops
    paying, back off (by the default 0.7)."""
    lim = Limiter(LimitSettings(initial=64))
    assert lim.decide(1 * MS, rate=20_000) == GROW and lim.current == 96
    assert lim.decide(3 * MS, rate=30_000) == HOLD and lim.current == 96
    assert lim.decide(3 * MS, rate=30_500) == BACK_OFF and lim.current == 67
    assert lim.decide(1.5 * MS, rate=29_000) == GROW


def test_a_slower_mount_after_a_back_off_forgets_the_old_throughput():
    lim = Limiter(LimitSettings(initial=64))
    lim.decide(1 * MS, rate=50_000)
    assert lim.decide(5 * MS, rate=12_000) == BACK_OFF
    assert lim.decide(5 * MS, rate=9_000) == REBASE
    assert lim.best_rate == 9_000 and lim.baseline == 5 * MS
