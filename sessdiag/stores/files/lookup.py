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

from sessdiag.core.errors import DecodeError
from sessdiag.frameworks.base import Decoder, attribute_value
from sessdiag.stores.files.fsops import MAX_PAYLOAD_BYTES, open_rel, open_root
from sessdiag.stores.files.layout import Layout
from sessdiag.stores.files.sessions import iter_sessions, read_session

MAX_GROUPS = 200_000


class FileStoreLookup:
    """lstat sessions by id in a beego/PHP file store, fd-relative, never through a symlink."""

    def __init__(self, root: str, layout: Layout, sid_of: Callable[[bytes], str | None]) -> None:
        self.layout = layout
        self.sid_of = sid_of
        self.root_fd = open_root(root)
        self.dirs: dict[tuple[str, ...], int | None] = {}

    def __call__(self, raw: bytes) -> tuple[int, int] | None:
        sid = self.sid_of(raw)
        if sid is None or self.layout.sid_of(self.layout.prefix + sid) is None:
            return None  # not an id of this store (and never a path)
        shard = self.layout.shard_of(sid)
        fd = self.dirs.get(shard, -1)
        if fd == -1:
            try:
                fd = open_rel(self.root_fd, "/".join(shard)) if shard else os.dup(self.root_fd)
            except OSError:
                fd = None
            self.dirs[shard] = fd
        if fd is None:
            return None
        try:
            st = os.lstat(self.layout.prefix + sid, dir_fd=fd)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return st.st_size, st.st_blocks * 512

    def close(self) -> None:
        for fd in self.dirs.values():
            if fd is not None:
                os.close(fd)
        self.dirs.clear()
        os.close(self.root_fd)


def attribute_files(root: str, layout: Layout, decode: Decoder, attr: str,
                    total: int) -> list[dict]:
    """Rows like the Redis store's: one per value of `attr`, plus "(unattributed)"."""
    groups: dict[str, list[int]] = {}
    un = [0, 0, 0, 0, 0]  # sessions, bytes, allocated, empty, undecodable
    for dfd, name, st in iter_sessions(root, layout):  # the sessions scan counts
        size, alloc = st.st_size, st.st_blocks * 512
        owner = None
        if size not in layout.empty_sizes and size <= MAX_PAYLOAD_BYTES:
            owner = _payload_attr(read_session(dfd, name, st), decode, attr, un)
        if owner is None:
            un[0] += 1
            un[1] += size
            un[2] += alloc
            if size in layout.empty_sizes:
                un[3] += 1
            continue
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
