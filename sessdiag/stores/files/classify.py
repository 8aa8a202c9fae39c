"""The one answer to "what is this entry?" for scan, prune, gc-estimate and attribution.

beego's GC (filepath.Walk) visits every directory of the tree and deletes any old
non-directory wherever it is, so every reader walks every directory on the store's
filesystem (never a symlink, never a mount point) and sorts every entry into exactly one of:

- a **session**: a regular file on the root's filesystem whose name is an id of the layout
  (never starting with a dot) sitting in its own shard directory;
- a **shard** directory (one character, above the session level): walked as the layout;
- `symlinks`: never followed, whatever they point at;
- `misplaced`: a regular file named like a session id, in the wrong place;
- `foreign`: everything else: other names, FIFOs, sockets, devices, directories off the
  layout (walked all the same: beego's GC walks them) and mount points (never entered).
  Three kinds of foreign entries are also counted on their own, as details:
  `nfs_silly` (`.nfs…`, a file deleted on NFS while still open), `other_fs` (a mount point
  or another filesystem's entry inside the store) and `stage_leftovers` (a session a killed
  prune had renamed to its private name; prune finishes or puts it back);
- `unreadable`: a directory that cannot be opened or listed, or an entry that cannot be
  lstat'ed, for lack of permission: that part of the store was never examined.

The hot loops decide "session" themselves (it is the common case and must stay in C);
whatever they do not count as a session comes here.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from sessdiag.stores.files.fsops import DIR_FLAGS, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, kind_name
from sessdiag.stores.files.layout import Layout

# The contract's kinds (a partition of what is not a session) and the details of foreign.
CONTRACT_KINDS = ("symlinks", "foreign", "misplaced", "unreadable")
FOREIGN_DETAILS = ("nfs_silly", "other_fs", "stage_leftovers")

# Outcomes of entry(): the three that are not anomalies, then anomaly kinds.
SESSION = "session"
SHARD = "shard"  # a directory of the layout: walk it as such
WALK = "walk"  # a directory off the layout: one foreign entry, walked (beego's GC does)

OWN_PREFIX = ".sessdiag-"  # prune's probe files and staged sessions; never a session id
STAGE_RE = re.compile(r"\.sessdiag-[0-9a-f]{8}-(.+)")
NFS_PREFIX = ".nfs"


@dataclass(frozen=True)
class Classifier:
    layout: Layout
    root_dev: int
    mounts: frozenset[str] = frozenset()  # root-relative mount points inside the store

    def __post_init__(self) -> None:
        object.__setattr__(self, "_match", self.layout.name_re.fullmatch)

    def is_session_name(self, name: str, shard: str) -> bool:
        """An id of the layout that belongs in the shard directory `shard` (joined parts)."""
        return name[:1] != "." and self._match(name) is not None \
            and name.startswith(shard, len(self.layout.prefix))  # type: ignore[attr-defined]

    def shard_key(self, rel: str) -> str | None:
        """The shard key when ROOT/rel is a session directory of the layout, else None."""
        parts = rel.split("/") if rel else []
        if len(parts) == self.layout.depth and all(len(x) == 1 for x in parts):
            return "".join(parts)
        return None

    def on_layout(self, rel: str) -> bool:
        """ROOT/rel is the root or a shard directory above the session level."""
        parts = rel.split("/") if rel else []
        return len(parts) <= self.layout.depth and all(len(x) == 1 for x in parts)

    def entry(self, name: str, st: os.stat_result, rel_dir: str,
              shard: str | None) -> tuple[str, str | None]:
        """(outcome, detail) of one entry of ROOT/rel_dir, where `shard` is the directory's
        shard key (None when it holds no sessions). detail is a FOREIGN_DETAILS kind or None.
        """
        fmt = st.st_mode & S_IFMT
        rel_name = f"{rel_dir}/{name}" if rel_dir else name
        other_fs = st.st_dev != self.root_dev or (bool(self.mounts) and rel_name in self.mounts)
        if fmt == S_IFDIR:
            if other_fs:
                return "foreign", "other_fs"
            if len(name) == 1 and name != "." and self.on_layout(rel_dir) \
                    and len(rel_dir.split("/") if rel_dir else []) < self.layout.depth:
                return SHARD, None
            return WALK, None
        if fmt == S_IFLNK:
            return "symlinks", None
        if fmt == S_IFREG:
            if other_fs:
                return "foreign", "other_fs"
            if shard is not None and self.is_session_name(name, shard):
                return SESSION, None
            if name.startswith(OWN_PREFIX) and shard is not None:
                m = STAGE_RE.fullmatch(name)
                if m is not None and self.is_session_name(m.group(1), shard):
                    return "foreign", "stage_leftovers"
            if name.startswith(NFS_PREFIX):
                return "foreign", "nfs_silly"
            if self._match(name) is not None:  # type: ignore[attr-defined]
                return "misplaced", None
            return "foreign", None
        if name.startswith(NFS_PREFIX):
            return "foreign", "nfs_silly"
        return "foreign", None

    @staticmethod
    def example(outcome: str, rel_name: str, st: os.stat_result) -> str:
        """How an entry is named in a report's examples (its kind when not a plain file)."""
        fmt = st.st_mode & S_IFMT
        if outcome == "foreign" and fmt not in (S_IFREG, S_IFLNK):
            return f"{rel_name} ({kind_name(st.st_mode)})"
        return rel_name


