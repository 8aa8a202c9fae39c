"""The store lock with two real processes: one prune per store, and the lock is exclusive.

A lock taken and tested inside one process cannot tell LOCK_SH from LOCK_EX, so here the
holder is a separate process running sessdiag's own `acquire`, and the contender is this one.
The holder says it holds the lock on a pipe; no sleeps.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sessdiag.core.errors import LockHeld
from sessdiag.stores.files.lock import acquire

HOLDER = """
import sys
from sessdiag.stores.files.lock import acquire
lock = acquire(sys.argv[1], root=sys.argv[2])
print("held", flush=True)
sys.stdin.read()  # hold until the test closes our stdin (or kills us)
lock.release()
"""


@pytest.fixture
def holder(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Start a process holding the lock at PATH through sessdiag's acquire()."""
    procs: list[subprocess.Popen[str]] = []

    def start(path: Path) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(tmp_path)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the lock is held (or the holder died)
        assert line == "held\n", proc.stderr.read() if proc.stderr else ""
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _try_flock(path: Path, how: int) -> int:
    """0 when this process gets the flock at once, else the errno."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno
    else:
        return 0
    finally:
        os.close(fd)


def test_a_second_process_cannot_take_the_lock(holder, tmp_path: Path) -> None:
    path = tmp_path / "store.lock"
    proc = holder(path)
    with pytest.raises(LockHeld, match=rf"pid {proc.pid}\b.*exit 75"):
        acquire(str(path), root=str(tmp_path))


def test_the_lock_is_exclusive_not_shared(holder, tmp_path: Path) -> None:
    """Even a reader's shared lock is refused while a prune holds it: LOCK_EX, not LOCK_SH."""
    path = tmp_path / "store.lock"
    holder(path)
    assert _try_flock(path, fcntl.LOCK_SH) in (errno.EWOULDBLOCK, errno.EAGAIN)
    assert _try_flock(path, fcntl.LOCK_EX) in (errno.EWOULDBLOCK, errno.EAGAIN)


def test_a_shared_holder_keeps_prune_out(tmp_path: Path) -> None:
    """The other way round: acquire() must want the lock exclusively, so another process's
    shared lock is enough to keep it out (two shared locks would coexist)."""
    path = tmp_path / "store.lock"
    path.touch()
    proc = subprocess.Popen([sys.executable, "-c",
                             "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); "
                             "fcntl.flock(fd, fcntl.LOCK_SH); print('held', flush=True); "
                             "sys.stdin.read()", str(path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        with pytest.raises(LockHeld):
            acquire(str(path), root=str(tmp_path))
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_the_lock_is_free_once_the_holder_is_gone(holder, tmp_path: Path) -> None:
    path = tmp_path / "store.lock"
    proc = holder(path)
    assert proc.stdin is not None
    proc.stdin.close()  # the holder releases and exits
    assert proc.wait(timeout=30) == 0
    with acquire(str(path), root=str(tmp_path)) as lock:
        assert lock.fd >= 0
        assert _try_flock(path, fcntl.LOCK_SH) in (errno.EWOULDBLOCK, errno.EAGAIN)


def test_a_killed_holder_frees_the_lock(holder, tmp_path: Path) -> None:
    """A prune killed by the OOM killer must not block every later run."""
    path = tmp_path / "store.lock"
    proc = holder(path)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    with acquire(str(path), root=str(tmp_path)):
        pass


def test_two_prunes_of_one_store_through_the_cli(holder, tmp_path: Path) -> None:
    """The second `sessdiag prune --apply` against a held store exits 75, deleting nothing."""
    from sessdiag.fixtures import FixtureSpec, make_tree

    root = tmp_path / "store"
    make_tree(str(root), FixtureSpec.from_mapping({
        "sessions": 40, "expired_fraction": 0.5, "max_lifetime": 3600, "seed": 1}))
    path = tmp_path / "prune.lock"
    proc = holder(path)
    cp = subprocess.run([sys.executable, "-m", "sessdiag", "prune", str(root), "--max-age", "1h",
                         "--apply", "--lock", str(path)], capture_output=True, text=True,
                        timeout=120)
    assert cp.returncode == 75, cp.stderr
    assert f"pid {proc.pid}" in cp.stderr
    assert sum(len(f) for _d, _s, f in os.walk(root)) == 40


def test_a_lock_file_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    """A symlink planted where the lock file goes must not make prune open (and truncate,
    and write its pid into) whatever it points at."""
    from sessdiag.core.errors import UsageError

    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "store.lock"
    link.symlink_to(victim)
    with pytest.raises(UsageError, match="is a symlink"):
        acquire(str(link), root=str(tmp_path))
    assert victim.read_text() == "precious\n"


def test_the_holder_is_named_in_the_refusal(holder, tmp_path: Path) -> None:
    path = tmp_path / "store.lock"
    proc = holder(path)
    assert f"pid={proc.pid} " in path.read_text()  # what the holder wrote for the next run
    with pytest.raises(LockHeld, match=rf"\(pid {proc.pid}, since \d{{4}}-"):
        acquire(str(path), root=str(tmp_path))


def test_the_default_lock_directory_must_be_private(tmp_path: Path) -> None:
    """Under /tmp the lock directory is made 0700 and refused when it is a symlink, someone
    else's, or writable by others (who could swap the lock file)."""
    from sessdiag.stores.files.lock import _usable_private_dir

    assert str(tmp_path).startswith("/tmp/")
    fresh = tmp_path / "made"
    assert _usable_private_dir(str(fresh))
    assert fresh.stat().st_mode & 0o777 == 0o700
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    assert _usable_private_dir(str(real)) and not _usable_private_dir(str(link))
    open_to_all = tmp_path / "open_to_all"
    open_to_all.mkdir()
    open_to_all.chmod(0o777)
    assert not _usable_private_dir(str(open_to_all))
    open_to_all.chmod(0o757)  # writable by others but not by the group: still refused
    assert not _usable_private_dir(str(open_to_all))
    if os.geteuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
        assert not _usable_private_dir(str(theirs))
