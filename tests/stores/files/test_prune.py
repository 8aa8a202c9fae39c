"""The prune engine: plan, safety checks, the deletion protocol, journal, quarantine."""

from __future__ import annotations

import fcntl
import json
import os
import time

import pytest

from sessdiag.core.errors import LockHeld, UsageError
from sessdiag.stores.files.prune import (
    PruneOptions,
    StopControl,
    engine,
    prune_file_store,
    read_journal,
    worker,
)


def _files(root: str) -> set[str]:
    out = set()
    for d, _dirs, files in os.walk(root):
        for f in files:
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out


def _dirs(root: str) -> set[str]:
    return {os.path.relpath(d, root) for d, _dirs, _files in os.walk(root)}


def _balanced(r: dict) -> bool:
    """Every expired session is accounted for exactly once."""
    return r["expired"] == (r["deleted"] + r["skipped_fresh"] + r["skipped_other"]
                            + r["vanished"] + r["errors"] + r["not_attempted"])


def test_dry_run_reports_and_changes_nothing(store, popts, snapshot):
    root, expired, _fresh = store(sessions=400, foreign=4, symlinks=2, fifos=1, misplaced=2)
    before = snapshot(root)
    res = prune_file_store(popts(root))
    r = res.report
    assert snapshot(root) == before
    assert res.exit_code == 0
    assert r["schema"] == "sessdiag.prune/1"
    assert r["dry_run"] is True and r["applied"] is False
    assert r["sessions"] == 400
    assert r["candidates"] == len(expired) == 200
    assert r["deleted"] == r["skipped_fresh"] == r["errors"] == r["bytes_freed"] == 0
    assert r["anomalies"]["symlinks"] == 2
    assert r["anomalies"]["misplaced"] == 2
    # 4 stray files (one an NFS silly-rename, foreign as for scan, with its own detail) + FIFO
    assert r["anomalies"]["foreign"] == 5
    assert r["anomalies"]["nfs_silly"] == 1
    assert len(r["sample"]) == 10 and set(r["sample"]) <= expired
    assert sum(b["count"] for b in r["age_spread"]["histogram"]) == 200
    assert r["clock"]["source"] == "not-probed"  # probing writes a file: --apply only
    assert r["lock"] is None  # a dry run takes no lock


def _dir_states(root: str) -> dict[str, tuple]:
    """Each directory's mtime, ctime and listing: what any write into it would change."""
    out = {}
    for d, _dirs, _files in os.walk(root):
        st = os.lstat(d)
        out[d] = (st.st_mtime_ns, st.st_ctime_ns, sorted(os.listdir(d)))
    return out


def test_dry_run_writes_nothing_not_even_a_clock_probe(store, popts):
    """README and --help promise a dry run changes nothing: no probe file in the root."""
    root, _expired, _fresh = store(sessions=200)
    past = time.time() - 86400
    os.utime(root, (past, past))  # any create+unlink in the root would move this to now
    before = _dir_states(root)
    res = prune_file_store(popts(root))
    assert res.exit_code == 0 and res.report["dry_run"] is True
    assert _dir_states(root) == before
    assert any("dry run" in w and "local clock" in w for w in res.report["warnings"])


