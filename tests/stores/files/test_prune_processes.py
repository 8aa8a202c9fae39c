"""prune's look for processes using the store never touches another process's files.

A full-suite run hung a prune for 300 s (the hard-link race test, on a machine where other
jobs held files on slow FUSE mounts): psutil's open_files() stats every open file of every
process, so one file held on a slow or hung mount anywhere blocks the prune in that stat.
The check must find the processes inside the store from /proc's links alone.

The file is held on a tools/slowfs mount with no kernel caching, so every stat of it is a
request the server counts: the test reads the counter, not a clock.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sessdiag.stores.files.prune.env import processes_using

SLOWFS = Path(__file__).resolve().parents[3] / "tools" / "slowfs" / "slowfs.py"
_spec = importlib.util.spec_from_file_location("slowfs", SLOWFS)
assert _spec is not None and _spec.loader is not None
slowfs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(slowfs)

HOLD = "import sys; sys.stdin.read()"  # holds its descriptors until stdin closes


def _holding(path: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """A process with `path` open (inherited: open before Popen returns), working in cwd."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return subprocess.Popen([sys.executable, "-c", HOLD], stdin=subprocess.PIPE,
                                pass_fds=(fd,), cwd=cwd)
    finally:
        os.close(fd)


@pytest.mark.skipif(slowfs.fuse_available() is not None, reason="slowfs cannot mount here")
def test_a_file_held_on_another_mount_is_never_statted(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "held").write_text("x")
    store = tmp_path / "store"
    store.mkdir()
    with slowfs.mount_slowfs(source, tmp_path / "mnt", delay_ms=0, attr_timeout=0,
                             entry_timeout=0) as fs:
        proc = _holding(tmp_path / "mnt" / "held", tmp_path)
        try:
            fs.reset()
            assert processes_using(str(store)) == []
            ops = fs.stats()["ops"]
        finally:
            proc.communicate(b"", timeout=30)
    assert ops.get("getattr", 0) == 0, ops  # not one lookup of the held file's path


def test_a_file_held_inside_the_store_is_reported(tmp_path: Path) -> None:
    store = Path(os.path.realpath(tmp_path)) / "store"  # as prune passes it: resolved
    (store / "0").mkdir(parents=True)
    held = store / "0" / "sess_abc"
    held.write_text("x")
    proc = _holding(held, tmp_path)
    try:
        found = processes_using(str(store))
    finally:
        proc.communicate(b"", timeout=30)
    assert any(f"process {proc.pid}" in w and f"it has {held} open" in w for w in found), found
