"""Resolve the intents a killed run left in the journal, before acting again."""

from __future__ import annotations

import contextlib
import os
import stat
import time
from typing import Any

from sessdiag.stores.files import fsops
from sessdiag.stores.files.classify import STAGE_RE
from sessdiag.stores.files.prune.journal import Journal, iso_ns, read_journal


def reconcile_journal(path: str, root: str, root_fd: int, root_dev: int, run_id: str,
                      max_age_ns: int, grace_ns: int, clock_adj_ns: int) -> dict[str, int]:
    """Append a result for every unresolved intent of this root; returns outcome counts."""
    js = read_journal(path)
    counts: dict[str, int] = {}
    mine = {k: v for k, v in js.pending.items() if js.roots.get(k[0]) == root}
    if not mine:
        return counts
    j = Journal(path)
    prefix = root.rstrip("/") + "/"
    cutoff = time.time_ns() + clock_adj_ns - max_age_ns - grace_ns
    try:
        for (run, p), rec in mine.items():
            outcome, extra = _reconcile_one(p, prefix, rec, root_fd, root_dev, cutoff)
            counts[outcome] = counts.get(outcome, 0) + 1
            event = {"gone": "deleted", "finished": "deleted", "quarantined": "quarantined",
                     "present": "not-deleted", "restored": "not-deleted",
                     "conflict": "not-deleted", "unknown": "not-deleted"}[outcome]
            out = {"event": event, "run": run, "path": p, "inode": rec.get("inode"),
                   "size": rec.get("size"), "reconciled_by": run_id, "outcome": outcome}
            if event != "not-deleted" and isinstance(rec.get("mtime_ns"), int):
                out["mtime"] = iso_ns(rec["mtime_ns"])
                out["mtime_ns"] = rec["mtime_ns"]
            out.update(extra)
            j.add(out)
        j.flush(sync=True)
    finally:
        j.close()
    return counts


def _reconcile_one(p: str, prefix: str, rec: dict[str, Any], root_fd: int, root_dev: int,
                   cutoff: int) -> tuple[str, dict[str, Any]]:
    if not p.startswith(prefix):
        return "unknown", {}
    rel_path = p[len(prefix):]
    parts = rel_path.split("/")
    if any(x in ("", ".", "..") for x in parts):
        return "unknown", {}
    rel, name = "/".join(parts[:-1]), parts[-1]
    ino = rec.get("inode")
    try:
        chain = fsops.open_chain(root_fd, rel, root_dev)
    except FileNotFoundError:
        return "gone", {}
    except OSError:
        return "unknown", {}
    try:
        fd = fsops.chain_fd(root_fd, chain)
        try:
            st = os.lstat(name, dir_fd=fd)
            if st.st_ino == ino:
                return "present", {}
        except FileNotFoundError:
            pass
        stage = rec.get("stage")
        if isinstance(stage, str) and STAGE_RE.fullmatch(stage):
            try:
                st = os.lstat(stage, dir_fd=fd)
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISREG(st.st_mode) and st.st_ino == ino:
                if st.st_mtime_ns == rec.get("mtime_ns") and st.st_mtime_ns < cutoff:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(stage, dir_fd=fd)
                    return "finished", {"deleted_at": iso_ns(time.time_ns())}
                try:
                    os.link(stage, name, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
                except FileExistsError:
                    return "conflict", {"kept_as": stage}
                with contextlib.suppress(OSError):
                    os.unlink(stage, dir_fd=fd)
                return "restored", {}
        to = rec.get("to")
        if isinstance(to, str):
            try:
                st = os.lstat(to)
                if st.st_ino == ino:
                    return "quarantined", {"to": to}
            except OSError:
                pass
        return "gone", {"deleted_at": iso_ns(time.time_ns())}
    finally:
        fsops.close_chain(chain)