@pytest.mark.parametrize(("jobs", "workers", "direct"), [
    (1, None, False), (1, None, True), (3, "threads", False), (2, "processes", False),
    (2, "processes", True),
])
def test_apply_deletes_exactly_the_expired_sessions(store, popts, snapshot, jobs, workers,
                                                    direct):
    root, expired, _fresh = store(sessions=600, foreign=4, symlinks=2, fifos=1, misplaced=2)
    before = snapshot(root)
    keep = {k: v for k, v in before.items() if k not in expired}
    dirs = _dirs(root)
    res = prune_file_store(popts(root, apply=True, jobs=jobs, workers=workers,
                                 direct_unlink=direct))
    r = res.report
    assert res.exit_code == 0, r
    assert r["deleted"] == len(expired) == 300
    assert r["skipped_fresh"] == r["errors"] == r["vanished"] == 0
    assert _balanced(r)
    assert r["bytes_freed"] == r["candidate_allocated_bytes"] > 0
    after = snapshot(root)
    assert after == keep  # fresh sessions and every anomaly untouched, byte for byte
    assert _dirs(root) == dirs  # shard directories are never removed, even when emptied
    assert not any(".sessdiag-" in f for f in _files(root))
    assert r["protocol"] == ("recheck+unlink" if direct else "recheck+rename+verify+unlink")


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_php_layouts(store, popts, depth):
    root, expired, fresh = store(sessions=300, profile="php-files", php_depth=depth, foreign=2)
    res = prune_file_store(popts(root, apply=True, profile="php-files", php_depth=depth,
                                 jobs=2, workers="processes"))
    assert res.report["deleted"] == len(expired) > 0
    left = {f for f in _files(root) if os.path.basename(f).startswith("sess_")}
    assert left == fresh


def test_detects_layout_without_profile(store, popts):
    root, expired, _fresh = store(sessions=200)
    res = prune_file_store(popts(root, profile=None, apply=True))
    assert res.report["target"]["profile"] == "beego-file"
    assert res.report["deleted"] == len(expired)


def test_upper_levels_listed_concurrently_as_serially(store, popts, monkeypatch):
    # With threads (latency-bound mounts) the directories above the shards are listed
    # concurrently: the units and the tally of those levels must not change.
    root, _expired, _fresh = store(sessions=300)
    with open(os.path.join(root, "README"), "w") as fh:
        fh.write("not a session")
    os.mkdir(os.path.join(root, "xy"))
    os.symlink("/etc", os.path.join(root, "e", "link"))
    with open(os.path.join(root, "c", "c0ffee" + "0" * 26), "w") as fh:
        fh.write("misplaced")
    seen = []
    real = engine.plan_units

    def both(plan, root_fd, parts, threads=1, partition=None):
        serial = real(plan, root_fd, parts, threads=1, partition=partition)
        concurrent = real(plan, root_fd, parts, threads=8, partition=partition)
        seen.append((serial, concurrent))
        return concurrent

    monkeypatch.setattr(engine, "plan_units", both)
    r = prune_file_store(popts(root, jobs=4, workers="threads")).report
    [((s_tally, s_units), (c_tally, c_units))] = seen
    assert c_units == s_units and len(s_units) == 256 + 1  # the shards, and the stray xy
    assert c_tally == s_tally
    assert s_tally.anomalies == {"foreign": 2, "symlinks": 1, "misplaced": 1}
    assert r["anomalies"]["misplaced"] == 1 and r["anomalies"]["symlinks"] == 1


def test_grace_keeps_sessions_just_past_max_age(store, popts):
    root, expired, fresh = store(sessions=200)
    # Every expired fixture session is 3660.5 s to 2 h old: a grace of 2 h keeps them all.
    res = prune_file_store(popts(root, apply=True, grace=7200))
    assert res.report["candidates"] == 0 and res.report["deleted"] == 0
    assert _files(root) >= expired | fresh


def _after_plan(monkeypatch, action):
    """Run `action()` between the plan pass and the apply pass (deterministic race)."""
    real = engine.apply_tasks

    def wrapper(*a, **kw):
        action()
        return real(*a, **kw)

    monkeypatch.setattr(engine, "apply_tasks", wrapper)


