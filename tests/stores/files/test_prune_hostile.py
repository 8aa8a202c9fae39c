"""Hostile trees: nothing outside the store is ever touched, anomalies are reported.

Symlinks to outside files and directories, shard directories swapped for symlinks during the
run (deterministically through the engine's own steps, and by a racing process), foreign
files, hard links, FIFOs, read-only files, directories with session names, other filesystems
mounted inside the store, and a store that is itself a mount point.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sessdiag.fixtures import BEEGO_EMPTY, FixtureSpec, make_tree
from sessdiag.stores.files import fsops
from sessdiag.stores.files.prune import engine, prune_file_store

OLD = time.time() - 30 * 86400


def _old_file(path: Path, data: bytes = BEEGO_EMPTY) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (OLD, OLD))


def _sid(prefix: str, i: int) -> str:
    return (prefix + f"{i:030x}")[:32]


def _bait(d: Path, prefix: str, n: int = 5) -> None:
    """Old files whose names are valid session ids for the shard `prefix`."""
    for i in range(n):
        _old_file(d / _sid(prefix, i + 1))


@pytest.fixture
def hostile(tmp_path, store):
    root, expired, fresh = store(sessions=400, foreign=4, fifos=1, misplaced=1)
    rootp = Path(root)
    out = tmp_path / "outside"
    _old_file(out / "secret.txt", b"do not delete")
    _bait(out / "ff_real", "ff")
    _bait(out / "e_real" / "0", "e0")
    # A session-named symlink to an outside file, old itself.
    link = rootp / "a" / "b" / _sid("ab", 99)
    os.symlink(out / "secret.txt", link)
    os.utime(link, (OLD, OLD), follow_symlinks=False)
    # Shard directories that are symlinks to outside trees full of session-named old files.
    for rel in ("f/f", "e"):
        moved = [r for r in expired | fresh if r.startswith(rel + "/")]
        expired -= set(moved)
        fresh -= set(moved)
        shutil.rmtree(rootp / rel)
    os.symlink(out / "ff_real", rootp / "f" / "f")
    os.symlink(out / "e_real", rootp / "e")
    # A hard link from outside to an expired session: unlinking ours would change theirs.
    hl_rel = sorted(expired)[0]
    os.link(rootp / hl_rel, out / "hardlinked")
    expired.discard(hl_rel)
    # A read-only expired session: someone froze it on purpose.
    ro_rel = sorted(expired)[0]
    os.chmod(rootp / ro_rel, 0o444)
    expired.discard(ro_rel)
    # A FIFO and a directory with valid session names in the right shard.
    fifo = rootp / "c" / "d" / _sid("cd", 7)
    os.mkfifo(fifo)
    os.utime(fifo, (OLD, OLD))
    sdir = rootp / "c" / "d" / _sid("cd", 8)
    _bait(sdir, "cd")
    # A fresh-looking but foreign file and an old one, in the root and in a shard.
    _old_file(rootp / "index.php", b"<?php")
    _old_file(rootp / "0" / "1" / "core", b"core dump")
    return root, expired, fresh, str(out), {"hardlink": hl_rel, "readonly": ro_rel}


@pytest.mark.parametrize(("jobs", "workers"), [(1, None), (2, "processes"), (4, "threads")])
def test_hostile_tree(hostile, popts, snapshot, jobs, workers):
    root, expired, _fresh, out, special = hostile
    outside = snapshot(out)
    before = snapshot(root)
    res = prune_file_store(popts(root, apply=True, jobs=jobs, workers=workers))
    r = res.report
    assert res.exit_code == 0, r
    assert snapshot(out) == outside  # contents, mtimes, inodes, link counts: all the same
    after = snapshot(root)
    assert set(before) - set(after) == expired
    for rel, meta in after.items():
        assert before[rel] == meta, rel  # everything that stays is untouched
    assert r["deleted"] == len(expired)
    a = r["anomalies"]
    assert a["symlinks"] == 3
    assert a["hardlinks"] == 1 and a["readonly"] == 1
    assert r["skip_reasons"] == {"hardlink": 1, "readonly": 1}
    # 4 stray (one .nfs) + FIFO + FIFO-with-sid + sid-named dir + 2 planted
    assert a["foreign"] == 9 and a["nfs_silly"] == 1
    # The sid-named directory is walked, as beego's GC walks it: the 5 session-named files
    # in it are misplaced (one more from the fixture), reported and never candidates.
    assert a["misplaced"] == 1 + 5
    examples = " ".join(x for v in r["anomaly_examples"].values() for x in v)
    assert "(fifo)" in examples
    assert os.path.exists(os.path.join(root, special["hardlink"]))
    assert os.path.exists(os.path.join(root, special["readonly"]))


def _swap_in_symlink(root: str, rel: str, park: str, bait: str) -> None:
    os.rename(os.path.join(root, rel), park)
    os.symlink(bait, os.path.join(root, rel))


def test_shard_swapped_for_symlink_before_it_is_opened(store, popts, snapshot, tmp_path,
                                                       monkeypatch):
    root, expired, _fresh = store(sessions=400)
    bait = tmp_path / "bait"
    _bait(bait, "aa")
    park = str(tmp_path / "parked")
    before_bait = snapshot(str(bait))
    real = engine.apply_tasks

    def swap_then_tasks(*a, **kw):
        _swap_in_symlink(root, "a/a", park, str(bait))
        return real(*a, **kw)

    monkeypatch.setattr(engine, "apply_tasks", swap_then_tasks)
    r = prune_file_store(popts(root, apply=True)).report
    parked_before = {p for p in expired if p.startswith("a/a/")}
    assert snapshot(str(bait)) == before_bait
    # The parked directory is the store's own, moved away by the attacker: never followed.
    assert {f"a/a/{n}" for n in os.listdir(park)} >= parked_before
    assert r["anomalies"]["raced"] >= 1
    assert r["skip_reasons"].get("raced", 0) == len(parked_before)
    assert r["deleted"] == len(expired) - len(parked_before)


def test_shard_swapped_after_it_was_opened(store, popts, snapshot, tmp_path, monkeypatch):
    """The worker holds an fd on the real directory; the attacker moves it away."""
    root, expired, _fresh = store(sessions=400)
    bait = tmp_path / "bait"
    for a in "0123456789abcdef":  # a session-named old file for whichever shard is hit
        for b in "0123456789abcdef":
            _old_file(bait / _sid(a + b, 1))
    before_bait = snapshot(str(bait))
    park = str(tmp_path / "parked")
    swapped: list[str] = []
    real = fsops.chain_intact

    def swap_then_check(root_fd, chain, root_dev):
        if chain and not swapped:
            rel = "/".join(name for _fd, name, _ino in chain)
            _swap_in_symlink(root, rel, park, str(bait))
            swapped.append(rel)
        return real(root_fd, chain, root_dev)

    monkeypatch.setattr(fsops, "chain_intact", swap_then_check)
    r = prune_file_store(popts(root, apply=True)).report
    rel = swapped[0]
    in_unit = {p for p in expired if p.startswith(rel + "/")}
    assert {f"{rel}/{n}" for n in os.listdir(park)} >= in_unit  # nothing deleted through it
    assert r["skip_reasons"].get("raced") == len(in_unit)
    assert r["deleted"] == len(expired) - len(in_unit)
    assert snapshot(str(bait)) == before_bait


SWAPPER = r"""
import os, sys
root, rel, park, bait, stop, ready = sys.argv[1:7]
target = os.path.join(root, rel)
n = 0
while not os.path.exists(stop):
    os.rename(target, park)
    os.symlink(bait, target)
    if n == 0:
        open(ready, "w").close()
    os.unlink(target)
    os.rename(park, target)
    n += 1
