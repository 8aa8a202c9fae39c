"""One prune at a time per store: an exclusive, non-blocking flock on a lock file.

The default lock file lives in a runtime directory (never inside the store, where it would
be a foreign entry beego's GC deletes once old), named from the store root's device and
inode so every path that reaches the same directory (symlinks, bind mounts on one host)
shares one lock. The lock dies with the process (flock is released when the last fd of the
open file description closes), so a `kill -9` never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time

from sessdiag.core.errors import LockHeld, UsageError

LOCK_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def runtime_dirs() -> list[str]:
    """Candidate directories for default lock files, most specific first."""
    out = ["/run/sessdiag"]
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg):
        out.append(os.path.join(xdg, "sessdiag"))
    out.append(f"/tmp/sessdiag-{os.getuid()}")
    return out


def _usable_private_dir(path: str) -> bool:
    """Create path (0700 under /tmp, 0755 elsewhere) and check it is ours and no symlink."""
    shared_tmp = path.startswith("/tmp/")
    try:
        os.mkdir(path, 0o700 if shared_tmp else 0o755)
    except FileExistsError:
        pass
    except OSError:
        return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        return False
    if shared_tmp and st.st_mode & 0o022:
        return False  # someone else could swap our lock file in a world-writable dir
    return os.access(path, os.W_OK | os.X_OK)


def runtime_dir() -> str | None:
    """The first usable runtime directory (created if needed), or None."""
    for d in runtime_dirs():
        if _usable_private_dir(d):
            return d
    return None


def default_lock_path(root_dev: int, root_ino: int) -> str:
    d = runtime_dir()
    if d is None:
        raise UsageError("no usable directory for the lock file (tried "
                         + ", ".join(runtime_dirs()) + "); pass --lock PATH")
    return os.path.join(d, f"prune-{root_dev:x}-{root_ino}.lock")


class StoreLock:
    """An acquired lock; release() (or the process dying) frees it."""

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self.fd = fd

    def release(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(path: str, *, root: str) -> StoreLock:
    """flock(LOCK_EX|LOCK_NB) on path; LockHeld (exit 75) at once when another run holds it."""
    try:
        fd = os.open(path, LOCK_FLAGS, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(f"lock file {path} is a symlink; refusing to use it") from exc
        raise UsageError(f"cannot open lock file {path}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"lock file {path} is not a regular file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise UsageError(f"cannot lock {path}: {exc.strerror}") from exc
            holder = _holder(fd)
            raise LockHeld(
                f"another prune{holder} holds the lock {path} on {root}; "
                "not starting (exit 75: try again later)") from exc
    except BaseException:
        os.close(fd)
        raise
    # Who holds it, for the message a second run prints. Best effort.
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        text = f"pid={os.getpid()} since={time.strftime('%Y-%m-%dT%H:%M:%S%z')} root={root}\n"
        os.pwrite(fd, text.encode(), 0)
    return StoreLock(path, fd)


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    if "pid" in fields:
        since = f", since {fields['since']}" if "since" in fields else ""
        return f" (pid {fields['pid']}{since})"
    return ""
