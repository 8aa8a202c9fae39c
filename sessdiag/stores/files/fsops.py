"""Every filesystem operation of the file store, in one place: fd-relative, never following.

Directories are opened one component at a time relative to an already opened parent, with
O_NOFOLLOW (and O_DIRECTORY), so a directory swapped for a symlink anywhere on the way is
refused instead of followed (ELOOP/ENOTDIR). Files are opened O_NOFOLLOW|O_NONBLOCK (a FIFO
never blocks a reader) and their fstat is checked before a byte is read. scan (the walker),
prune, gc-estimate's payload sample, inspect and client attribution all go through here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Iterable, Iterator

from sessdiag.core.errors import TargetUnreadable

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC
# A directory inode larger than this holds ~100k+ entries: stream it instead of listing it
# whole, so memory stays flat on a flat PHP save_path with millions of files.
STREAM_DIR_BYTES = 4 << 20
STREAM_BATCH = 8192
# Payloads above this are counted as undecodable ("oversized") without being read.
MAX_PAYLOAD_BYTES = 64 << 20

S_IFMT = 0o170000
S_IFREG = 0o100000
S_IFDIR = 0o040000
S_IFLNK = 0o120000


def open_root(root: str) -> int:
    """The store root's fd (the root path itself was checked by layout.resolve_root)."""
    try:
        return os.open(root, DIR_FLAGS)
    except PermissionError as exc:
        raise TargetUnreadable(f"cannot read {root}: permission denied") from exc


def split_rel(rel: str) -> list[str]:
    return [p for p in rel.split("/") if p]