def test_recheck_skips_what_changed_since_the_plan(store, popts, monkeypatch):
    root, expired, _fresh = store(sessions=200)
    ex = sorted(expired)
    touched, recreated, replaced, gone = ex[:5], ex[5:7], ex[7:8], ex[8:9]

    def race():
        for rel in touched:  # the app read the session: beego's Chtimes(now)
            os.utime(os.path.join(root, rel))
        for rel in recreated:  # destroyed and re-created: new inode, even with an old mtime
            p = os.path.join(root, rel)
            st = os.stat(p)
            os.unlink(p)
            with open(p, "wb") as fh:
                fh.write(b"new")
            os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
        for rel in replaced:
            p = os.path.join(root, rel)
            os.unlink(p)
            os.symlink("/etc/passwd", p)
        for rel in gone:  # beego's own GC got there first
            os.unlink(os.path.join(root, rel))

    _after_plan(monkeypatch, race)
    r = prune_file_store(popts(root, apply=True)).report
    assert r["skipped_fresh"] == 7
    assert r["skip_reasons"] == {"replaced": 1}
    assert r["vanished"] == 1
    assert r["deleted"] == len(expired) - 9
    assert _balanced(r)
    left = _files(root)
    assert set(touched + recreated + replaced) <= left
    assert os.path.islink(os.path.join(root, replaced[0]))