print(n)
"""


def test_racing_process_swapping_a_shard(store, snapshot, tmp_path):
    """A real attacker process flips a shard between the directory and a symlink."""
    root, expired, _fresh = store(sessions=1500)
    bait = tmp_path / "bait"
    _bait(bait, "cc", 20)
    before_bait = snapshot(str(bait))
    stop, ready = tmp_path / "stop", tmp_path / "ready"
    swapper = subprocess.Popen([sys.executable, "-c", SWAPPER, root, "c/c",
                                str(tmp_path / "park"), str(bait), str(stop), str(ready)],
                               stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not ready.exists():  # wait for the first swap, not for a fixed time
            assert swapper.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        for _ in range(3):
            cp = subprocess.run(
                [sys.executable, "-m", "sessdiag", "prune", root, "--max-age", "1h",
                 "--apply", "--jobs", "2", "--json", "--profile", "beego-file",
                 "--lock", str(tmp_path / "l"), "--no-process-check"],
                capture_output=True, text=True, timeout=60)
            assert cp.returncode == 0, cp.stderr
    finally:
        stop.touch()
        swaps = int(swapper.communicate(timeout=30)[0] or 0)
    assert swaps > 0
    assert snapshot(str(bait)) == before_bait
    left = {os.path.relpath(os.path.join(d, f), root)
            for d, _s, fs in os.walk(root) for f in fs}
    # Everything expired outside the contested shard is gone.
    assert not {p for p in expired if not p.startswith("c/c/")} & left


# ---------------------------------------------------------------------------------------
# Other filesystems (tmpfs / bind mounts: needs root and mount(8); skipped otherwise).


def _mount(args: list[str]) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    cp = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if cp.returncode != 0:
        pytest.skip(f"cannot mount here: {cp.stderr.strip()}")


def _umount(path: str) -> None:
    subprocess.run(["umount", "-l", path], capture_output=True, check=False)


def test_other_filesystem_inside_the_store_is_never_entered(store, popts, snapshot, tmp_path):
    root, expired, fresh = store(sessions=400)
    rootp = Path(root)
    # A tmpfs over shard "d", holding old session-named files; a bind mount of an outside
    # directory (same filesystem, same st_dev!) over shard "c/c".
    for rel in ("d", "c/c"):
        gone = {p for p in expired | fresh if p.startswith(rel + "/")}
        expired -= gone
        fresh -= gone
        shutil.rmtree(rootp / rel)
        (rootp / rel).mkdir()
    bind_src = tmp_path / "bindsrc"
    _bait(bind_src, "cc")
    mounted: list[str] = []
    try:
        _mount(["-t", "tmpfs", "-o", "size=8m", "tmpfs", str(rootp / "d")])
        mounted.append(str(rootp / "d"))
        _bait(rootp / "d" / "e", "de")
        _mount(["--bind", str(bind_src), str(rootp / "c" / "c")])
        mounted.append(str(rootp / "c" / "c"))
        in_tmpfs = snapshot(str(rootp / "d"))
        in_bind = snapshot(str(bind_src))
        r = prune_file_store(popts(root, apply=True, jobs=2, workers="processes")).report
        assert snapshot(str(rootp / "d")) == in_tmpfs
        assert snapshot(str(bind_src)) == in_bind
        assert r["anomalies"]["other_fs"] == 2
        assert r["deleted"] == len(expired)
    finally:
        for m in reversed(mounted):
            _umount(m)


def test_store_root_on_its_own_mount(popts, snapshot, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    _old_file(tmp_path / "beside.txt", b"next to the mount")
    _mount(["-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)])
    try:
        root = str(mnt / "sessions")
        make_tree(root, FixtureSpec.from_mapping({"sessions": 300, "expired_fraction": 0.5,
                                                  "max_lifetime": 3600, "seed": 3}))
        parent = {k: v for k, v in snapshot(str(tmp_path)).items() if not k.startswith("mnt")}
        r = prune_file_store(popts(root, apply=True, jobs=2, workers="processes",
                                   lock_path=None)).report
        assert r["deleted"] == 150
        assert r["clock"]["source"] == "root"
        assert r["filesystem"]["fstype"] == "tmpfs"
        after = {k: v for k, v in snapshot(str(tmp_path)).items() if not k.startswith("mnt")}
        assert after == parent
    finally:
        _umount(str(mnt))


def test_read_only_store_probes_the_clock_in_the_lock_dir(store, popts, tmp_path):
    """No write access to the root: the probe goes to the lock directory, and says so."""
    root, expired, _fresh = store(sessions=100)
    ro = tmp_path / "ro"
    ro.mkdir()
    _mount(["--bind", root, str(ro)])
    try:
        cp = subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], capture_output=True,
                            text=True, check=False)
        if cp.returncode != 0:
            pytest.skip(f"cannot remount read-only: {cp.stderr.strip()}")
        # The clock is probed only by a run that may delete (max_delete 0: it deletes none).
        r = prune_file_store(popts(str(ro), apply=True, max_delete=0)).report
        assert r["clock"]["source"] == "lock-dir"
        assert any("lock directory" in w for w in r["warnings"])
        assert r["candidates"] == len(expired)
    finally:
        _umount(str(ro))