def open_failure(exc: OSError) -> str:
    """What a failed open/list of a directory means: unreadable, vanished, or raced.

    EACCES/EPERM: permission denied, that part of the store is never examined. ENOENT: it
    went away since it was listed. Anything else (ELOOP/ENOTDIR: swapped for a symlink or a
    file; EXDEV: another filesystem appeared): a race with whoever changes the tree.
    """
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "unreadable"
    if exc.errno == errno.ENOENT:
        return "vanished"
    return "raced"


# Walking what is off the layout: directories inside a shard, stray directories above the
# shards. Nothing in them is a session; everything is reported, directories are descended.

# Events of walk_off_layout: (what, path, stat, outcome, detail)
#   ("dir", rel, None, "", None)        a directory opened and listed
#   ("entry", rel_name, st, outcome, detail)  an entry classified (a directory walked next
#                                       is an entry "foreign" too)
#   ("unreadable" | "raced" | "vanished", rel, None, "", None)
Event = tuple[str, str, "os.stat_result | None", str, "str | None"]
MAX_OFF_LAYOUT_DEPTH = 64  # below a shard; deeper directories are reported, not descended


def walk_off_layout(clf: Classifier, parent_fd: int, name: str | None,
                    rel: str) -> Iterator[Event]:
    """Every entry of ROOT/rel and below, depth first, fd-relative and never following.

    `name` None: walk parent_fd itself (ROOT/rel); else open `name` in parent_fd first.
    Only the directories on the current path are held open.
    """
    first = os.dup(parent_fd) if name is None else _open_sub(clf, parent_fd, name)
    if isinstance(first, str):
        yield (first, rel, None, "", None)
        return
    stack: list[tuple[int, str, list[str]]] = []
    pending: list[tuple[int, str]] = [(first, rel)]
    try:
        while pending or stack:
            if pending:
                fd, here = pending.pop()
                subdirs: list[str] = []
                try:
                    names = sorted(os.listdir(fd))
                except OSError as exc:
                    os.close(fd)
                    yield (open_failure(exc), here or ".", None, "", None)
                    continue
                yield ("dir", here, None, "", None)
                prefix = here + "/" if here else ""
                for n in names:
                    try:
                        st = os.lstat(n, dir_fd=fd)
                    except FileNotFoundError:
                        yield ("vanished", prefix + n, None, "", None)
                        continue
                    except OSError as exc:
                        yield (open_failure(exc), prefix + n, None, "", None)
                        continue
                    outcome, detail = clf.entry(n, st, here, None)
                    if outcome in (WALK, SHARD):
                        yield ("entry", prefix + n, st, "foreign", None)
                        if len(stack) < MAX_OFF_LAYOUT_DEPTH:
                            subdirs.append(n)
                        continue
                    yield ("entry", prefix + n, st, outcome, detail)
                stack.append((fd, here, subdirs[::-1]))
                continue
            fd, here, subdirs = stack[-1]
            if not subdirs:
                os.close(fd)
                stack.pop()
                continue
            n = subdirs.pop()
            sub = _open_sub(clf, fd, n)
            child = f"{here}/{n}" if here else n
            if isinstance(sub, str):
                yield (sub, child, None, "", None)
                continue
            pending.append((sub, child))
    finally:
        for fd, _here, _subdirs in stack:
            os.close(fd)
        for fd, _here in pending:
            os.close(fd)


def _open_sub(clf: Classifier, parent_fd: int, name: str) -> int | str:
    """The subdirectory's fd, or what went wrong (an open_failure kind)."""
    try:
        fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        return open_failure(exc)
    if os.fstat(fd).st_dev != clf.root_dev:  # a mount appeared since the lstat
        os.close(fd)
        return "raced"
    return fd
