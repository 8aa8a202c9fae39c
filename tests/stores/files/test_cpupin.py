"""cpupin: a fanning-out engine keeps every thread of the process on one CPU, and gives the
process its own affinity back when it closes."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest

from sessdiag.stores.files import cpupin
from sessdiag.stores.files.inflight import Engine, EngineSettings


def _affinities() -> dict[int, set[int]]:
    out = {}
    for t in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # ended meanwhile
            out[int(t)] = os.sched_getaffinity(int(t))
    return out


@pytest.fixture
def allowed(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    monkeypatch.delenv("SESSDIAG_PIN_CPU", raising=False)
    monkeypatch.setattr(cpupin, "_forbidden", False)
    before = os.sched_getaffinity(0)
    yield before
    assert cpupin._users == 0, "a pin was left behind"
    os.sched_setaffinity(0, before)


def test_current_cpu_is_an_allowed_cpu(allowed: set[int]) -> None:
    assert cpupin.current_cpu() in allowed


def test_fanning_out_pins_every_thread_and_close_restores(allowed: set[int],
                                                          tmp_path: Path) -> None:
    stop = threading.Event()
    # A thread that exists before the engine decides: it is pinned too.
    bystander = threading.Thread(target=stop.wait)
    bystander.start()
    try:
        eng = Engine(EngineSettings(fanout="always"))
        pinned = eng.stats.cpu
        if len(allowed) < 2:  # nothing to choose between: never pinned
            assert pinned is None
            assert eng.close().cpu is None
            return
        assert pinned in allowed
        for i in range(4):
            (tmp_path / f"f{i}").write_bytes(b"x")
        fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            names = sorted(os.listdir(tmp_path))
            look = eng.lstats(fd, names)
            assert [look(n, dir_fd=fd).st_size for n in names] == [1] * 4
        finally:
            os.close(fd)
        # The engine's own threads, the bystander and this one: all on the one CPU.
        assert set(map(frozenset, _affinities().values())) == {frozenset({pinned})}
        stats = eng.close()
        assert stats.cpu == pinned
        assert stats.report(4)["pinned_cpu"] == pinned
        assert os.sched_getaffinity(0) == allowed
        assert os.sched_getaffinity(bystander.native_id) == allowed  # type: ignore[arg-type]
    finally:
        stop.set()
        bystander.join()


def test_two_engines_share_the_pin_until_the_last_closes(allowed: set[int]) -> None:
    a = Engine(EngineSettings(fanout="always"))
    b = Engine(EngineSettings(fanout="always"))
    if len(allowed) < 2:
        assert a.stats.cpu is None and b.stats.cpu is None
    else:
        assert a.stats.cpu == b.stats.cpu is not None
    a.close()
    if len(allowed) >= 2:
        assert os.sched_getaffinity(0) == {b.stats.cpu}
    b.close()
    assert os.sched_getaffinity(0) == allowed


def test_local_disk_engine_never_pins(allowed: set[int]) -> None:
    eng = Engine(EngineSettings(fanout="never"))
    assert eng.stats.cpu is None
    eng.close()
    assert os.sched_getaffinity(0) == allowed


@pytest.mark.parametrize("why", ["env", "forked worker"])
def test_turned_off(allowed: set[int], monkeypatch: pytest.MonkeyPatch, why: str) -> None:
    if why == "env":
        monkeypatch.setenv("SESSDIAG_PIN_CPU", "0")
    else:
        cpupin.forbid()
    eng = Engine(EngineSettings(fanout="always"))
    assert eng.stats.cpu is None
    assert os.sched_getaffinity(0) == allowed
    eng.close()