def test_touch_between_recheck_and_rename_is_put_back(store, popts, monkeypatch):
    root, expired, _fresh = store(sessions=100)
    real_rename = os.rename
    hit: list[str] = []

    def rename(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
        if not hit and not src.startswith("."):
            hit.append(src)
            os.utime(src, dir_fd=src_dir_fd)  # the app's Chtimes lands in the window
        return real_rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    monkeypatch.setattr(worker.os, "rename", rename)
    r = prune_file_store(popts(root, apply=True)).report
    assert r["restored"] == 1 and r["skipped_fresh"] == 1
    assert r["deleted"] == len(expired) - 1
    left = _files(root)
    assert any(f.endswith(hit[0]) for f in left)
    assert not any(".sessdiag-" in f for f in left)


def test_put_back_never_overwrites_a_recreated_session(store, popts, monkeypatch):
    root, _expired, _fresh = store(sessions=100)
    real_rename = os.rename
    hit: list[str] = []

    def rename(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
        first = not hit and not src.startswith(".")
        if first:
            hit.append(src)
            os.utime(src, dir_fd=src_dir_fd)
        real_rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)
        if first:  # ... and the app re-creates the session at once
            fd = os.open(src, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=src_dir_fd)
            os.write(fd, b"recreated")
            os.close(fd)

    monkeypatch.setattr(worker.os, "rename", rename)
    r = prune_file_store(popts(root, apply=True)).report
    assert r["skip_reasons"] == {"conflict": 1}
    kept = [f for f in _files(root) if ".sessdiag-" in f]
    assert len(kept) == 1 and kept[0].endswith(hit[0])  # the touched copy is kept aside
    new = [f for f in _files(root) if f.endswith("/" + hit[0])]
    assert len(new) == 1
    with open(os.path.join(root, new[0]), "rb") as fh:
        assert fh.read() == b"recreated"


@pytest.mark.parametrize(("jobs", "workers"), [(1, None), (2, "processes"), (4, "threads")])
def test_max_delete_is_exact_across_workers(store, popts, jobs, workers):
    root, expired, _fresh = store(sessions=400)
    res = prune_file_store(popts(root, apply=True, max_delete=37, jobs=jobs, workers=workers))
    r = res.report
    assert r["deleted"] == 37
    assert r["stopped_by"] == "max-delete"
    assert res.exit_code == 0
    assert _balanced(r)
    assert len(expired - _files(root)) == 37


def test_rate_limit_paces_deletions(store, popts):
    root, _expired, _fresh = store(sessions=120, expired_fraction=0.5)
    t0 = time.monotonic()
    r = prune_file_store(popts(root, apply=True, rate=200, jobs=2, workers="threads")).report
    elapsed = time.monotonic() - t0
    assert r["deleted"] == 60
    # 60 tokens at 200/s: the last batch cannot start before ~0.25 s.
    assert elapsed >= 0.25
    assert r["rate_limit_per_s"] == 200


def test_max_runtime_stops_cleanly(store, popts):
    root, _expired, _fresh = store(sessions=400, expired_fraction=0.5)
    res = prune_file_store(popts(root, apply=True, rate=100, max_runtime=0.5))
    r = res.report
    assert r["stopped_by"] == "max-runtime"
    assert 0 < r["deleted"] < 200
    assert _balanced(r)
    assert res.exit_code == 0


def test_stop_request_leaves_the_rest(store, popts, monkeypatch):
    root, expired, _fresh = store(sessions=200)
    stop = StopControl()
    _after_plan(monkeypatch, lambda: stop.request("SIGTERM"))
    res = prune_file_store(popts(root, apply=True), stop=stop)
    assert res.report["deleted"] == 0
    assert res.report["not_attempted"] == len(expired)
    assert res.report["stopped_by"] == "SIGTERM"
    assert res.exit_code == 143
    assert _files(root) >= expired


def test_refuses_an_implausible_share(store, popts, snapshot):
    root, _expired, _fresh = store(sessions=100, expired_fraction=1.0)
    before = snapshot(root)
    res = prune_file_store(popts(root, apply=True))
    assert res.exit_code == 4 and not res.applied
    assert "max-fraction" in res.refusals[0]
    assert snapshot(root) == before
    # The dry run says it would refuse, and exits 0.
    dry = prune_file_store(popts(root))
    assert dry.exit_code == 0 and dry.refusals
    forced = prune_file_store(popts(root, apply=True, force=True))
    assert forced.exit_code == 0 and forced.report["deleted"] == 100


def test_refuses_a_root_that_looks_wrong(tmp_path, popts, snapshot):
    root = tmp_path / "notastore"
    root.mkdir()
    for i in range(20):
        (root / f"file{i}.txt").write_text("data")
        os.utime(root / f"file{i}.txt", (1, 1))
    (root / ("sess_" + "a" * 26)).write_text("")
    os.utime(root / ("sess_" + "a" * 26), (1, 1))
    before = snapshot(str(root))
    res = prune_file_store(popts(str(root), apply=True, profile="php-files", max_fraction=1.0))
    assert res.exit_code == 4
    assert any("looks wrong" in x for x in res.refusals)
    assert snapshot(str(root)) == before


def test_refuses_clock_skew_even_when_forced(store, popts, monkeypatch, snapshot):
    root, _expired, _fresh = store(sessions=100)
    real = engine.probe_clock

    def skewed(*a, **kw):
        c = real(*a, **kw)
        c.offset_s = -900.0  # the NFS server's clock is 15 minutes behind
        return c

    monkeypatch.setattr(engine, "probe_clock", skewed)
    before = snapshot(root)
    res = prune_file_store(popts(root, apply=True, force=True))
    assert res.exit_code == 4 and "clock" in res.refusals[0]
    assert snapshot(root) == before
    ok = prune_file_store(popts(root, apply=True, max_skew=3600))
    assert ok.exit_code == 0


def test_age_is_judged_by_the_earlier_clock(store, popts, monkeypatch):
    """A filesystem clock behind ours makes files younger: fewer candidates, never more."""
    root, expired, _fresh = store(sessions=200)
    real = engine.probe_clock

    def behind(*a, **kw):
        c = real(*a, **kw)
        c.offset_s = -250.0
        return c

    monkeypatch.setattr(engine, "probe_clock", behind)
    # The clock is probed only when the run may delete; max_delete 0 deletes nothing.
    r = prune_file_store(popts(root, grace=0, apply=True, max_delete=0)).report
    # Expired fixture sessions are 3660.5 s .. 2 h old; judged 250 s younger, those under
    # 3850 s are not candidates.
    now = time.time()
    younger = sum(1 for rel in expired if now - os.path.getmtime(os.path.join(root, rel))
                  > 3600 + 250 + 1)
    assert r["candidates"] <= younger < len(expired)


def test_lock_held_raises_at_once(store, popts, tmp_path):
    root, _expired, _fresh = store(sessions=50)
    lock = tmp_path / "held.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        t0 = time.monotonic()
        with pytest.raises(LockHeld, match="holds the lock"):
            prune_file_store(popts(root, apply=True, lock_path=str(lock)))
        assert time.monotonic() - t0 < 5
        # A dry run needs no lock.
        assert prune_file_store(popts(root, lock_path=str(lock))).exit_code == 0
    finally:
        os.close(fd)
    assert prune_file_store(popts(root, apply=True, lock_path=str(lock))).exit_code == 0


def test_default_lock_is_outside_the_store(store, popts):
    root, _expired, _fresh = store(sessions=50)
    r = prune_file_store(popts(root, apply=True, lock_path=None)).report
    st = os.stat(root)
    assert r["lock"].endswith(f"prune-{st.st_dev:x}-{st.st_ino}.lock")
    assert not r["lock"].startswith(root)


def test_journal_lists_each_deleted_file(store, popts, tmp_path):
    root, expired, _fresh = store(sessions=200)
    jpath = tmp_path / "journal.jsonl"
    r = prune_file_store(popts(root, apply=True, journal=str(jpath), jobs=2,
                               workers="processes")).report
    js = read_journal(str(jpath))
    assert not js.pending and js.bad_lines == 0
    assert set(js.deleted) == {os.path.join(root, rel) for rel in expired}
    assert r["deleted"] == len(js.deleted)
    rec = next(iter(js.deleted.values()))
    assert {"path", "size", "mtime", "mtime_ns", "inode", "deleted_at"} <= set(rec)
    events = [json.loads(line)["event"] for line in jpath.read_text().splitlines()]
    assert events[0] == "run-start" and events[-1] == "run-end"
    assert events.count("intent") == events.count("deleted") == len(expired)


def test_reconcile_resolves_a_killed_runs_intents(store, popts, tmp_path):
    root, expired, _fresh = store(sessions=100)
    a, b, c, d = (os.path.join(root, rel) for rel in sorted(expired)[:4])
    jpath = tmp_path / "journal.jsonl"
    run = "20260101T000000Z-1"
    lines = [{"event": "run-start", "run": run, "root": root}]
    for p in (a, b, c, d):
        st = os.lstat(p)
        lines.append({"event": "intent", "run": run, "path": p, "inode": st.st_ino,
                      "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                      "stage": f".sessdiag-0000000{len(lines)}-{os.path.basename(p)}"})
    # a: the kill came before anything happened; b: after the rename; c: after the unlink;
    # d: after the rename, but it was touched first (must be put back).
    stage_b = os.path.join(os.path.dirname(b), lines[2]["stage"])
    os.rename(b, stage_b)
    os.unlink(c)
    stage_d = os.path.join(os.path.dirname(d), lines[4]["stage"])
    os.utime(d)
    os.rename(d, stage_d)
    jpath.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"event": "del')  # torn
    r = prune_file_store(popts(root, apply=True, journal=str(jpath))).report
    assert r["journal_reconciled"] == {"present": 1, "finished": 1, "gone": 1, "restored": 1}
    js = read_journal(str(jpath))
    assert not js.pending
    assert js.bad_lines == 0 or js.bad_lines == 1
    gone = {os.path.join(root, rel) for rel in expired} - {
        os.path.join(root, f) for f in _files(root)}
    assert set(js.deleted) == gone
    assert os.path.exists(d) and not os.path.exists(stage_d) and not os.path.exists(stage_b)


def test_stage_leftovers_without_journal_are_finished_or_put_back(store, popts):
    root, expired, _fresh = store(sessions=100)
    old, touched = sorted(expired)[:2]
    so = os.path.join(root, os.path.dirname(old), ".sessdiag-deadbeef-" + os.path.basename(old))
    st = os.path.join(root, os.path.dirname(touched),
                      ".sessdiag-cafebabe-" + os.path.basename(touched))
    os.rename(os.path.join(root, old), so)
    os.rename(os.path.join(root, touched), st)
    os.utime(st)
    dry = prune_file_store(popts(root)).report
    assert dry["anomalies"]["stage_leftovers"] == 2
    r = prune_file_store(popts(root, apply=True)).report
    assert r["leftovers_finished"] == 2
    assert not os.path.exists(so) and not os.path.exists(os.path.join(root, old))
    assert os.path.exists(os.path.join(root, touched)) and not os.path.exists(st)
    assert r["deleted"] == len(expired) - 2


def test_quarantine_moves_files_restorably(store, popts, tmp_path):
    root, expired, _fresh = store(sessions=200)
    q = tmp_path / "quarantine"
    before = {rel: os.stat(os.path.join(root, rel)) for rel in expired}
    jpath = tmp_path / "j.jsonl"
    r = prune_file_store(popts(root, apply=True, quarantine=str(q), journal=str(jpath))).report
    assert r["action"] == "quarantine" and r["deleted"] == len(expired)
    assert r["bytes_freed"] == 0 and r["bytes_quarantined"] > 0
    run_dir = r["quarantine"]["run_dir"]
    for rel, st in before.items():
        moved = os.stat(os.path.join(run_dir, rel))  # same shard path under the run dir
        assert (moved.st_ino, moved.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
        assert not os.path.exists(os.path.join(root, rel))
    js = read_journal(str(jpath))
    assert {rec["event"] for rec in js.deleted.values()} == {"quarantined"}
    assert all(rec["to"].startswith(run_dir) for rec in js.deleted.values())



def test_a_quarantine_run_killed_after_its_moves_is_reconciled_as_quarantined(
        store, popts, tmp_path):
    """The intent of a quarantine move names where the file goes, so the next run finds it
    there after a kill, instead of calling it deleted."""
    root, expired, _fresh = store(sessions=100)
    q = tmp_path / "quarantine"
    jpath = tmp_path / "j.jsonl"
    prune_file_store(popts(root, apply=True, quarantine=str(q), journal=str(jpath)))
    records = [json.loads(line) for line in jpath.read_text().splitlines()]
    intents = [x for x in records if x["event"] == "intent"]
    assert len(intents) == len(expired)
    # The kill came after every move, before any outcome was written.
    killed = [x for x in records if x["event"] in ("run-start", "intent")]
    jpath.write_text("".join(json.dumps(x) + "\n" for x in killed))
    r = prune_file_store(popts(root, apply=True, journal=str(jpath))).report
    assert r["journal_reconciled"] == {"quarantined": len(expired)}

def test_quarantine_on_another_filesystem_is_refused(store, popts):
    if not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == os.stat("/tmp").st_dev:
        pytest.skip("needs /dev/shm on its own filesystem")
    root, _expired, _fresh = store(sessions=50)
    if os.stat(root).st_dev == os.stat("/dev/shm").st_dev:
        pytest.skip("the test store itself is on /dev/shm")
    q = f"/dev/shm/sessdiag-q-{os.getpid()}"
    try:
        with pytest.raises(UsageError, match="another filesystem"):
            prune_file_store(popts(root, apply=True, quarantine=q))
    finally:
        if os.path.isdir(q):
            os.rmdir(q)


def test_options_are_validated(tmp_path):
    for kw, msg in (({"max_age": 0}, "max-age"), ({"max_age": 10, "jobs": 0}, "jobs"),
                    ({"max_age": 10, "rate": 0}, "rate"),
                    ({"max_age": 10, "max_fraction": 1.5}, "max-fraction"),
                    ({"max_age": 10, "workers": "fibers"}, "workers"),
                    ({"max_age": 10, "quarantine": "q", "direct_unlink": True}, "exclude")):
        with pytest.raises(UsageError, match=msg):
            PruneOptions(target=str(tmp_path), **kw).validate()  # type: ignore[arg-type]


@pytest.mark.parametrize("workers", ["processes", "threads"])
def test_warns_about_processes_using_the_store(store, popts, workers):
    """On threads the check runs beside the plan pass; its warning arrives all the same."""
    import subprocess
    import sys

    import psutil

    root, _expired, _fresh = store(sessions=50)
    shard = os.path.join(root, "0")
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], cwd=shard,
                            stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while psutil.Process(proc.pid).cwd() != shard:  # until the child is in place
            assert time.monotonic() < deadline
            time.sleep(0.01)
        r = prune_file_store(popts(root, check_processes=True, jobs=4, workers=workers)).report
    finally:
        proc.communicate(b"", timeout=10)
    assert any(f"process {proc.pid}" in w and "working directory" in w for w in r["warnings"])
    # In its place: after the clock's note (made before the check), before what the plan adds.
    assert r["warnings"][0].startswith("dry run: ") and r["warnings"][1].startswith("in use: ")
    assert prune_file_store(popts(root, check_processes=True)).exit_code == 0  # a warning only


def test_unreadable_directories_are_unreadable_warned_and_exit_1(store, sessdiag_denied, deny):
    """Part of the store never examined is not a race, and not a clean exit either."""
    root, _expired, _fresh = store(sessions=300)
    deny(os.path.join(root, "a"))  # a first-level directory (was reported as "raced")
    deny(os.path.join(root, "b", "c"))  # a shard directory
    res = sessdiag_denied("prune", root, "--max-age", "1h", "--json", "--no-process-check")
    assert res.returncode == 1, res.stderr
    r = json.loads(res.stdout)
    assert r["anomalies"]["unreadable"] == 2 and r["anomalies"]["raced"] == 0
    assert set(r["anomaly_examples"]["unreadable"]) == {"a", "b/c"}
    assert any("never examined" in w for w in r["warnings"])
    assert "never examined" in res.stderr


@pytest.mark.parametrize(("jobs", "workers"), [(3, "threads"), (2, "processes")])
def test_fanned_out_prune_deletes_the_same_and_reports_its_walk(store, popts, snapshot,
                                                                monkeypatch, jobs, workers):
    """As on a slow mount (every operation counts as slow): the plan's lstats fan out, the
    apply pass goes through the same gate, and the result is the same, byte for byte."""
    from sessdiag.stores.files import inflight

    monkeypatch.setattr(inflight, "FANOUT_LATENCY_S", -1.0)
    root, expired, _fresh = store(sessions=600, foreign=3, symlinks=2, misplaced=2)
    before = snapshot(root)
    keep = {k: v for k, v in before.items() if k not in expired}
    res = prune_file_store(popts(root, apply=True, jobs=jobs, workers=workers,
                                 max_inflight=4))
    r = res.report
    assert res.exit_code == 0, r
    assert r["deleted"] == len(expired) == 300 and _balanced(r)
    assert snapshot(root) == keep
    w = r["walk"]
    assert w["mode"] == "fan-out"
    assert 1 <= w["inflight"]["max"] <= 4 and w["inflight"]["limit_max"] <= 4
    # plan: an lstat per entry; apply: re-check, rename, lstat, unlink per deletion
    assert w["operations"] >= r["entries"] + 4 * 300
    assert w["latency_us"]["p50"] is not None


@pytest.mark.parametrize(("jobs", "workers"), [(3, "threads"), (2, "processes")])
def test_inline_prune_still_counts_every_operation(store, popts, snapshot, monkeypatch, jobs,
                                                   workers):
    """On a local disk (every operation counts as fast) the apply pass calls os itself,
    past the engine's wrapper; its operations are still in the walk's count."""
    from sessdiag.stores.files import inflight

    monkeypatch.setattr(inflight, "FANOUT_LATENCY_S", float("inf"))
    root, expired, _fresh = store(sessions=600, foreign=3, symlinks=2, misplaced=2)
    keep = {k: v for k, v in snapshot(root).items() if k not in expired}
    res = prune_file_store(popts(root, apply=True, jobs=jobs, workers=workers))
    r = res.report
    assert res.exit_code == 0, r
    assert r["deleted"] == 300 and _balanced(r)
    assert snapshot(root) == keep
    w = r["walk"]
    assert w["mode"] == "per-worker"
    # plan: an lstat per entry; apply: re-check, rename, lstat, unlink per deletion
    assert w["operations"] >= r["entries"] + 4 * 300

def test_max_inflight_is_validated(tmp_path):
    with pytest.raises(UsageError):
        PruneOptions(target=str(tmp_path), max_age=60, max_inflight=0).validate()
