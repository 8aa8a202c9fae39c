"""prune against a live app, a kill -9, and a second prune: real processes throughout.

* A writer process behaves like beego's file provider under load: it creates new sessions
  (MkdirAll + create), re-touches random existing ones with utime(now) like SessionRead's
  Chtimes — half of them expired ones, reviving them — and re-creates a session whose file
  vanished. It logs every successful touch and creation. Meanwhile `sessdiag prune --apply
  --jobs 4` runs as a subprocess. Afterwards every session the writer touched or created
  exists, every expired session it never touched is gone, nothing outside the root changed.
* `kill -9` in the middle of a rate-limited run: the workers die with the parent, the tree is
  consistent, the journal accounts for every file that is gone, and a rerun finishes the job.
* Two concurrent runs on one store: the second exits 75 at once.

Synchronisation is by conditions (a ready file, journal lines, the lock holder's pid), never
by sleeping a fixed time.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sessdiag.fixtures import FixtureSpec, make_tree
from sessdiag.stores.files.lock import default_lock_path
from sessdiag.stores.files.prune import read_journal

LIFE = 3600

WRITER = r"""
import os, random, sys, time
root, old_list, fresh_list, log, ready, stop, seed, rate = sys.argv[1:9]
period = 1.0 / float(rate)
EMPTY = bytes.fromhex("0eff81040102ff820001100110000004ff820000")
old = open(old_list).read().split()
fresh = open(fresh_list).read().split()
rnd = random.Random(int(seed) * 7919 + 1)  # not the fixture's stream of sids
out = open(log, "w")
n = 0

