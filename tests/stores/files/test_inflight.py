"""The engine: fanned-out lstats give what os.lstat gives, in order; statistics add up."""

from __future__ import annotations

import errno
import os
import threading

import pytest

from sessdiag.core.errors import UsageError
from sessdiag.stores.files.inflight import Engine, EngineSettings, WalkStats


def _dir(tmp_path, n=300):
    d = tmp_path / "d"
    d.mkdir()
    for i in range(n):
        (d / f"f{i:04d}").write_bytes(b"x" * i)
    return d


@pytest.mark.parametrize("fanout", ["always", "never", "auto"])
def test_lstats_in_listing_order_with_errors_where_they_happened(tmp_path, fanout):
    d = _dir(tmp_path)
    names = sorted(os.listdir(d))
    names.insert(7, "gone")
    eng = Engine(EngineSettings(fanout=fanout, max_inflight=8))
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        lstat = eng.lstats(fd, names)
        got = []
        for name in names:
            try:
                got.append(lstat(name, dir_fd=fd).st_size)
            except FileNotFoundError:
                got.append(None)
    finally:
        os.close(fd)  # the engine stats through its own dup: closing ours is always safe
    stats = eng.close()
    want = [None if n == "gone" else int(n[1:]) for n in names]
    assert got == want
    assert stats.fanout == (fanout == "always")
    assert stats.inflight_max <= 8


def test_fanned_out_reads_refuse_a_name_out_of_order(tmp_path):
    d = _dir(tmp_path, 4)
    eng = Engine(EngineSettings(fanout="always"))
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        lstat = eng.lstats(fd, ["f0000", "f0001", "f0002"])
        lstat("f0000")
        with pytest.raises(RuntimeError):
            lstat("f0002")
    finally:
        os.close(fd)
        eng.close()


def test_map_keeps_order_and_counts_every_operation(tmp_path):
    eng = Engine(EngineSettings(fanout="always", max_inflight=4))
    out = list(eng.map(lambda x: x * x, list(range(100))))
    assert out == [x * x for x in range(100)]
    st = eng.close()
    assert st.ops == 100 and sum(st.hist.values()) == 100
    assert 1 <= st.inflight_max <= 4


def test_inline_operations_are_counted_untimed(tmp_path):
    eng = Engine(EngineSettings(fanout="never"))
    assert eng.inline
    for _ in range(3):
        eng.op(os.lstat, str(tmp_path))
    eng.counted(5)  # a caller's own loop of inline operations
    st = eng.close()
    assert (st.ops, st.untimed, st.hist) == (0, 8, {})

def test_fixed_limit_never_adapts_and_bad_caps_are_usage_errors():
    eng = Engine(EngineSettings(fixed=3))
    assert eng.limiter.current == 3 and eng.fixed
    eng.close()
    with pytest.raises(UsageError):
        Engine(EngineSettings(max_inflight=0))


def test_walk_stats_merge_and_percentiles():
    a, b = WalkStats(), WalkStats()
    for _ in range(90):
        a.add(0.001, 2)  # 1 ms
    for _ in range(10):
        b.add(0.010, 6)  # 10 ms
    b.untimed = 50
    a.merge(b)
    rep = a.report(files=75)
    assert rep["operations"] == 150 and rep["ops_per_file"] == 2.0
    assert 900 < rep["latency_us"]["p50"] < 1100
    assert 9000 < rep["latency_us"]["p95"] < 11000
    assert rep["inflight"]["max"] == 6 and rep["inflight"]["mean"] == 2.4


class Boom(BaseException):
    """Not an Exception: what an `except Exception` on an engine thread would miss."""


def _watched(fn):
    """fn() on a thread of its own; a hang fails the test instead of hanging the suite (the
    bound is only ever reached by a broken engine)."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:
            out["error"] = exc

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(60)
    assert not th.is_alive(), "the engine hung"
    if "error" in out:
        raise out["error"]
    return out["value"]


def _one_thread_engine():
    # One engine thread, one slot: a slot leaked or the thread lost stalls everything after.
    return Engine(EngineSettings(fanout="always", fixed=1))


def test_an_operation_raising_anything_reaches_its_reader_and_the_thread_serves_on():
    eng = _one_thread_engine()

    def fn(x):
        if x == 7:
            raise Boom(x)
        return x * x

    got = []

    def read():
        for v in eng.map(fn, list(range(20))):
            got.append(v)

    with pytest.raises(Boom):
        _watched(read)
    assert got == [x * x for x in range(7)]
    # The same single thread runs the next batch: it survived, and the slot came back.
    assert _watched(lambda: list(eng.map(lambda x: x + 1, list(range(20))))) == \
        list(range(1, 21))
    st = eng.close()
    assert eng.inflight == 0
    assert st.ops == 40


def test_a_failing_close_reaches_the_reader_without_leaking_the_slot():
    eng = _one_thread_engine()

    def close():
        raise OSError(errno.EBADF, "Bad file descriptor")

    # The lstats path's batch: its clean-up (closing the dup'ed directory) fails.
    batch = eng._submit(list(range(20)), lambda x: x * 2, close)

    def read():
        return [batch.next() for _ in range(20)]

    with pytest.raises(RuntimeError, match="closing its descriptor") as info:
        _watched(read)
    assert isinstance(info.value.__cause__, OSError)  # not passed off as an item's own error
    assert _watched(lambda: list(eng.map(lambda x: -x, list(range(20))))) == \
        [-x for x in range(20)]
    eng.close()
    assert eng.inflight == 0
