"""The one pool: one worker policy, planning, and runners that agree and never hang."""

from __future__ import annotations

import os

import pytest

from sessdiag.core.errors import UsageError
from sessdiag.stores.files import pool
from sessdiag.stores.files.classify import Classifier
from sessdiag.stores.files.layout import beego_layout


def test_one_worker_policy(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert pool.choose_workers(True, None, None) == (32, "threads")
    assert pool.choose_workers(False, None, None) == (2, "processes")
    assert pool.choose_workers(False, None, None, writes=True) == (4, "processes")
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert pool.choose_workers(False, None, None, writes=True) == (8, "processes")
    assert pool.choose_workers(False, 3, "threads") == (3, "threads")
    with pytest.raises(UsageError):
        pool.choose_workers(False, 0, None)
    with pytest.raises(UsageError):
        pool.choose_workers(False, None, "fibers")


class _Sum:
    """A toy worker: sums its tasks; task -1 kills a forked worker without a word."""

    def __init__(self) -> None:
        self.total = 0

    def run(self, task: int) -> int:
        if task == -1:
            os._exit(9)
        self.total += task
        return 1

    def skip(self, task: int) -> None:
        pass

    def finish(self) -> list[int]:
        return [self.total]


def _run(tasks, jobs, model):
    seen = []
    out = pool.run(tasks, jobs=jobs, model=model, make_worker=lambda i: _Sum(),
                   new_total=lambda: [0], merge=lambda t, part: t.__setitem__(0, t[0] + part[0]),
                   progress=seen.append)
    return out, len(seen)


@pytest.mark.parametrize(("jobs", "model"), [(1, "processes"), (3, "threads"), (3, "processes")])
def test_runners_merge_every_task_once(jobs, model):
    out, progressed = _run(list(range(100)), jobs, model)
    assert out.total == [sum(range(100))] and progressed == 100 and out.lost == []


def test_a_dead_worker_is_reported_not_waited_for():
    out, _ = _run([1, 2, -1, 3], 2, "processes")
    assert len(out.lost) == 1 and "died" in out.lost[0]


def test_planning_lists_shards_and_stray_directories(tmp_path):
    root = tmp_path / "s"
    for rel in ("a/b", "a/c", "f/0", "xy/q", "a/zz"):
        (root / rel).mkdir(parents=True)
    (root / "README").write_bytes(b"")
    os.symlink("/", root / "e")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        clf = Classifier(beego_layout(), os.fstat(fd).st_dev)
        top, units = pool.plan_units(clf, fd)
        threaded, units2 = pool.plan_units(clf, fd, threads=4)
    finally:
        os.close(fd)
    assert [u.rel for u in units] == ["a/b", "a/c", "f/0", "xy", "a/zz"]
    assert units2 == units and threaded.events == top.events
    kinds = sorted((e[0], e[2]) for e in top.events)
    assert kinds == [("foreign", "README"), ("foreign", "a/zz"), ("foreign", "xy"),
                     ("symlinks", "e")]
    assert top.dirs == 3  # the root, a and f (xy is a unit: a worker walks it)