def create(rel):
    d = os.path.join(root, os.path.dirname(rel))
    os.makedirs(d, exist_ok=True)                     # beego: MkdirAll(sid[0]/sid[1])
    fd = os.open(os.path.join(root, rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, EMPTY)
    os.close(fd)
    out.write(f"C {rel} {time.time()}\n")
    fresh.append(rel)

t_next = time.monotonic()
while not os.path.exists(stop):
    t_next += period                                  # a steady request rate, not a spin
    delay = t_next - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    r = rnd.random()
    if r < 0.15:
        sid = "%032x" % rnd.getrandbits(128)
        try:
            create(f"{sid[0]}/{sid[1]}/{sid}")
        except FileExistsError:
            pass
    else:
        rel = rnd.choice(old if r < 0.4 else fresh)
        try:
            os.utime(os.path.join(root, rel))         # beego: Chtimes(path, now, now)
            out.write(f"T {rel} {time.time()}\n")
        except FileNotFoundError:
            out.write(f"M {rel}\n")                   # pruned before we got to it
            if rnd.random() < 0.3:
                try:
                    create(rel)                       # the client comes back: new session
                except FileExistsError:
                    pass
    n += 1
    if n == 300:
        open(ready, "w").close()
out.close()
print(n)
"""


def _prune(root: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "sessdiag", "prune", root, "--max-age", "1h",
            "--profile", "beego-file", "--no-process-check", *args]


def _wait(cond, what: str, timeout: float = 30, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _files(root: str) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, _s, fs in os.walk(root) for f in fs}


def _digest(top: str) -> str:
    h = hashlib.sha256()
    for d, dirs, files in sorted(os.walk(top, followlinks=False)):
        for name in sorted(dirs + files):
            p = os.path.join(d, name)
            st = os.lstat(p)
            h.update(f"{os.path.relpath(p, top)} {st.st_mode} {st.st_size} {st.st_mtime_ns} "
                     f"{st.st_ino} {st.st_nlink}\n".encode())
    return h.hexdigest()


def _store(tmp_path: Path, n: int, expired: float, seed: int) -> tuple[str, set[str], set[str]]:
    root = tmp_path / "store"
    make_tree(str(root), FixtureSpec.from_mapping({
        "sessions": n, "expired_fraction": expired, "max_lifetime": LIFE, "seed": seed,
        "foreign": 2, "symlinks": 2}))
    now = time.time()
    old, fresh = set(), set()
    for rel in _files(str(root)):
        st = os.lstat(root / rel)
        if len(rel.split("/")) == 3 and len(rel) == 36 and not os.path.islink(root / rel):
            (old if st.st_mtime < now - LIFE else fresh).add(rel)
    return str(root), old, fresh


@pytest.mark.parametrize("seed", [11, 22, 33])
def test_live_app_never_loses_a_touched_session(tmp_path, seed):
    root, old, fresh = _store(tmp_path, 3000, 0.7, seed)
    outside = tmp_path / "outside"
    outside.mkdir()
    for i in range(5):
        (outside / f"keep{i}").write_text("outside the store")
        os.utime(outside / f"keep{i}", (1, 1))
    os.symlink(outside, os.path.join(root, "0", "0", "f" * 32))
    outside_before = _digest(str(outside))
    (tmp_path / "old.txt").write_text("\n".join(sorted(old)))
    (tmp_path / "fresh.txt").write_text("\n".join(sorted(fresh)))
    log, ready, stop = tmp_path / "writer.log", tmp_path / "ready", tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, root, str(tmp_path / "old.txt"),
                               str(tmp_path / "fresh.txt"), str(log), str(ready), str(stop),
                               str(seed), "2000"], stdout=subprocess.PIPE, text=True)
    try:
        _wait(ready.exists, "the writer to start", proc=writer)
        cp = subprocess.run(_prune(root, "--apply", "--jobs", "4", "--rate", "1500", "--json",
                                   "--lock", str(tmp_path / "lock")),
                            capture_output=True, text=True, timeout=120)
    finally:
        stop.touch()
        ops = int(writer.communicate(timeout=60)[0] or 0)
    assert cp.returncode == 0, cp.stderr
    report = json.loads(cp.stdout)
    touched: set[str] = set()
    created: set[str] = set()
    for line in log.read_text().splitlines():
        kind, rel, *_ = line.split()
        if kind == "T":
            touched.add(rel)
        elif kind == "C":
            created.add(rel)
    left = _files(root)
    assert ops > 1000
    # The run overlapped the writer: expired sessions were revived between plan and delete.
    assert report["deleted"] > 500 and report["skipped_fresh"] > 20, report
    # Every session touched within --max-age (i.e. during this test) or created still exists.
    assert (touched | created) - left == set()
    assert fresh - left == set()
    # Every expired session nobody touched is gone.
    assert (old - touched - created) & left == set()
    assert not any(".sessdiag-" in f for f in left) or report["skip_reasons"].get("conflict")
    assert _digest(str(outside)) == outside_before
    assert report["errors"] == 0


def test_kill_9_mid_run_then_rerun_finishes(tmp_path):
    root, old, fresh = _store(tmp_path, 1500, 0.8, 5)
    journal = tmp_path / "journal.jsonl"
    jobs = 2
    proc = subprocess.Popen(_prune(root, "--apply", "--rate", "300", "--jobs", str(jobs),
                                   "--workers", "processes", "--journal", str(journal),
                                   "--lock", str(tmp_path / "lock"), "--quiet"))

    def deleted_lines() -> int:
        return journal.read_text().count('"event":"deleted"') if journal.exists() else 0

    _wait(lambda: deleted_lines() >= 60, "the journal to record deletions", proc=proc)
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert len(workers) == jobs
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    _gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, "workers outlived their parent (PR_SET_PDEATHSIG)"

    # A consistent tree: each session is at its path or gone; at most one staged file per
    # worker (the one in flight); every file that is gone is in the journal.
    left = _files(root)
    staged = {f for f in left if ".sessdiag-" in f}
    assert len(staged) <= jobs
    gone = old - left
    js = read_journal(str(journal))
    pending = {p for (_run, p) in js.pending}
    in_journal = {os.path.relpath(p, root) for p in set(js.deleted) | pending}
    assert gone and gone <= in_journal
    assert {os.path.relpath(p, root) for p in js.deleted} <= gone  # never claims too much
    batch = max(1, int(300 / 10 / jobs))
    assert len(pending) <= jobs * batch  # only the batches in flight are unresolved
    for s in staged:
        name = os.path.basename(s).split("-", 2)[2]
        assert os.path.join(root, os.path.dirname(s), name) in pending
    assert fresh <= left
    assert 0 < len(gone) < len(old)

    # The rerun reconciles the journal and finishes the job.
    cp = subprocess.run(_prune(root, "--apply", "--journal", str(journal), "--json",
                               "--lock", str(tmp_path / "lock")),
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    left = _files(root)
    assert not old & left and fresh <= left
    assert not any(".sessdiag-" in f for f in left)
    js = read_journal(str(journal))
    assert not js.pending
    assert {os.path.relpath(p, root) for p in js.deleted} == old  # exactly the files gone


def test_second_concurrent_run_exits_75(tmp_path):
    root, _old, _fresh = _store(tmp_path, 1500, 0.5, 9)
    st = os.stat(root)
    lock = default_lock_path(st.st_dev, st.st_ino)
    first = subprocess.Popen(_prune(root, "--apply", "--rate", "50", "--json"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def holds() -> bool:
            try:
                return f"pid={first.pid} " in Path(lock).read_text()
            except FileNotFoundError:
                return False

        _wait(holds, "the first run to take the lock", proc=first)
        t0 = time.monotonic()
        second = subprocess.run(_prune(root, "--apply"), capture_output=True, text=True,
                                timeout=60)
        assert second.returncode == 75, second.stderr
        assert time.monotonic() - t0 < 10
        assert f"pid {first.pid}" in second.stderr and "holds the lock" in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=60)
    assert first.returncode == 130, err
    assert json.loads(out)["stopped_by"] == "SIGINT"


def test_a_worker_killed_mid_run_fails_the_run_not_hangs_it(tmp_path):
    root, old, fresh = _store(tmp_path, 1500, 0.8, 6)
    journal = tmp_path / "journal.jsonl"
    proc = subprocess.Popen(_prune(root, "--apply", "--rate", "300", "--jobs", "2",
                                   "--workers", "processes", "--journal", str(journal),
                                   "--lock", str(tmp_path / "lock"), "--json"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait(lambda: journal.exists() and journal.read_text().count('"event":"deleted"') >= 30,
          "the journal to record deletions", proc=proc)
    victim = psutil.Process(proc.pid).children()[0]
    victim.kill()  # e.g. the OOM killer
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    r = json.loads(out)
    assert r["errors"] >= 1 and "died" in " ".join(r["error_examples"])
    assert r["stopped_by"] == "error"
    cp = subprocess.run(_prune(root, "--apply", "--journal", str(journal), "--quiet",
                               "--lock", str(tmp_path / "lock")),
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    left = _files(root)
    assert not old & left and fresh <= left
    js = read_journal(str(journal))
    assert not js.pending and {os.path.relpath(p, root) for p in js.deleted} == old
