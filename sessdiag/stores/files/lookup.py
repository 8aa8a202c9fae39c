"""File stores for `clients`: the store share of log orphans, and attribution by payload.

Moved here from the analysis layer (review debt 4): both read the store, so both live with
it, and both take the layout the scan found instead of re-detecting it from the report.
`FileStoreLookup` lstats one session by id, in its shard directory opened fd-relative with
O_NOFOLLOW at every level; `attribute_files` groups the sessions by one attribute of their
decoded payloads, over the very sessions scan counts (stores/files/sessions.py).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from contextlib import closing
from functools import partial

from sessdiag.core.errors import DecodeError
from sessdiag.frameworks.base import Decoder, attribute_value
from sessdiag.stores.files.fsops import MAX_PAYLOAD_BYTES, open_rel, open_root
from sessdiag.stores.files.inflight import Engine
from sessdiag.stores.files.layout import Layout
from sessdiag.stores.files.partition import Partition
from sessdiag.stores.files.sessions import iter_session_batches, read_session

MAX_GROUPS = 200_000


class FileStoreLookup:
    """lstat sessions by id in a beego/PHP file store, fd-relative, never through a symlink."""

    def __init__(self, root: str, layout: Layout, sid_of: Callable[[bytes], str | None],
                 partition: Partition | None = None) -> None:
        self.layout = layout
        self.partition = partition
        self.sid_of = sid_of
        self.root_fd = open_root(root)
        self.dirs: dict[tuple[str, ...], int | None] = {}
        self.engine = Engine()
        self.known: dict[bytes, tuple[int, int] | None] = {}  # prefetched answers

    def _where(self, raw: bytes) -> tuple[int, str] | None:
        """(shard directory fd, file name) of the session the cookie names, or None."""
        sid = self.sid_of(raw)
        if sid is None or self.layout.sid_of(self.layout.prefix + sid) is None:
            return None  # not an id of this store (and never a path)
        shard = self.layout.shard_of(sid)
        name = self.layout.prefix + sid
        if self.partition is not None and not self.partition.owns(shard[0] if shard else name):
            return None  # another part's session: that part's scan counts it
        fd = self.dirs.get(shard, -1)
        if fd == -1:
            try:
                fd = self.engine.op(open_rel, self.root_fd, "/".join(shard)) if shard \
                    else os.dup(self.root_fd)
            except OSError:
                fd = None
            self.dirs[shard] = fd
        return None if fd is None else (fd, name)

    def __call__(self, raw: bytes) -> tuple[int, int] | None:
        if raw in self.known:
            return self.known[raw]
        where = self._where(raw)
        if where is None:
            return None
        try:
            st = self.engine.op(os.lstat, where[1], dir_fd=where[0])
        except OSError:
            return None
        return _answer(st)

    def prefetch(self, raws: list[bytes]) -> None:
        """Look these cookies up ahead, shard by shard, many at once on a slow mount."""
        by_dir: dict[int, list[tuple[bytes, str]]] = {}
        for raw in dict.fromkeys(raws):
            where = self._where(raw)
            if where is None:
                self.known[raw] = None
            else:
                by_dir.setdefault(where[0], []).append((raw, where[1]))
        for fd, items in by_dir.items():
            names = [name for _raw, name in items]
            lstat = self.engine.lstats(fd, names)
            for raw, name in items:
                try:
                    self.known[raw] = _answer(lstat(name, dir_fd=fd))
                except OSError:
                    self.known[raw] = None

    def close(self) -> None:
        for fd in self.dirs.values():
            if fd is not None:
                os.close(fd)
        self.dirs.clear()
        self.engine.close()
        os.close(self.root_fd)


def _answer(st: os.stat_result) -> tuple[int, int] | None:
    if not stat.S_ISREG(st.st_mode):
        return None
    return st.st_size, st.st_blocks * 512


def attribute_files(root: str, layout: Layout, decode: Decoder, attr: str,
                    total: int, partition: Partition | None = None) -> list[dict]:
    """Rows like the Redis store's: one per value of `attr`, plus "(unattributed)"."""
    groups: dict[str, list[int]] = {}
    un = [0, 0, 0, 0, 0]  # sessions, bytes, allocated, empty, undecodable
    eng = Engine()
    try:
        # the sessions scan counts (of its part, under --partition)
        for dfd, found in iter_session_batches(root, layout, eng, partition):
            # The payloads of the batch are read many at once on a slow mount, decoded here.
            wanted = [(n, st) for n, st in found
                      if st.st_size not in layout.empty_sizes
                      and st.st_size <= MAX_PAYLOAD_BYTES]
            # closing(): every read has finished before the directory is closed.
            with closing(eng.map(partial(_read, dfd), wanted)) as payloads:
                for _name, st in found:
                    data = next(payloads) if st.st_size not in layout.empty_sizes \
                        and st.st_size <= MAX_PAYLOAD_BYTES else None
                    _count(groups, un, layout, st, data, decode, attr)
    finally:
        eng.close()
    return _rows(groups, un, attr, total)


def _read(dfd: int, item: tuple[str, os.stat_result]) -> bytes | None:
    return read_session(dfd, item[0], item[1])


def _count(groups: dict[str, list[int]], un: list[int], layout: Layout, st: os.stat_result,
           data: bytes | None, decode: Decoder, attr: str) -> None:
    size, alloc = st.st_size, st.st_blocks * 512
    owner = None
    if size not in layout.empty_sizes and size <= MAX_PAYLOAD_BYTES:
        owner = _payload_attr(data, decode, attr, un)
    if owner is None:
        un[0] += 1
        un[1] += size
        un[2] += alloc
        if size in layout.empty_sizes:
            un[3] += 1
        return
    g = groups.get(owner)
    if g is None:
        if len(groups) >= MAX_GROUPS:
            owner = "(other values)"
            g = groups.setdefault(owner, [0, 0, 0])
        else:
            g = groups[owner] = [0, 0, 0]
    g[0] += 1
    g[1] += size
    g[2] += alloc


def _rows(groups: dict[str, list[int]], un: list[int], attr: str, total: int) -> list[dict]:
    rows = [{"client": f"{attr}={k}", "sessions": v[0], "orphans": 0, "bytes": v[1],
             "allocated_bytes": v[2], "share_of_sessions": round(v[0] / total, 6) if total
             else None, "source": "payload"} for k, v in groups.items()]
    rows.append({"client": "(unattributed)", "sessions": un[0], "orphans": un[3],
                 "bytes": un[1], "allocated_bytes": un[2],
                 "share_of_sessions": round(un[0] / total, 6) if total else None,
                 "undecodable": un[4], "source": "payload",
                 "note": f"sessions without {attr!r}; orphans = those holding no attributes"})
    return rows


def _payload_attr(data: bytes | None, decode: Decoder, attr: str, un: list[int]) -> str | None:
    if data is None:
        return None
    try:
        entries = decode(data)
    except DecodeError:
        un[4] += 1
        return None
    return attribute_value(entries, attr)
