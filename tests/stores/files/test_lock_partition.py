"""Lock scopes of `prune --partition K/N`: parts of one N run side by side; the same part
twice, another N, or a whole-store prune with a partition never do.

Record locks are per process, so every holder is a separate process running sessdiag's own
`acquire`; it says it holds the lock on a pipe (no sleeps), and the contender is this test.
"""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from sessdiag.core.errors import LockHeld
from sessdiag.stores.files.lock import acquire

HOLDER = """
import json, sys
from sessdiag.stores.files.lock import acquire
part = json.loads(sys.argv[3])
lock = acquire(sys.argv[1], root=sys.argv[2], partition=tuple(part) if part else None)
print("held", flush=True)
sys.stdin.read()
lock.release()
"""


@pytest.fixture
def holder(tmp_path: Path):  # type: ignore[no-untyped-def]
    procs: list[subprocess.Popen[str]] = []

    def start(path: Path, part: tuple[int, int] | None) -> subprocess.Popen[str]:
        import json

        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(tmp_path),
                                 json.dumps(part)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == "held\n", proc.stderr.read() if proc.stderr else ""
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


@pytest.mark.parametrize(("held", "wanted", "ok"), [
    ((1, 3), (2, 3), True),      # other parts of the same split: side by side
    ((1, 3), (1, 3), False),     # the same part twice
    ((1, 3), (1, 2), False),     # another N overlaps
    ((2, 2), (3, 3), False),     # …whichever is larger
    ((1, 3), None, False),       # a whole-store prune waits for the parts
    (None, (1, 3), False),       # and the parts for it
])
def test_partition_lock_scopes(holder, tmp_path: Path, held, wanted, ok) -> None:
    path = tmp_path / "store.lock"
    holder(path, held)
    if ok:
        acquire(str(path), root=str(tmp_path), partition=wanted).release()
    else:
        with pytest.raises(LockHeld):
            acquire(str(path), root=str(tmp_path), partition=wanted)


def test_the_scopes_free_with_the_holder(holder, tmp_path: Path) -> None:
    path = tmp_path / "store.lock"
    proc = holder(path, (1, 2))
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)
    acquire(str(path), root=str(tmp_path), partition=(1, 3)).release()
    acquire(str(path), root=str(tmp_path)).release()


def test_no_record_lock_in_the_flocked_file(holder, tmp_path: Path) -> None:
    """On NFS Linux emulates flock as a byte-range lock of the whole file (man 2 flock): a
    record lock of one part in that file would refuse every other part's flock. The scopes
    live in PATH.parts; the lock file itself has none another host's flock could meet."""
    path = tmp_path / "store.lock"
    holder(path, (1, 2))
    fd = os.open(path, os.O_RDWR)
    try:
        flock = struct.Struct("hhqqi4x")
        for kind in (fcntl.F_RDLCK, fcntl.F_WRLCK):
            got = fcntl.fcntl(fd, fcntl.F_GETLK, flock.pack(kind, os.SEEK_SET, 0, 0, 0))
            assert flock.unpack(got)[0] == fcntl.F_UNLCK
    finally:
        os.close(fd)
    assert (tmp_path / "store.lock.parts").is_file()