def open_rel(root_fd: int, rel: str, flags: int = DIR_FLAGS) -> int:
    """Open ROOT/rel one component at a time, refusing symlinks at every level.

    The last component is opened with `flags` (a directory unless told otherwise); an empty
    rel gives a new fd of the root itself.
    """
    parts = split_rel(rel)
    fd = os.dup(root_fd)
    try:
        for i, part in enumerate(parts):
            nxt = os.open(part, flags if i == len(parts) - 1 else DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def reopen_dir(fd: int) -> int:
    """A new open file description of the directory fd: listing a shared one would race."""
    return os.open(".", DIR_FLAGS, dir_fd=fd)


# Chains: every level kept open with its identity, so a later check can prove that none of
# the directories was moved or swapped since (prune re-checks before every batch).

Chain = list[tuple[int, str, int]]  # (fd, name in parent, inode)


def open_chain(root_fd: int, rel: str, root_dev: int) -> Chain:
    """Open ROOT/rel level by level; OSError(ELOOP/ENOTDIR/EXDEV) when anything is off."""
    chain: Chain = []
    parent = root_fd
    try:
        for name in split_rel(rel):
            fd = os.open(name, DIR_FLAGS, dir_fd=parent)
            st = os.fstat(fd)
            chain.append((fd, name, st.st_ino))
            if st.st_dev != root_dev:
                raise OSError(errno.EXDEV, "on another filesystem")
            parent = fd
        return chain
    except BaseException:
        close_chain(chain)
        raise


def close_chain(chain: Chain) -> None:
    for fd, _name, _ino in chain:
        with contextlib.suppress(OSError):
            os.close(fd)


def chain_intact(root_fd: int, chain: Chain, root_dev: int) -> bool:
    """Each opened directory is still the entry of that name in its parent (not swapped)."""
    parent = root_fd
    for fd, name, ino in chain:
        try:
            st = os.lstat(name, dir_fd=parent)
        except OSError:
            return False
        if not stat.S_ISDIR(st.st_mode) or st.st_ino != ino or st.st_dev != root_dev:
            return False
        parent = fd
    return True


def chain_fd(root_fd: int, chain: Chain) -> int:
    return chain[-1][0] if chain else root_fd


# Listing


def batches(fd: int) -> Iterable[list[str]]:
    """The names in a directory: one list, or batches streamed when the directory is huge."""
    if os.fstat(fd).st_size > STREAM_DIR_BYTES:
        return stream_batches(fd)
    return (os.listdir(fd),)


def stream_batches(fd: int) -> Iterator[list[str]]:
    return in_batches(stream_names(fd))


def in_batches(names: Iterable[str], size: int | None = None) -> Iterator[list[str]]:
    size = size or STREAM_BATCH
    batch: list[str] = []
    for name in names:
        batch.append(name)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def stream_names(fd: int) -> Iterator[str]:
    """Names one at a time from a private open of the directory (the caller's fd stays put)."""
    dup = reopen_dir(fd)
    try:
        with os.scandir(dup) as it:
            for entry in it:
                yield entry.name
    finally:
        os.close(dup)


def partition_names(fd: int, part: int, parts: int) -> Iterator[str]:
    """The names of one hash partition of a (flat, huge) directory."""
    # hash() is the same in every worker: threads share it, processes are forked.
    for name in stream_names(fd):
        if hash(name) % parts == part:
            yield name


# Single entries


def lstat_rel(root_fd: int, rel: str) -> os.stat_result:
    """lstat ROOT/rel: the parent chain opened fd-relative, the entry itself not followed."""
    d, _, name = rel.rpartition("/")
    dir_fd = open_rel(root_fd, d) if d else os.dup(root_fd)
    try:
        return os.lstat(name, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


class PayloadTooLarge(OSError):
    """A file larger than any session should be: refused before a byte is read."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, f"{size} bytes, over the limit of {limit}")
        self.size = size
        self.limit = limit


def read_payload(dir_fd: int, name: str, *, ino: int | None = None,
                 limit: int = MAX_PAYLOAD_BYTES) -> tuple[bytes, os.stat_result] | None:
    """Read one file by dir fd, never through a symlink and never blocking on a FIFO.

    Returns (bytes, fstat) or None when the entry is not a regular file or (with `ino`) no
    longer the inode the caller looked at. A file over `limit` raises PayloadTooLarge; one
    that grows while read is cut at limit + 1 bytes, so the caller can tell. Other OSErrors
    (ENOENT, EACCES, ELOOP for a symlink) go to the caller.
    """
    fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode) or (ino is not None and fst.st_ino != ino):
            return None
        if fst.st_size > limit:
            raise PayloadTooLarge(fst.st_size, limit)
        chunks = []
        left = min(fst.st_size, limit) + 1
        while left > 0:
            want = min(left, 1 << 20)
            b = os.read(fd, want)
            chunks.append(b)
            left -= len(b)
            if len(b) < want:  # a short read of a regular file is its end: no extra read
                break
        return b"".join(chunks), fst
    finally:
        os.close(fd)


def read_payload_rel(root_fd: int, rel: str, *,
                     limit: int = MAX_PAYLOAD_BYTES) -> tuple[bytes, os.stat_result] | None:
    """read_payload of ROOT/rel, its directories opened fd-relative with O_NOFOLLOW."""
    d, _, name = rel.rpartition("/")
    dir_fd = open_rel(root_fd, d) if d else os.dup(root_fd)
    try:
        return read_payload(dir_fd, name, limit=limit)
    finally:
        os.close(dir_fd)


def kind_name(mode: int) -> str:
    """A short name of what a non-regular entry is, for examples in reports."""
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "special"


def _unescape_mount(s: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mounts_below(root: str) -> frozenset[str]:
    """Root-relative paths of mount points strictly inside root (from /proc/self/mountinfo).

    A bind mount of the same filesystem has the root's st_dev: only the mount table shows it.
    """
    out: set[str] = set()
    prefix = os.path.realpath(root).rstrip("/") + "/"
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) > 4:
                    mp = _unescape_mount(parts[4])
                    if mp.startswith(prefix):
                        out.add(mp[len(prefix):].rstrip("/"))
    except OSError:
        pass
    return frozenset(out)
