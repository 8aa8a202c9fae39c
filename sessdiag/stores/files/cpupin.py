"""Keep a fanning-out walk's threads on one CPU while it runs.

On a latency-bound mount the engine keeps dozens of threads in system calls; each one that
returns must take the GIL back from whichever thread holds it. With the threads spread
over every CPU, each of those hand-overs wakes a thread on another CPU (an inter-processor
interrupt; in a VM, an exit to the hypervisor) and moves the interpreter's state between
caches. Only one thread runs Python at a time anyway, so one CPU loses no parallelism
the GIL allows: the mount's latency is overlapped in the kernel either way. Measured on
this project's 2-vCPU VM (a prune of 20,000 files on slowfs3 at 1 ms): the same
operations, voluntary context switches 200k -> 90k, prune's CPU 4.2 -> 2.9 s.

The CPU is the one the walk is running on when it decides to fan out (the scheduler put it
there), the process's own affinity is restored when the last engine that pinned closes,
and forked workers never pin (several processes on one CPU would be the opposite of what
they are for). SESSDIAG_PIN_CPU=0 turns it off.
"""

from __future__ import annotations

import contextlib
import os
import threading

_lock = threading.Lock()
_users = 0
_saved: set[int] | None = None
_pinned: int | None = None
_forbidden = False


def enabled() -> bool:
    return (not _forbidden and hasattr(os, "sched_setaffinity")
            and os.environ.get("SESSDIAG_PIN_CPU", "1") != "0")


def forbid() -> None:
    """In a forked worker: never pin this process (pool.py)."""
    global _forbidden
    _forbidden = True


def current_cpu() -> int | None:
    """The CPU this thread last ran on (/proc/thread-self/stat, field 39)."""
    try:
        with open("/proc/thread-self/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return int(fields[36])
    except (OSError, IndexError, ValueError):
        return None


def _set_all(cpus: set[int]) -> None:
    """Every thread of the process, until no new one appears (threads made meanwhile
    inherit their creator's affinity, which may have been the old one)."""
    done: set[int] = set()
    while True:
        try:
            tids = {int(t) for t in os.listdir("/proc/self/task")}
        except OSError:
            tids = {0}
        todo = tids - done
        if not todo:
            return
        for tid in todo:
            with contextlib.suppress(OSError):  # a thread that just ended
                os.sched_setaffinity(tid, cpus)
        done |= todo


def pin() -> int | None:
    """Pin the process to the current CPU (refcounted); the CPU, or None when not pinned."""
    global _users, _saved, _pinned
    if not enabled():
        return None
    with _lock:
        if _users:
            _users += 1
            return _pinned
        try:
            allowed = os.sched_getaffinity(0)
        except OSError:
            return None
        if len(allowed) < 2:
            return None
        cpu = current_cpu()
        if cpu not in allowed:
            cpu = min(allowed)
        try:
            _set_all({cpu})
        except OSError:
            return None
        _users, _saved, _pinned = 1, allowed, cpu
        return cpu


def unpin() -> None:
    """One pin() fewer; the last one gives the process its own affinity back."""
    global _users, _saved, _pinned
    with _lock:
        if not _users:
            return
        _users -= 1
        if _users:
            return
        saved, _saved, _pinned = _saved, None, None
        if saved:
            with contextlib.suppress(OSError):
                _set_all(saved)
