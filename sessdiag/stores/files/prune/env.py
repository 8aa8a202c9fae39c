"""What the prune learns about its surroundings: the filesystem's clock, processes using
the store, and its own CPU and IO priority."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from sessdiag.core.errors import UsageError
from sessdiag.stores.files.classify import OWN_PREFIX
from sessdiag.stores.files.prune.options import EXAMPLES


@dataclass
class ClockProbe:
    source: str  # "root" | "lock-dir" | "local" | "not-probed"
    path: str | None
    offset_s: float  # filesystem clock minus local clock
    note: str | None = None


def probe_clock(root_fd: int, root: str, fallback_dir: str | None) -> ClockProbe:
    """Write a probe file and read its mtime: the clock the filesystem stamps files with."""
    name = f"{OWN_PREFIX}clock-{os.getpid()}-{os.urandom(4).hex()}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    attempts: list[tuple[str, int | None, str]] = [("root", root_fd, root)]
    if fallback_dir:
        attempts.append(("lock-dir", None, fallback_dir))
    notes = []
    for source, dir_fd, where in attempts:
        try:
            t0 = time.time_ns()
            if dir_fd is not None:
                fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
            else:
                fd = os.open(os.path.join(where, name), flags, 0o600)
            t1 = time.time_ns()
        except OSError as exc:
            notes.append(f"cannot write a clock probe in {where} ({exc.strerror})")
            continue
        try:
            mtime = os.fstat(fd).st_mtime_ns
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                if dir_fd is not None:
                    os.unlink(name, dir_fd=dir_fd)
                else:
                    os.unlink(os.path.join(where, name))
        offset = (mtime - (t0 + t1) // 2) / 1e9
        # Coarse filesystem timestamps (one jiffy) lag the fine clock by a few ms: not skew.
        if abs(offset) < 0.05:
            offset = 0.0
        note = "; ".join(notes) or None
        if source == "lock-dir":
            note = (note + "; " if note else "") + (
                "the clock was probed on the lock directory's filesystem, not the store's")
        return ClockProbe(source, os.path.join(where, name), offset, note)
    return ClockProbe("local", None, 0.0, "; ".join(notes) + "; judging age by the local clock")


def processes_using(root: str, *, time_budget: float = 3.0) -> list[str]:
    """Warnings for processes whose cwd or open files are inside the store.

    Only the links in /proc are read, never the paths they name: psutil's open_files()
    stats every file of every process, and a stat of a file another process holds on some
    other slow or hung mount (an NFS server gone, a FUSE mount at high latency) blocked the
    prune there, past any time budget, before it had looked at its own store.
    """
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return []
    prefix = root.rstrip("/") + "/"
    me = os.getpid()
    found: list[str] = []
    t_end = time.monotonic() + time_budget
    for proc in psutil.process_iter(["pid", "name"]):
        if time.monotonic() > t_end:
            found.append("(stopped looking for processes using the store after "
                         f"{time_budget:.0f} s)")
            break
        if proc.pid == me:
            continue
        where = None
        for what, path in _links(proc.pid):
            if path == root.rstrip("/") or path.startswith(prefix):
                where = (f"its working directory is {path}" if what == "cwd"
                         else f"it has {path} open")
                break
        if where:
            found.append(f"process {proc.pid} ({proc.info.get('name') or '?'}): {where}")
            if len(found) >= EXAMPLES:
                break
    return found


def _links(pid: int) -> Iterator[tuple[str, str]]:
    """("cwd" | "fd", path) of a process, by readlink in /proc: the kernel answers from its
    own records (no request reaches the filesystem the path is on). Nothing for a process
    that is gone or not ours to look at."""
    base = f"/proc/{pid}"
    with contextlib.suppress(OSError):
        yield "cwd", os.readlink(f"{base}/cwd")
    try:
        fds = os.listdir(f"{base}/fd")
    except OSError:
        return
    for fd in fds:
        with contextlib.suppress(OSError):
            yield "fd", os.readlink(f"{base}/fd/{fd}")


def apply_priority(ionice: str | None, nice: int | None) -> list[str]:
    """Lower our CPU and IO priority before any worker starts (children inherit it)."""
    notes: list[str] = []
    if nice is None and ionice is None:
        return notes  # psutil's import (~15 ms) stays off the default run's start
    import psutil

    p = psutil.Process()
    if nice is not None:
        try:
            p.nice(nice)
        except (psutil.Error, OSError) as exc:
            notes.append(f"could not set nice {nice}: {exc}")
    if ionice is not None:
        cls = {"idle": psutil.IOPRIO_CLASS_IDLE, "best-effort": psutil.IOPRIO_CLASS_BE}.get(ionice)
        if cls is None:
            raise UsageError("--ionice must be 'idle' or 'best-effort'")
        try:
            if cls == psutil.IOPRIO_CLASS_BE:
                p.ionice(cls, 7)
            else:
                p.ionice(cls)
        except (psutil.Error, OSError) as exc:
            notes.append(f"could not set ionice {ionice}: {exc}")
    return notes
