"""The Redis scan reports progress through the plain `progress(n, total)` callable: keys seen,
and the expected total (INFO keyspace) before the first key. A store never looks behind the
callable (it used to dig into the CLI's progress bar, and a rename there hid the total)."""

from __future__ import annotations

from sessdiag.render.progress import StderrProgress
from sessdiag.stores import ScanSettings, open_store

KEYS = 137


def _fill(r) -> None:  # type: ignore[no-untyped-def]
    pipe = r.pipeline(transaction=False)
    for i in range(KEYS):
        pipe.set(f"PHPREDIS_SESSION:{i:026d}", b"a|i:1;", ex=3600)
    pipe.execute()


def test_total_and_counts_reach_a_plain_function(redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    _fill(r)
    calls: list[tuple[int, int | None]] = []

    def progress(n: int, total: int | None = None) -> None:
        calls.append((n, total))

    report = open_store(url).scan(ScanSettings(), progress)
    assert report["sessions"] == KEYS
    totals = [t for _, t in calls if t is not None]
    assert totals == [KEYS], calls
    assert calls[0] == (0, KEYS)  # announced before any key is counted
    assert sum(n for n, _ in calls) == KEYS


def test_the_terminal_counter_takes_the_total(redis_db, monkeypatch):  # type: ignore[no-untyped-def]
    url, r = redis_db
    _fill(r)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    with StderrProgress(True, {"scan": "scanning"}, unit="entries") as prog:
        open_store(url).scan(ScanSettings(), prog.callback())
        task = prog.bar.tasks[0]
    assert task.total == KEYS and task.completed == KEYS
    assert f"≈{KEYS}" in task.description
