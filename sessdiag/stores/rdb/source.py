"""Where a dump's bytes come from: a file, a gzip-compressed file, or standard input.

`dump.rdb.gz` and `-` let a dump go from a server (`redis-cli --rdb -`) or a backup straight
into the analysis without touching the analysing machine's disk. A file is opened without
following a symlink at its last component, like every path sessdiag reads.
"""

from __future__ import annotations

import gzip
import os
import stat
import sys
from typing import BinaryIO

from sessdiag.core.errors import TargetUnreadable, UsageError

GZIP_MAGIC = b"\x1f\x8b"


def is_stdin(target: str) -> bool:
    return target == "-"


def is_gzip_dump(target: str) -> bool:
    """A gzip file whose first member starts with the RDB magic."""
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        with os.fdopen(os.dup(fd), "rb") as raw:
            if raw.read(2) != GZIP_MAGIC:
                return False
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw) as gz:
                head = gz.read(9)
    except (OSError, EOFError, gzip.BadGzipFile):
        return False
    finally:
        os.close(fd)
    return head[:5] == b"REDIS" and head[5:9].isdigit()


class DumpSource:
    """One readable stream of the dump, and the facts of its file (when it is one)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.stdin = is_stdin(target)
        self.location = "(standard input)" if self.stdin else os.path.abspath(target)
        self.mtime: float | None = None
        self.size: int | None = None
        self.compressed = False
        self._raw: BinaryIO | None = None
        if not self.stdin:
            try:
                st = os.stat(target, follow_symlinks=False)
            except OSError as exc:
                raise TargetUnreadable(f"{target}: {exc.strerror}") from None
            if stat.S_ISLNK(st.st_mode):
                raise UsageError(f"{target} is a symbolic link: give the dump itself")
            self.mtime = st.st_mtime
            self.size = st.st_size

    @property
    def rereadable(self) -> bool:
        return not self.stdin

    def open(self) -> BinaryIO:
        if self.stdin:
            stream: BinaryIO = sys.stdin.buffer
            head = stream.peek(2)[:2] if hasattr(stream, "peek") else b""
            if head == GZIP_MAGIC:
                self.compressed = True
                return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
            return stream
        try:
            fd = os.open(self.target, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise TargetUnreadable(f"{self.target}: {exc.strerror}") from None
        f = os.fdopen(fd, "rb", buffering=0)
        if f.read(2) == GZIP_MAGIC:
            f.seek(0)
            self.compressed = True
            self._raw = f
            return gzip.GzipFile(fileobj=f)  # type: ignore[return-value]
        f.seek(0)
        return f

    def close(self) -> None:
        """Close what `open` opened beneath the stream it returned (a gzip file's file)."""
        raw, self._raw = self._raw, None
        if raw is not None:
            raw.close()
