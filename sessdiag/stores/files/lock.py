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
import struct
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

    def __init__(self, path: str, fd: int, parts_fd: int = -1) -> None:
        self.path = path
        self.fd = fd
        self.parts_fd = parts_fd  # the partition scopes' file (part_scope), if any

    def release(self) -> None:
        if self.parts_fd >= 0:
            os.close(self.parts_fd)  # OFD locks go with their open file description
            self.parts_fd = -1
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(path: str, *, root: str, partition: tuple[int, int] | None = None) -> StoreLock:
    """flock(LOCK_EX|LOCK_NB) on path; LockHeld (exit 75) at once when another run holds it.

    A prune of partition K/N takes the store's flock shared (a whole-store prune, exclusive,
    excludes it and is excluded by it) and its own scope in PATH.parts (part_scope)."""
    fd = _open(path, "lock file")
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if partition else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise UsageError(f"cannot lock {path}: {exc.strerror}") from exc
            holder = _holder(fd)
            raise LockHeld(
                f"another prune{holder} holds the lock {path} on {root}; "
                "not starting (exit 75: try again later)") from exc
        parts_fd = part_scope(path + PARTS_SUFFIX, root, *partition) if partition else -1
    except BaseException:
        os.close(fd)
        raise
    # Who holds it, for the message a second run prints. Best effort; with partitions
    # running, the last one to start is named.
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        part = f" partition={partition[0]}/{partition[1]}" if partition else ""
        text = (f"pid={os.getpid()} since={time.strftime('%Y-%m-%dT%H:%M:%S%z')} "
                f"root={root}{part}\n")
        os.pwrite(fd, text.encode(), 0)
    return StoreLock(path, fd, parts_fd)


def _open(path: str, what: str) -> int:
    try:
        fd = os.open(path, LOCK_FLAGS, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(f"{what} {path} is a symlink; refusing to use it") from exc
        raise UsageError(f"cannot open {what} {path}: {exc.strerror}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UsageError(f"{what} {path} is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    if "pid" in fields:
        since = f", since {fields['since']}" if "since" in fields else ""
        part = f", partition {fields['partition']}" if "partition" in fields else ""
        return f" (pid {fields['pid']}{part}{since})"
    return ""


# The partition scopes live in a file of their own beside the lock, PATH.parts, as open file
# description (OFD) byte-range locks: on NFS Linux emulates flock with byte-range locks of
# the whole file, so record locks in the flock'ed file itself would conflict with it (man 2
# flock) and no two parts could ever run together. OFD locks, unlike lockf's, belong to the
# open file (like flock: inherited by forked workers, freed when the run dies) and conflict
# within one process too. Byte N, shared: "a prune of N parts runs"; PART_BASE + N *
# SCHEME_BYTES + K, exclusive: partition K/N's own scope.
PARTS_SUFFIX = ".parts"
SCHEME_BYTES = 1 << 17  # > MAX_PARTS (stores/files/partition.py)
PART_BASE = 1 << 20
# struct flock on 64-bit Linux: l_type, l_whence, l_start, l_len, l_pid (0 for OFD locks).
_FLOCK = struct.Struct("hhqqi4x")


def _ofd(fd: int, cmd: int, kind: int, start: int, length: int) -> int:
    """One OFD lock request; the l_type the kernel answers (F_UNLCK: no conflict, for GETLK)."""
    res = fcntl.fcntl(fd, cmd, _FLOCK.pack(kind, os.SEEK_SET, start, length, 0))
    return int(_FLOCK.unpack(res)[0])


def part_scope(path: str, root: str, k: int, n: int) -> int:
    """Take partition K/N's scope in the file `path`; its fd (the locks live while it is
    open). LockHeld while a prune of the same part, or of another number of parts (1/2 and
    1/3 overlap), runs. Two runs of different N racing here each take their byte before
    looking for the other's, so at least one sees the other: both may refuse, never both run."""
    set_lk, get_lk = getattr(fcntl, "F_OFD_SETLK", None), getattr(fcntl, "F_OFD_GETLK", None)
    if set_lk is None or get_lk is None:
        raise UsageError("--partition with --apply needs open file description locks "
                         "(Linux 3.15 or later)")
    fd = _open(path, "lock file")
    try:
        try:
            _ofd(fd, set_lk, fcntl.F_WRLCK, PART_BASE + n * SCHEME_BYTES + k, 1)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise UsageError(f"cannot lock {path}: {exc.strerror}") from exc
            raise LockHeld(f"another prune of partition {k}/{n} holds the lock {path} on "
                           f"{root}; not starting (exit 75: try again later)") from exc
        _ofd(fd, set_lk, fcntl.F_RDLCK, n, 1)
        for start, length in ((1, n - 1), (n + 1, SCHEME_BYTES - n - 1)):
            if length > 0 and _ofd(fd, get_lk, fcntl.F_WRLCK, start, length) != fcntl.F_UNLCK:
                raise LockHeld(f"a prune of {root} split into another number of partitions "
                               f"holds the lock {path}; partitions of different N overlap: "
                               "not starting (exit 75)")
    except OSError as exc:  # ENOLCK on a mount without a lock manager, say
        os.close(fd)
        raise UsageError(f"cannot lock {path}: {exc.strerror}") from exc
    except BaseException:
        os.close(fd)
        raise
    return fd
