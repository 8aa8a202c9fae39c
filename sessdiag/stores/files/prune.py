"""Delete expired sessions from a file store without harming a live app (docs/prune.md).

Two passes over the tree, both parallel over shard directories:

1. **Plan** (every run): list and lstat everything through directory fds opened with
   O_NOFOLLOW; classify each entry against the layout's allow-list; count sessions,
   candidates and anomalies. With --apply, candidates are spilled to small temp files
   (memory stays O(shards), never O(files)) and the safety checks run on the totals:
   nothing is deleted if any of them refuses.
2. **Apply**: for each spilled candidate, immediately before acting, lstat it again by
   dir fd and act only if it is still a regular file with the same device, inode and
   mtime, still older than max-age + grace by the filesystem clock, single-linked and
   writable. The default action renames it to a private name in the same directory, lstats
   that name, and unlinks it only if it is still the same untouched inode; otherwise it is
   put back. A session the app touched at any moment before it vanished from its path is
   therefore never deleted (--direct-unlink skips the rename and leaves a one-syscall window).

The engine knows nothing about the CLI: it takes PruneOptions and returns a PruneResult.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import heapq
import json
import os
import queue
import random
import re
import shutil
import signal
import stat
import tempfile
import threading
import time
import traceback
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sessdiag.core.errors import SafetyRefusal, TargetUnreadable, UsageError
from sessdiag.core.timefmt import iso
from sessdiag.stores.files import lock as store_lock
from sessdiag.stores.files.fsinfo import fs_info
from sessdiag.stores.files.layout import Layout, layout_for, resolve_root

SCHEMA = "sessdiag.prune/1"
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
JOURNAL_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
OWN_PREFIX = ".sessdiag-"  # probe files and staged sessions; never a session id
_STAGE_RE = re.compile(r"\.sessdiag-[0-9a-f]{8}-(.+)")
STREAM_DIR_BYTES = 4 << 20
SPILL_CHUNK = 4096  # candidates per spill file = one apply task
LATENCY_THREADS = 32
EXAMPLES = 5
AGE_EDGES = (3600, 86400, 7 * 86400, 30 * 86400, 90 * 86400, 365 * 86400)

_S_IFMT = 0o170000
_S_IFREG = 0o100000
_S_IFDIR = 0o040000
_S_IFLNK = 0o120000

STOP_REASONS = ("", "SIGINT", "SIGTERM", "max-delete", "max-runtime", "error")
ANOMALY_KINDS = ("symlinks", "foreign", "misplaced", "hardlinks", "readonly", "nfs_silly",
                 "other_fs", "raced", "unreadable", "stage_leftovers")


# ---------------------------------------------------------------------------------------
# Options and result


@dataclass(frozen=True)
class PruneOptions:
    target: str
    max_age: int
    grace: int = 60
    apply: bool = False
    profile: str | None = None
    php_depth: int | None = None
    sid_pattern: str | None = None
    jobs: int | None = None
    workers: str | None = None  # "threads" | "processes" | None (by filesystem type)
    rate: float | None = None  # deletions per second, all workers together
    max_delete: int | None = None
    max_runtime: float | None = None
    max_fraction: float = 0.95
    max_skew: float = 300.0
    force: bool = False
    lock_path: str | None = None
    journal: str | None = None
    quarantine: str | None = None
    direct_unlink: bool = False
    sample_k: int = 10
    seed: int | None = None
    check_processes: bool = True

    def validate(self) -> None:
        if self.max_age <= 0:
            raise UsageError("--max-age must be a positive duration (e.g. 30d)")
        if self.grace < 0:
            raise UsageError("--grace must not be negative")
        if self.jobs is not None and self.jobs < 1:
            raise UsageError("--jobs must be at least 1")
        if self.workers not in (None, "threads", "processes"):
            raise UsageError(f"--workers must be 'threads' or 'processes', not {self.workers!r}")
        if self.rate is not None and self.rate <= 0:
            raise UsageError("--rate must be a positive number of deletions per second")
        if self.max_delete is not None and self.max_delete < 0:
            raise UsageError("--max-delete must not be negative")
        if self.max_runtime is not None and self.max_runtime <= 0:
            raise UsageError("--max-runtime must be a positive duration")
        if not 0 < self.max_fraction <= 1:
            raise UsageError("--max-fraction must be in (0, 1]")
        if self.max_skew < 0:
            raise UsageError("--max-skew must not be negative")
        if self.quarantine and self.direct_unlink:
            raise UsageError("--quarantine and --direct-unlink exclude each other")


@dataclass
class PruneResult:
    report: dict[str, Any]
    refusals: list[str]
    stopped_by: str | None
    errors: int
    applied: bool
    dry_run: bool

    @property
    def exit_code(self) -> int:
        """Contract: 4 refused (nothing deleted), 128+n stopped by signal n, 1 failures, 0."""
        if self.refusals and not self.dry_run:
            return SafetyRefusal.exit_code
        if self.stopped_by in ("SIGINT", "SIGTERM"):
            return 128 + int(getattr(signal, self.stopped_by))
        return 1 if self.errors else 0


# ---------------------------------------------------------------------------------------
# Shared state between workers (threads or forked processes): stop flag, rate, budget.


class StopControl:
    """A stop request any worker or signal handler can raise; the first reason wins.

    A flag in shared memory, polled: not a multiprocessing.Event, whose set() waits for every
    process sleeping in wait() to wake up and hangs forever if one of them was killed.
    """

    POLL_S = 0.05

    def __init__(self) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("fork")
        self._code = ctx.RawValue("i", 0)
        self._lock = ctx.Lock()

    def request(self, reason: str) -> None:
        # Called from signal handlers too: never block forever on the lock.
        if self._lock.acquire(timeout=1.0):
            try:
                if self._code.value == 0:
                    self._code.value = STOP_REASONS.index(reason)
            finally:
                self._lock.release()
        elif self._code.value == 0:
            self._code.value = STOP_REASONS.index(reason)

    @property
    def requested(self) -> bool:
        return self._code.value != 0

    @property
    def reason(self) -> str | None:
        return STOP_REASONS[self._code.value] or None

    def wait(self, timeout: float) -> bool:
        """Sleep up to timeout; True as soon as a stop is requested."""
        end = time.monotonic() + timeout
        while self._code.value == 0:
            left = end - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, self.POLL_S))
        return True


class _Shared:
    """Token bucket (GCRA) and deletion budget shared by every worker."""

    def __init__(self, rate: float | None, budget: int | None) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("fork")
        self.rate = rate
        self.lock = ctx.Lock()
        self.tat = ctx.RawValue("d", 0.0)  # theoretical arrival time, CLOCK_MONOTONIC
        self.budget = ctx.RawValue("q", -1 if budget is None else budget)
        self.limited_budget = budget is not None

    def _locked(self) -> bool:
        # A worker killed while holding the lock (microseconds) must not hang the others.
        return bool(self.lock.acquire(timeout=10))

    def acquire(self, n: int, stop: StopControl, deadline: float | None = None) -> bool:
        """Wait for n tokens; False when a stop was requested (or the deadline passed)."""
        if self.rate is None or n <= 0:
            return not stop.requested
        if not self._locked():
            stop.request("error")
            return False
        try:
            now = time.monotonic()
            start = max(self.tat.value, now)
            self.tat.value = start + n / self.rate
        finally:
            self.lock.release()
        if deadline is not None and start > deadline:
            stop.request("max-runtime")
            return False
        delay = start - time.monotonic()
        if delay > 0 and stop.wait(delay):
            return False
        return not stop.requested

    def take(self) -> bool:
        if not self.limited_budget:
            return True
        if not self._locked():
            return False
        try:
            if self.budget.value <= 0:
                return False
            self.budget.value -= 1
            return True
        finally:
            self.lock.release()

    def give_back(self) -> None:
        if self.limited_budget and self._locked():
            try:
                self.budget.value += 1
            finally:
                self.lock.release()


# ---------------------------------------------------------------------------------------
# Per-worker tallies, merged exactly by the parent.


@dataclass
class Tally:
    buckets: int = len(AGE_EDGES) + 1
    dirs: int = 0
    entries: int = 0
    sessions: int = 0
    session_bytes: int = 0
    expired: int = 0
    candidates: int = 0
    candidate_bytes: int = 0
    candidate_blocks: int = 0
    deleted: int = 0
    deleted_bytes: int = 0
    deleted_blocks: int = 0
    skipped_fresh: int = 0
    restored: int = 0
    vanished: int = 0
    errors: int = 0
    not_attempted: int = 0
    leftovers_finished: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    anomalies: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    hist: list[int] = field(default_factory=list)
    oldest_ns: int | None = None
    newest_ns: int | None = None
    sample: list[tuple[float, str]] = field(default_factory=list)  # max-heap on -key

    def __post_init__(self) -> None:
        if not self.hist:
            self.hist = [0] * self.buckets

    def anomaly(self, kind: str, example: str | None = None, n: int = 1) -> None:
        self.anomalies[kind] = self.anomalies.get(kind, 0) + n
        if example is not None:
            self.example(kind, example)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    def example(self, kind: str, text: str) -> None:
        ex = self.examples.setdefault(kind, [])
        if len(ex) < EXAMPLES:
            ex.append(text)

    def merge(self, o: Tally, sample_k: int) -> None:
        for name in ("dirs", "entries", "sessions", "session_bytes", "expired", "candidates",
                     "candidate_bytes", "candidate_blocks", "deleted", "deleted_bytes",
                     "deleted_blocks", "skipped_fresh", "restored", "vanished", "errors",
                     "not_attempted", "leftovers_finished"):
            setattr(self, name, getattr(self, name) + getattr(o, name))
        for k, v in o.skipped.items():
            self.skip(k, v)
        for k, v in o.anomalies.items():
            self.anomalies[k] = self.anomalies.get(k, 0) + v
        for k, lst in o.examples.items():
            for text in lst:
                self.example(k, text)
        self.hist = [a + b for a, b in zip(self.hist, o.hist, strict=True)]
        if o.oldest_ns is not None:
            self.oldest_ns = o.oldest_ns if self.oldest_ns is None else min(self.oldest_ns,
                                                                              o.oldest_ns)
        if o.newest_ns is not None:
            self.newest_ns = o.newest_ns if self.newest_ns is None else max(self.newest_ns,
                                                                              o.newest_ns)
        for item in o.sample:
            if len(self.sample) < sample_k:
                heapq.heappush(self.sample, item)
            elif item > self.sample[0]:
                heapq.heapreplace(self.sample, item)

    @property
    def skipped_other(self) -> int:
        return sum(self.skipped.values())

    @property
    def foreign_total(self) -> int:
        a = self.anomalies
        return sum(a.get(k, 0) for k in ("symlinks", "foreign", "misplaced", "other_fs"))


# ---------------------------------------------------------------------------------------
# The plan every worker shares (read-only; inherited by fork or shared by threads).


@dataclass(frozen=True)
class _Plan:
    root: str
    layout: Layout
    root_dev: int
    max_age_ns: int
    grace_ns: int
    clock_adj_ns: int  # min(0, fs clock - local clock): judge age by the earlier clock
    plan_now_ns: int
    apply: bool
    action: str  # "stage" | "direct" | "quarantine"
    run_id: str
    spill_dir: str | None
    journal: str | None
    quarantine_run: str | None
    mounts: frozenset[str]  # root-relative mount points below the root
    batch: int
    sample_k: int
    seed: int
    deadline: float | None  # CLOCK_MONOTONIC

    @property
    def plan_cutoff_ns(self) -> int:
        return self.plan_now_ns - self.max_age_ns - self.grace_ns

    def cutoff_now_ns(self) -> int:
        return time.time_ns() + self.clock_adj_ns - self.max_age_ns - self.grace_ns


def _iso_ns(ns: int) -> str | None:
    """Journal times keep microseconds: reconciliation compares them with file mtimes."""
    return iso(ns / 1e9, "microseconds")


# ---------------------------------------------------------------------------------------
# Journal: write-ahead intents (fsync'ed) before acting, one result line per intent after.


class Journal:
    """Appends JSON lines; each worker has its own fd (O_APPEND: whole-line writes)."""

    def __init__(self, path: str) -> None:
        try:
            self.fd = os.open(path, JOURNAL_FLAGS, 0o640)
        except OSError as exc:
            raise UsageError(f"cannot open journal {path}: {exc.strerror}") from exc
        self.buf: list[str] = []
        # A run killed mid-write can leave a torn last line: start ours on a fresh one.
        size = os.fstat(self.fd).st_size
        if size and os.pread(self.fd, 1, size - 1) != b"\n":
            os.write(self.fd, b"\n")

    def add(self, rec: dict[str, Any]) -> None:
        self.buf.append(json.dumps(rec, separators=(",", ":")) + "\n")

    def flush(self, sync: bool = False) -> None:
        if self.buf:
            data = "".join(self.buf).encode("utf-8", "surrogateescape")
            self.buf.clear()
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        if sync:
            os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            try:
                self.flush(sync=True)
            finally:
                os.close(self.fd)
                self.fd = -1


GONE_EVENTS = ("deleted", "quarantined", "vanished")
RESULT_EVENTS = (*GONE_EVENTS, "skipped", "failed", "not-deleted")


@dataclass
class JournalState:
    """What a journal says: files it removed, files gone otherwise, unresolved intents."""

    deleted: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> last record
    vanished: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)  # run -> root
    lines: int = 0
    bad_lines: int = 0

    @property
    def gone(self) -> set[str]:
        return set(self.deleted) | set(self.vanished)


def read_journal(path: str) -> JournalState:
    """Parse a journal; `pending` holds intents with no result (a run was killed)."""
    js = JournalState()
    try:
        fh = open(path, encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
    except FileNotFoundError:
        return js
    with fh:
        for line in fh:
            js.lines += 1
            try:
                rec = json.loads(line)
                ev = rec["event"]
                run = rec["run"]
            except (ValueError, KeyError, TypeError):
                js.bad_lines += 1  # a torn last line after a crash, or foreign text
                continue
            if ev == "run-start":
                js.roots[run] = rec.get("root", "")
                continue
            p = rec.get("path")
            if not isinstance(p, str):
                continue
            if ev == "intent":
                js.pending[(run, p)] = rec
            elif ev in RESULT_EVENTS:
                js.pending.pop((run, p), None)
                if ev in ("deleted", "quarantined"):
                    js.deleted[p] = rec
                    js.vanished.pop(p, None)
                elif ev == "vanished":
                    js.vanished[p] = rec
                else:
                    # Present again (restored, skipped, or re-created later by the app).
                    js.deleted.pop(p, None)
                    js.vanished.pop(p, None)
    return js


# ---------------------------------------------------------------------------------------
# Helpers: clock probe, mount points, processes using the store.


@dataclass
class ClockProbe:
    source: str  # "root" | "lock-dir" | "local"
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


def _unescape_mount(s: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mounts_below(root: str) -> frozenset[str]:
    """Root-relative paths of mount points strictly inside root (from /proc/self/mountinfo)."""
    out: set[str] = set()
    prefix = root.rstrip("/") + "/"
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


def processes_using(root: str, *, time_budget: float = 3.0) -> list[str]:
    """Warnings for processes whose cwd or open files are inside the store (psutil)."""
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
        try:
            where = None
            cwd = proc.cwd()
            if cwd == root.rstrip("/") or cwd.startswith(prefix):
                where = f"its working directory is {cwd}"
            else:
                for f in proc.open_files():
                    if f.path.startswith(prefix):
                        where = f"it has {f.path} open"
                        break
        except (psutil.Error, OSError):
            continue
        if where:
            found.append(f"process {proc.pid} ({proc.info.get('name') or '?'}): {where}")
            if len(found) >= EXAMPLES:
                break
    return found


def apply_priority(ionice: str | None, nice: int | None) -> list[str]:
    """Lower our CPU and IO priority before any worker starts (children inherit it)."""
    notes: list[str] = []
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


# ---------------------------------------------------------------------------------------
# Directory chains: every level opened O_NOFOLLOW relative to its parent, identity checked.


Chain = list[tuple[int, str, int]]  # (fd, name in parent, inode)


def _open_chain(root_fd: int, rel: str, root_dev: int) -> Chain:
    """Open ROOT/rel level by level; OSError(ELOOP/ENOTDIR/EXDEV) when anything is off."""
    chain: Chain = []
    parent = root_fd
    try:
        for name in [p for p in rel.split("/") if p]:
            fd = os.open(name, DIR_FLAGS, dir_fd=parent)
            st = os.fstat(fd)
            chain.append((fd, name, st.st_ino))
            if st.st_dev != root_dev:
                raise OSError(errno.EXDEV, "on another filesystem")
            parent = fd
        return chain
    except BaseException:
        _close_chain(chain)
        raise


def _close_chain(chain: Chain) -> None:
    for fd, _name, _ino in chain:
        with contextlib.suppress(OSError):
            os.close(fd)


def _chain_intact(root_fd: int, chain: Chain, root_dev: int) -> bool:
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


def _dir_fd(root_fd: int, chain: Chain) -> int:
    return chain[-1][0] if chain else root_fd


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISDIR(mode):
        return "directory"
    return "special"


# ---------------------------------------------------------------------------------------
# Units: shard directories (or hash partitions of a flat PHP directory).


@dataclass(frozen=True)
class Unit:
    idx: int
    rel: str
    ino: int
    part: int = 0
    parts: int = 1


def _classify_upper(t: Tally, plan: _Plan, name: str, rel_name: str, st: os.stat_result) -> None:
    """An entry above the shard level that is not a shard directory: report it."""
    fmt = st.st_mode & _S_IFMT
    if name.startswith(".nfs"):
        t.anomaly("nfs_silly", rel_name)
    elif fmt == _S_IFLNK:
        t.anomaly("symlinks", rel_name)
    elif fmt == _S_IFREG and plan.layout.name_re.fullmatch(name):
        t.anomaly("misplaced", rel_name)
    elif fmt == _S_IFREG:
        t.anomaly("foreign", rel_name)
    else:
        t.anomaly("foreign", f"{rel_name} ({_kind(st.st_mode)})")


def _list_upper(plan: _Plan, root_fd: int, rel: str,
                ino: int) -> tuple[Tally, list[tuple[str, int]]]:
    """List one directory above the shard level: its tally and the shard directories in it."""
    t = Tally()
    nxt: list[tuple[str, int]] = []
    try:
        chain = _open_chain(root_fd, rel, plan.root_dev)
    except OSError as exc:
        t.anomaly("raced", f"{rel}: {exc.strerror}")
        return t, nxt
    try:
        fd = _dir_fd(root_fd, chain)
        if chain and chain[-1][2] != ino:
            t.anomaly("raced", f"{rel}: replaced while listing")
            return t, nxt
        t.dirs += 1
        try:
            names = sorted(os.listdir(fd))
        except PermissionError:
            t.anomaly("unreadable", rel or ".")
            return t, nxt
        for name in names:
            rel_name = f"{rel}/{name}" if rel else name
            t.entries += 1
            try:
                st = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                continue
            except PermissionError:
                t.anomaly("unreadable", rel_name)
                continue
            if stat.S_ISDIR(st.st_mode):
                if st.st_dev != plan.root_dev or rel_name in plan.mounts:
                    t.anomaly("other_fs", rel_name)
                elif len(name) == 1 and not name.startswith("."):
                    nxt.append((rel_name, st.st_ino))
                else:
                    t.anomaly("foreign", f"{rel_name} (directory)")
                continue
            _classify_upper(t, plan, name, rel_name, st)
    finally:
        _close_chain(chain)
    return t, nxt


def plan_units(plan: _Plan, root_fd: int, parts: int,
               threads: int = 1) -> tuple[Tally, list[Unit]]:
    """List the levels above the shards in-process; return their tally and the units.

    With threads > 1 the directories of one level are listed concurrently (each with its
    own descriptors): on a latency-bound mount the 16 first-level beego directories and
    their 256 entries are ~300 round trips, a third of a second one after the other.
    """
    t = Tally()
    depth = plan.layout.depth
    if depth == 0:
        st = os.fstat(root_fd)
        return t, [Unit(i, "", st.st_ino, i, parts) for i in range(parts)]
    frontier: list[tuple[str, int]] = [("", os.fstat(root_fd).st_ino)]
    for _level in range(depth):
        if threads > 1 and len(frontier) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(threads, len(frontier)),
                                    thread_name_prefix="sessdiag-prune-top") as ex:
                listed = list(ex.map(lambda d: _list_upper(plan, root_fd, *d), frontier))
        else:
            listed = [_list_upper(plan, root_fd, rel, ino) for rel, ino in frontier]
        nxt: list[tuple[str, int]] = []
        for part, found in listed:  # in frontier order: the same units, numbered the same
            t.merge(part, plan.sample_k)
            nxt.extend(found)
        frontier = nxt
    return t, [Unit(i, rel, ino) for i, (rel, ino) in enumerate(frontier)]


# ---------------------------------------------------------------------------------------
# The worker: plan pass (scan_unit) and apply pass (apply_task).


class _Worker:
    def __init__(self, plan: _Plan, shared: _Shared, stop: StopControl, root_fd: int,
                 worker: int) -> None:
        self.plan = plan
        self.shared = shared
        self.stop = stop
        self.t = Tally()
        # Our own open file description of the root: listdir on a shared one would race.
        self.root_fd = os.open(".", DIR_FLAGS, dir_fd=root_fd)
        self.name_match = plan.layout.name_re.fullmatch
        self.plen = len(plan.layout.prefix)
        self.rnd = random.Random(plan.seed * 7919 + worker).random
        self.journal = Journal(plan.journal) if plan.journal and plan.apply else None
        self.q_root = -1
        if plan.quarantine_run:
            self.q_root = os.open(plan.quarantine_run, DIR_FLAGS)
        self._chain_rel: str | None = None
        self._chain: Chain = []
        self._q_dirs: dict[str, int] = {}

    def close(self) -> None:
        _close_chain(self._chain)
        self._chain = []
        for fd in self._q_dirs.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._q_dirs.clear()
        if self.q_root >= 0:
            os.close(self.q_root)
        if self.journal is not None:
            self.journal.close()
        os.close(self.root_fd)

    # -- plan pass ---------------------------------------------------------------------

    def scan_unit(self, u: Unit) -> int:
        t = self.t
        plan = self.plan
        if plan.deadline is not None and time.monotonic() > plan.deadline:
            self.stop.request("max-runtime")
            return 0
        if u.rel in plan.mounts:
            t.anomaly("other_fs", u.rel)
            return 0
        try:
            chain = _open_chain(self.root_fd, u.rel, plan.root_dev)
        except PermissionError:
            t.anomaly("unreadable", u.rel)
            return 0
        except OSError as exc:
            t.anomaly("raced", f"{u.rel}: {exc.strerror}")
            return 0
        try:
            if chain and chain[-1][2] != u.ino:
                t.anomaly("raced", f"{u.rel}: replaced since listed")
                return 0
            fd = _dir_fd(self.root_fd, chain)
            if u.part == 0:
                t.dirs += 1
            try:
                names = self._names(fd, u)
                return self._scan_names(fd, u, names)
            except PermissionError:
                t.anomaly("unreadable", u.rel or ".")
                return 0
        finally:
            _close_chain(chain)

    def _names(self, fd: int, u: Unit) -> Iterable[str]:
        if u.parts > 1:
            return _partition(fd, u.part, u.parts)
        if os.fstat(fd).st_size > STREAM_DIR_BYTES:
            return _stream(fd)
        return os.listdir(fd)

    def _scan_names(self, fd: int, u: Unit, names: Iterable[str]) -> int:
        t = self.t
        plan = self.plan
        lstat = os.lstat
        match = self.name_match
        plen = self.plen
        shard = u.rel.replace("/", "")
        prefix = u.rel + "/" if u.rel else ""
        cut = plan.plan_cutoff_ns
        now_ns = plan.plan_now_ns
        root_dev = plan.root_dev
        mounts = plan.mounts
        edges = AGE_EDGES
        hist = t.hist
        rnd = self.rnd
        sample = t.sample
        sample_k = plan.sample_k
        spill: list[str] | None = [] if plan.spill_dir else None
        chunk = 0
        seen = sessions = sbytes = expired = cands = cbytes = cblocks = 0
        oldest = t.oldest_ns if t.oldest_ns is not None else 1 << 62
        newest = t.newest_ns if t.newest_ns is not None else -(1 << 62)
        for name in names:
            seen += 1
            try:
                st = lstat(name, dir_fd=fd)
            except FileNotFoundError:
                continue
            except PermissionError:
                t.anomaly("unreadable", prefix + name)
                continue
            fmt = st.st_mode & _S_IFMT
            if fmt == _S_IFREG and name[:1] != "." and match(name) is not None \
                    and name.startswith(shard, plen):
                if st.st_dev != root_dev or (mounts and (prefix + name) in mounts):
                    t.anomaly("other_fs", prefix + name)
                    continue
                sessions += 1
                sbytes += st.st_size
                mt = st.st_mtime_ns
                if mt >= cut:
                    continue
                expired += 1
                if st.st_nlink != 1:
                    t.anomaly("hardlinks", f"{prefix}{name} ({st.st_nlink} links)")
                    t.skip("hardlink")
                    continue
                if not st.st_mode & 0o222:
                    t.anomaly("readonly", prefix + name)
                    t.skip("readonly")
                    continue
                cands += 1
                cbytes += st.st_size
                cblocks += st.st_blocks
                if mt < oldest:
                    oldest = mt
                if mt > newest:
                    newest = mt
                hist[bisect_left(edges, (now_ns - mt) // 1_000_000_000)] += 1
                r = rnd()
                if len(sample) < sample_k:
                    heapq.heappush(sample, (r, prefix + name))
                elif r > sample[0][0]:
                    heapq.heapreplace(sample, (r, prefix + name))
                if spill is not None:
                    spill.append(f"c {st.st_ino} {mt} {st.st_ctime_ns} {st.st_size} "
                                 f"{st.st_blocks} {name}\n")
                    if len(spill) >= SPILL_CHUNK:
                        self._write_spill(u, chunk, spill)
                        chunk += 1
                        spill = []
                continue
            if fmt == _S_IFREG and name.startswith(OWN_PREFIX):
                m = _STAGE_RE.fullmatch(name)
                orig = m.group(1) if m else None
                if orig is not None and match(orig) and orig.startswith(shard, plen):
                    # A session staged for deletion by a run that was killed.
                    t.anomaly("stage_leftovers", prefix + name)
                    if spill is not None and st.st_nlink == 1 and st.st_dev == root_dev:
                        spill.append(f"l {st.st_ino} {st.st_mtime_ns} {st.st_ctime_ns} "
                                     f"{st.st_size} {st.st_blocks} {name}\n")
                    continue
            if name.startswith(".nfs"):
                t.anomaly("nfs_silly", prefix + name)
            elif fmt == _S_IFLNK:
                t.anomaly("symlinks", prefix + name)
            elif fmt == _S_IFDIR:
                kind = "other_fs" if st.st_dev != root_dev or (prefix + name) in mounts \
                    else "foreign"
                t.anomaly(kind, f"{prefix}{name} (directory)")
            elif fmt == _S_IFREG:
                t.anomaly("misplaced" if match(name) else "foreign", prefix + name)
            else:
                t.anomaly("foreign", f"{prefix}{name} ({_kind(st.st_mode)})")
        if spill:
            self._write_spill(u, chunk, spill)
        t.entries += seen
        t.sessions += sessions
        t.session_bytes += sbytes
        t.expired += expired
        t.candidates += cands
        t.candidate_bytes += cbytes
        t.candidate_blocks += cblocks
        if cands:
            t.oldest_ns = oldest
            t.newest_ns = newest
        return seen

    def _write_spill(self, u: Unit, chunk: int, lines: list[str]) -> None:
        assert self.plan.spill_dir is not None
        path = os.path.join(self.plan.spill_dir, f"{u.idx}.{u.part}.{chunk}")
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.writelines(lines)

    # -- apply pass --------------------------------------------------------------------

    def _unit_chain(self, rel: str, ino: int) -> Chain | None:
        if self._chain_rel == rel:
            return self._chain
        _close_chain(self._chain)
        self._chain, self._chain_rel = [], None
        try:
            chain = _open_chain(self.root_fd, rel, self.plan.root_dev)
        except OSError as exc:
            self.t.anomaly("raced", f"{rel}: {exc.strerror}")
            return None
        if chain and chain[-1][2] != ino:
            _close_chain(chain)
            self.t.anomaly("raced", f"{rel}: replaced since the plan")
            return None
        self._chain, self._chain_rel = chain, rel
        return chain

    def apply_task(self, task: tuple[str, str, int]) -> int:
        """Act on one spill file of candidates; returns the number removed."""
        spill_path, rel, ino = task
        with open(spill_path, encoding="utf-8", errors="surrogateescape") as fh:
            items = [line.rstrip("\n").split(" ", 6) for line in fh]
        with contextlib.suppress(OSError):
            os.unlink(spill_path)
        t = self.t
        before = t.deleted
        chain = self._unit_chain(rel, ino)
        if chain is None:
            t.skip("raced", len(items))
            return 0
        fd = _dir_fd(self.root_fd, chain)
        plan = self.plan
        batch_n = plan.batch
        for start in range(0, len(items), batch_n):
            batch = items[start:start + batch_n]
            if self.stop.requested or not self.shared.acquire(len(batch), self.stop,
                                                              plan.deadline):
                t.not_attempted += len(items) - start
                break
            if plan.deadline is not None and time.monotonic() > plan.deadline:
                self.stop.request("max-runtime")
                t.not_attempted += len(items) - start
                break
            if not _chain_intact(self.root_fd, chain, plan.root_dev):
                t.anomaly("raced", f"{rel}: directory moved or replaced during the run")
                t.skip("raced", len(items) - start)
                break
            self._act_batch(fd, rel, batch)
        return t.deleted - before

    def _act_batch(self, fd: int, rel: str, batch: list[list[str]]) -> None:
        plan = self.plan
        j = self.journal
        prefix = plan.root.rstrip("/") + "/" + (rel + "/" if rel else "")
        stages = []
        # The private names' randomness for the whole batch in one getrandom(2): one system
        # call (and one handover of the GIL) per batch instead of one per file.
        tokens = os.urandom(4 * len(batch)).hex() if plan.action == "stage" else ""
        for i, (kind, ino, mt, _ct, size, _blocks, name) in enumerate(batch):
            if kind == "l":
                stage: str | None = name
                m = _STAGE_RE.fullmatch(name)
                name = m.group(1) if m else name
            elif plan.action == "stage":
                stage = _stage_name(name, tokens[8 * i:8 * i + 8])
            else:
                stage = None
            stages.append(stage)
            if j is not None:
                rec = {"event": "intent", "run": plan.run_id, "path": prefix + name,
                       "inode": int(ino), "size": int(size), "mtime_ns": int(mt)}
                if stage:
                    rec["stage"] = stage
                if plan.action == "quarantine" and kind == "c":
                    rec["to"] = os.path.join(plan.quarantine_run or "", rel, name)
                j.add(rec)
        if j is not None:
            j.flush(sync=True)  # intents are durable before anything is touched
        cutoff = plan.cutoff_now_ns()
        for (kind, ino, mt, ct, size, blocks, name), stage in zip(batch, stages, strict=True):
            if self.stop.requested:
                if kind == "l":  # not one of this run's candidates; the intent names the id
                    m = _STAGE_RE.fullmatch(name)
                    self._result("not-deleted", prefix + (m.group(1) if m else name),
                                 reason="stopped")
                else:
                    self.t.not_attempted += 1
                    self._result("not-deleted", prefix + name, reason="stopped")
                continue
            if kind == "l":
                self._finish_leftover(fd, rel, name, int(ino), int(mt), int(size), int(blocks),
                                      cutoff)
            else:
                self._act_one(fd, rel, name, stage, int(ino), int(mt), int(ct), int(size),
                              int(blocks), cutoff)
        if j is not None:
            j.flush()

    def _result(self, event: str, path: str, **extra: Any) -> None:
        if self.journal is not None:
            rec = {"event": event, "run": self.plan.run_id, "path": path}
            rec.update(extra)
            self.journal.add(rec)

    def _act_one(self, fd: int, rel: str, name: str, stage: str | None, ino: int, mt: int,
                 ct: int, size: int, blocks: int, cutoff: int) -> None:
        t = self.t
        plan = self.plan
        path = f"{plan.root.rstrip('/')}/{rel + '/' if rel else ''}{name}"
        # 1. The re-check, immediately before acting.
        try:
            st = os.lstat(name, dir_fd=fd)
        except FileNotFoundError:
            t.vanished += 1
            self._result("vanished", path, inode=ino)
            return
        except OSError as exc:
            t.errors += 1
            t.example("errors", f"{path}: {exc.strerror}")
            self._result("failed", path, error=exc.strerror)
            return
        if st.st_mode & _S_IFMT != _S_IFREG or st.st_dev != plan.root_dev:
            t.skip("replaced")
            t.example("replaced", f"{path} ({_kind(st.st_mode)})")
            self._result("skipped", path, reason="replaced")
            return
        # Any change to the inode since the plan (a touch, a write, a chmod, a new file that
        # reused the inode number) moves its ctime, which no one can set back.
        if st.st_ino != ino or st.st_mtime_ns != mt or st.st_ctime_ns != ct \
                or st.st_mtime_ns >= cutoff:
            t.skipped_fresh += 1
            self._result("skipped", path, reason="fresh")
            return
        if st.st_nlink != 1:
            t.skip("hardlink")
            t.anomaly("hardlinks", path)
            self._result("skipped", path, reason="hardlink")
            return
        if not st.st_mode & 0o222:
            t.skip("readonly")
            self._result("skipped", path, reason="readonly")
            return
        if not self.shared.take():
            self.stop.request("max-delete")
            t.not_attempted += 1
            self._result("not-deleted", path, reason="max-delete")
            return
        # 2. Act.
        if plan.action == "direct" or (plan.action == "stage" and stage is None):
            try:
                os.unlink(name, dir_fd=fd)
            except FileNotFoundError:
                self._lost_race(path, ino)
                return
            except OSError as exc:
                self._failed(path, exc.strerror)
                return
            self._deleted(path, ino, mt, size, blocks)
            return
        if plan.action == "quarantine":
            qfd = self._q_dir(rel)
            if qfd is None:
                self._failed(path, "cannot create the quarantine directory")
                return
            dst_fd, dst = qfd, name
        else:
            assert stage is not None
            dst_fd, dst = fd, stage
        try:
            os.rename(name, dst, src_dir_fd=fd, dst_dir_fd=dst_fd)
        except FileNotFoundError:
            self._lost_race(path, ino)
            return
        except OSError as exc:
            self._failed(path, exc.strerror)
            return
        # 3. The file is out of the app's reach: look at what we actually moved.
        try:
            st2 = os.lstat(dst, dir_fd=dst_fd)
        except FileNotFoundError:
            # Someone (beego's own GC) removed it from under us: gone either way.
            self._lost_race(path, ino)
            return
        untouched = (st2.st_mode & _S_IFMT == _S_IFREG and st2.st_ino == ino
                     and st2.st_mtime_ns == mt and st2.st_size == st.st_size
                     and st2.st_nlink == 1)
        if not untouched:
            self.shared.give_back()
            self._put_back(fd, name, dst_fd, dst, path)
            return
        if plan.action == "quarantine":
            self._deleted(path, ino, mt, size, blocks, event="quarantined",
                          to=os.path.join(plan.quarantine_run or "", rel, name))
            return
        try:
            os.unlink(dst, dir_fd=dst_fd)
        except FileNotFoundError:
            self._lost_race(path, ino)
            return
        except OSError as exc:
            self.shared.give_back()
            t.errors += 1
            t.example("errors", f"{path}: staged as {dst}, unlink failed: {exc.strerror}")
            self._result("failed", path, error=exc.strerror, stage=dst)
            return
        self._deleted(path, ino, mt, size, blocks)

    def _lost_race(self, path: str, ino: int) -> None:
        """The file went away under us (the app, or beego's own GC): gone either way."""
        self.shared.give_back()
        self.t.vanished += 1
        self._result("vanished", path, inode=ino)

    def _failed(self, path: str, error: str) -> None:
        self.shared.give_back()
        self.t.errors += 1
        self.t.example("errors", f"{path}: {error}")
        self._result("failed", path, error=error)

    def _deleted(self, path: str, ino: int, mt: int, size: int, blocks: int,
                 event: str = "deleted", **extra: Any) -> None:
        t = self.t
        t.deleted += 1
        t.deleted_bytes += size
        t.deleted_blocks += blocks
        if self.journal is not None:
            self._result(event, path, size=size, mtime=_iso_ns(mt), mtime_ns=mt, inode=ino,
                         deleted_at=_iso_ns(time.time_ns()), **extra)

    def _put_back(self, fd: int, name: str, src_fd: int, src: str, path: str) -> None:
        """Touched between the re-check and the rename: return it, never over a new file."""
        t = self.t
        try:
            os.link(src, name, src_dir_fd=src_fd, dst_dir_fd=fd, follow_symlinks=False)
        except FileExistsError:
            # The app re-created the session in that instant; keep both, report it.
            t.skip("conflict")
            t.example("conflict", f"{path}: touched while being removed and re-created; "
                                  f"the touched copy is kept as {src}")
            self._result("not-deleted", path, reason="conflict", kept_as=src)
            return
        except OSError as exc:
            t.errors += 1
            t.example("errors", f"{path}: could not be put back from {src}: {exc.strerror}")
            self._result("failed", path, error=exc.strerror, kept_as=src)
            return
        with contextlib.suppress(OSError):
            os.unlink(src, dir_fd=src_fd)
        t.skipped_fresh += 1
        t.restored += 1
        self._result("skipped", path, reason="fresh", restored=True)

    def _finish_leftover(self, fd: int, rel: str, stage: str, ino: int, mt: int, size: int,
                         blocks: int, cutoff: int) -> None:
        """A staged session from a killed run: finish the deletion, or put it back."""
        t = self.t
        m = _STAGE_RE.fullmatch(stage)
        assert m is not None
        name = m.group(1)
        path = f"{self.plan.root.rstrip('/')}/{rel + '/' if rel else ''}{name}"
        try:
            st = os.lstat(stage, dir_fd=fd)
        except FileNotFoundError:
            return
        except OSError:
            t.errors += 1
            return
        if st.st_mode & _S_IFMT != _S_IFREG or st.st_ino != ino or st.st_nlink != 1:
            return
        t.leftovers_finished += 1
        if st.st_mtime_ns == mt and mt < cutoff:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stage, dir_fd=fd)
            t.deleted_blocks += blocks
            t.deleted_bytes += size
            self._result("deleted", path, size=size, mtime=_iso_ns(mt), mtime_ns=mt, inode=ino,
                         deleted_at=_iso_ns(time.time_ns()), leftover=stage)
        else:
            before = t.skipped_fresh
            self._put_back(fd, name, fd, stage, path)
            t.skipped_fresh = before  # not one of this run's candidates

    def _q_dir(self, rel: str) -> int | None:
        fd = self._q_dirs.get(rel)
        if fd is not None:
            return fd
        parent = self.q_root
        opened: list[int] = []
        try:
            for name in [p for p in rel.split("/") if p]:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o700, dir_fd=parent)
                parent = os.open(name, DIR_FLAGS, dir_fd=parent)
                opened.append(parent)
        except OSError:
            for x in opened:
                os.close(x)
            return None
        for x in opened[:-1]:
            os.close(x)
        fd = opened[-1] if opened else os.dup(self.q_root)
        self._q_dirs[rel] = fd
        return fd


def _stage_name(name: str, token: str | None = None) -> str | None:
    """The private name for the verified rename; None when it would exceed NAME_MAX.

    `token`: 8 hex digits from os.urandom (drawn here when not given)."""
    stage = f"{OWN_PREFIX}{token or os.urandom(4).hex()}-{name}"
    if len(stage.encode("utf-8", "surrogateescape")) > 255:
        return None  # a > 237-character id: re-check + unlink for this one file
    return stage


def _stream(fd: int) -> Iterator[str]:
    dup = os.open(".", DIR_FLAGS, dir_fd=fd)
    try:
        with os.scandir(dup) as it:
            for entry in it:
                yield entry.name
    finally:
        os.close(dup)


def _partition(fd: int, part: int, parts: int) -> Iterator[str]:
    # hash() is the same in every worker: threads share it, processes are forked.
    for name in _stream(fd):
        if hash(name) % parts == part:
            yield name


# ---------------------------------------------------------------------------------------
# Running a pass: serially, on threads, or on forked processes.

ProgressFn = Callable[[str, int], None]


def _die_with_parent(ppid: int) -> None:
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != ppid:
        os._exit(1)


def _run_pass(kind: str, plan: _Plan, shared: _Shared, stop: StopControl, root_fd: int,
              tasks: list[Any], jobs: int, model: str, progress: ProgressFn | None) -> Tally:
    method = "scan_unit" if kind == "plan" else "apply_task"
    if not tasks:
        return Tally()
    if jobs <= 1 or len(tasks) == 1:
        w = _Worker(plan, shared, stop, root_fd, 0)
        try:
            fn = getattr(w, method)
            for task in tasks:
                if stop.requested:
                    if kind == "apply":
                        w.t.not_attempted += _spill_count(task)
                    continue
                n = fn(task)
                if progress:
                    progress(kind, n)
        finally:
            w.close()
        return w.t
    if model == "threads":
        return _run_threads(kind, method, plan, shared, stop, root_fd, tasks, jobs, progress)
    return _run_processes(kind, method, plan, shared, stop, root_fd, tasks, jobs, progress)


def _spill_count(task: Any) -> int:
    try:
        with open(task[0], "rb") as fh:
            n = sum(1 for _ in fh)
        os.unlink(task[0])
        return n
    except OSError:
        return 0


def _run_threads(kind: str, method: str, plan: _Plan, shared: _Shared, stop: StopControl,
                 root_fd: int, tasks: list[Any], jobs: int,
                 progress: ProgressFn | None) -> Tally:
    from concurrent.futures import ThreadPoolExecutor

    q: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for task in tasks:
        q.put(task)
    plock = threading.Lock()

    def work(i: int) -> Tally:
        w = _Worker(plan, shared, stop, root_fd, i)
        try:
            fn = getattr(w, method)
            while True:
                try:
                    task = q.get_nowait()
                except queue.Empty:
                    return w.t
                if stop.requested:
                    if kind == "apply":
                        w.t.not_attempted += _spill_count(task)
                    continue
                n = fn(task)
                if progress:
                    with plock:
                        progress(kind, n)
        except BaseException:
            stop.request("error")
            raise
        finally:
            w.close()

    total = Tally()
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="sessdiag-prune") as ex:
        futures = [ex.submit(work, i) for i in range(jobs)]
        for f in futures:
            total.merge(f.result(), plan.sample_k)
    return total


def _child_main(kind: str, method: str, plan: _Plan, shared: _Shared, stop: StopControl,
                root_fd: int, tasks_q: Any, results_q: Any, worker: int, ppid: int) -> None:
    _die_with_parent(ppid)
    # ^C reaches the whole process group: the parent decides; a SIGTERM sent to us (e.g. by
    # systemd to the whole cgroup) stops every worker cleanly after its current file.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.request("SIGTERM"))
    code = 0
    try:
        w = _Worker(plan, shared, stop, root_fd, worker)
        fn = getattr(w, method)
        while True:
            task = tasks_q.get()
            if task is None:
                break
            if stop.requested:
                if kind == "apply":
                    w.t.not_attempted += _spill_count(task)
                continue
            n = fn(task)
            results_q.put(("progress", worker, n))
        w.close()
        results_q.put(("done", worker, w.t))
    except BaseException:
        stop.request("error")
        results_q.put(("error", worker, traceback.format_exc(limit=8)))
        code = 1
    finally:
        # Never run exit handlers or flush stdio inherited from the parent: a lock another
        # parent thread (the progress bar) held at fork time would hang us here.
        os._exit(code)


def _run_processes(kind: str, method: str, plan: _Plan, shared: _Shared, stop: StopControl,
                   root_fd: int, tasks: list[Any], jobs: int,
                   progress: ProgressFn | None) -> Tally:
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    tasks_q = ctx.SimpleQueue()
    results_q = ctx.SimpleQueue()
    procs = [ctx.Process(target=_child_main,
                         args=(kind, method, plan, shared, stop, root_fd, tasks_q, results_q,
                               i, os.getpid()), daemon=True)
             for i in range(jobs)]
    for p in procs:
        p.start()
    # Feed tasks from a thread: a full task pipe must never block reading results.
    feeder = threading.Thread(target=_feed, args=(tasks_q, tasks, jobs), daemon=True)
    feeder.start()
    from multiprocessing.connection import wait

    total = Tally()
    finished: set[int] = set()
    error: str | None = None
    reader = results_q._reader  # the pipe end, to wait on it together with the workers
    give_up_at: float | None = None  # set once a worker died: it may hold a queue lock
    try:
        while len(finished) < jobs:
            if give_up_at is not None and time.monotonic() > give_up_at:
                for i, p in enumerate(procs):
                    if i not in finished:
                        p.kill()
                        finished.add(i)
                        total.errors += 1
                        total.example("errors", f"worker {i} did not stop after another "
                                                "died; killed")
                break
            if results_q.empty():
                alive = {p.sentinel: i for i, p in enumerate(procs) if i not in finished}
                ready = wait([reader, *alive], timeout=1)
                if reader not in ready:
                    for s in ready:
                        i = alive[s]
                        if results_q.empty() and i not in finished:
                            # Died without a word (OOM killer, kill -9): stop the others.
                            stop.request("error")
                            give_up_at = give_up_at or time.monotonic() + 30
                            finished.add(i)
                            total.errors += 1
                            total.example("errors", f"worker {i} died (exit code "
                                                    f"{procs[i].exitcode}); its files in "
                                                    "flight are in the journal; rerun")
                    continue
            what, i, payload = results_q.get()
            if what == "progress":
                if progress:
                    progress(kind, payload)
            elif what == "done":
                total.merge(payload, plan.sample_k)
                finished.add(i)
            else:
                error = error or payload
                finished.add(i)
    finally:
        feeder.join(timeout=5)
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join()
    if error is not None:
        raise RuntimeError(f"prune worker failed: {error.strip().splitlines()[-1]}")
    return total


def _feed(q: Any, tasks: list[Any], jobs: int) -> None:
    for task in tasks:
        q.put(task)
    for _ in range(jobs):
        q.put(None)


# ---------------------------------------------------------------------------------------
# Journal reconciliation: resolve intents a killed run left behind, before acting again.


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
                out["mtime"] = _iso_ns(rec["mtime_ns"])
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
        chain = _open_chain(root_fd, rel, root_dev)
    except FileNotFoundError:
        return "gone", {}
    except OSError:
        return "unknown", {}
    try:
        fd = _dir_fd(root_fd, chain)
        try:
            st = os.lstat(name, dir_fd=fd)
            if st.st_ino == ino:
                return "present", {}
        except FileNotFoundError:
            pass
        stage = rec.get("stage")
        if isinstance(stage, str) and _STAGE_RE.fullmatch(stage):
            try:
                st = os.lstat(stage, dir_fd=fd)
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISREG(st.st_mode) and st.st_ino == ino:
                if st.st_mtime_ns == rec.get("mtime_ns") and st.st_mtime_ns < cutoff:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(stage, dir_fd=fd)
                    return "finished", {"deleted_at": _iso_ns(time.time_ns())}
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
        return "gone", {"deleted_at": _iso_ns(time.time_ns())}
    finally:
        _close_chain(chain)


# ---------------------------------------------------------------------------------------
# The run.


def choose_workers(latency_bound: bool, jobs: int | None, model: str | None) -> tuple[int, str]:
    """Threads overlap round trips on network/FUSE mounts; on local disks processes avoid the
    GIL, and twice the cores keeps the disk busy while some workers wait in unlink (measured:
    benchmarks/prune_files.py, docs/prune.md)."""
    if model is None:
        model = "threads" if latency_bound else "processes"
    if jobs is None:
        cores = os.cpu_count() or 1
        jobs = LATENCY_THREADS if model == "threads" else max(1, min(2 * cores, 8))
    return jobs, model


def _safety(t: Tally, opts: PruneOptions, root: str, clock: ClockProbe,
            profile: str) -> list[str]:
    out: list[str] = []
    if root == "/":
        out.append("the store root is / ; refusing to prune the whole filesystem")
    if abs(clock.offset_s) > opts.max_skew:
        out.append(f"the filesystem clock differs from the local clock by "
                   f"{clock.offset_s:+.0f} s (more than --max-skew {opts.max_skew:.0f} s): "
                   "ages cannot be trusted")
    if t.candidates == 0 or opts.force:
        return out
    frac = t.candidates / t.sessions if t.sessions else 1.0
    if frac > opts.max_fraction:
        out.append(f"{frac:.1%} of {t.sessions:,} sessions would be deleted (more than "
                   f"--max-fraction {opts.max_fraction:g}); re-run with --force if intended")
    foreign = t.foreign_total
    if foreign > t.sessions:
        out.append(f"the root looks wrong: {foreign:,} entries are not sessions of the "
                   f"{profile} layout vs {t.sessions:,} sessions; check TARGET and --profile, "
                   "or --force")
    return out


def _run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"


def prune_file_store(opts: PruneOptions, *, stop: StopControl | None = None,
                     progress: ProgressFn | None = None) -> PruneResult:
    opts.validate()
    t0 = time.perf_counter()
    started = time.time()
    stop = stop or StopControl()
    warnings: list[str] = []
    root, root_warnings = resolve_root(opts.target)
    warnings.extend(root_warnings)
    try:
        root_fd = os.open(root, DIR_FLAGS)
    except PermissionError as exc:
        raise TargetUnreadable(f"cannot read {root}: permission denied") from exc
    lock = None
    spill_dir = None
    try:
        root_st = os.fstat(root_fd)
        layout = layout_for(root, opts.profile, php_depth=opts.php_depth,
                            sid_pattern=opts.sid_pattern)
        fs = fs_info(root)
        jobs, model = choose_workers(fs.latency_bound, opts.jobs, opts.workers)

        lock_path = None
        if opts.apply:
            lock_path = opts.lock_path or store_lock.default_lock_path(root_st.st_dev,
                                                                       root_st.st_ino)
            lock = store_lock.acquire(lock_path, root=root)
        q_dir = None
        if opts.apply and opts.quarantine:
            q_dir = _check_quarantine(opts.quarantine, root, root_st.st_dev, warnings)
        if opts.journal and os.path.abspath(opts.journal).startswith(root.rstrip("/") + "/"):
            warnings.append("the journal is inside the store: it counts as a foreign entry, "
                            "and beego's GC deletes it once it is older than the lifetime")

        lock_dir = os.path.dirname(os.path.abspath(lock_path or opts.lock_path)) \
            if (lock_path or opts.lock_path) else store_lock.runtime_dir()
        clock = probe_clock(root_fd, root, lock_dir)
        if clock.note:
            warnings.append(clock.note)
        adj_ns = min(0, int(clock.offset_s * 1e9))
        run_id = _run_id()

        reconciled: dict[str, int] = {}
        if opts.apply and opts.journal:
            reconciled = reconcile_journal(opts.journal, root, root_fd, root_st.st_dev, run_id,
                                           opts.max_age * 10**9, opts.grace * 10**9, adj_ns)
            if reconciled:
                warnings.append("journal: resolved intents of an interrupted run: " + ", ".join(
                    f"{v} {k}" for k, v in sorted(reconciled.items())))

        real_root = os.path.realpath(root)
        mounts = mounts_below(real_root)
        if opts.check_processes:
            for w in processes_using(real_root):
                warnings.append(f"in use: {w}")

        if opts.apply:
            spill_dir = tempfile.mkdtemp(prefix="sessdiag-prune-")
        action = "quarantine" if opts.quarantine else ("direct" if opts.direct_unlink
                                                       else "stage")
        batch = 256
        if opts.rate is not None:
            # Tokens for ~100 ms per batch: unresolved intents after a crash stay few.
            batch = max(1, min(256, int(opts.rate / 10 / max(jobs, 1))))
        plan = _Plan(
            root=root, layout=layout, root_dev=root_st.st_dev,
            max_age_ns=opts.max_age * 10**9, grace_ns=opts.grace * 10**9, clock_adj_ns=adj_ns,
            plan_now_ns=time.time_ns() + adj_ns, apply=False, action=action, run_id=run_id,
            spill_dir=spill_dir, journal=None, quarantine_run=None, mounts=mounts, batch=batch,
            sample_k=opts.sample_k, seed=opts.seed if opts.seed is not None else random.randrange(
                1 << 30),
            deadline=(time.monotonic() + opts.max_runtime) if opts.max_runtime else None,
        )
        shared = _Shared(opts.rate, opts.max_delete)

        parts = jobs if model == "processes" else min(jobs, 8)
        top, units = plan_units(plan, root_fd, parts if layout.depth == 0 else 1,
                                threads=jobs if model == "threads" else 1)
        tally = _run_pass("plan", plan, shared, stop, root_fd, units, jobs, model, progress)
        tally.merge(top, plan.sample_k)
        planned = _snapshot(tally)

        refusals = _safety(tally, opts, root, clock, layout.profile)
        applied = False
        q_run = None
        if opts.apply and not refusals and not stop.requested and tally.candidates + \
                tally.anomalies.get("stage_leftovers", 0) > 0:
            if q_dir is not None:
                q_run = os.path.join(q_dir, run_id)
                os.mkdir(q_run, 0o700)
            plan = _replace(plan, apply=True, journal=opts.journal, quarantine_run=q_run)
            if opts.journal:
                j = Journal(opts.journal)
                j.add({"event": "run-start", "run": run_id, "root": root, "at": iso(time.time()),
                       "pid": os.getpid(), "action": action, "max_age_s": opts.max_age,
                       "grace_s": opts.grace})
                j.close()
            tasks = _apply_tasks(spill_dir, units)
            applied = True
            atally = _run_pass("apply", plan, shared, stop, root_fd, tasks, jobs, model,
                               progress)
            for name in ("deleted", "deleted_bytes", "deleted_blocks", "skipped_fresh",
                         "restored", "vanished", "errors", "not_attempted",
                         "leftovers_finished"):
                setattr(tally, name, getattr(tally, name) + getattr(atally, name))
            for k, v in atally.skipped.items():
                tally.skip(k, v)
            for k, v in atally.anomalies.items():
                tally.anomaly(k, None, v)
            for k, lst in atally.examples.items():
                for text in lst:
                    tally.example(k, text)
            if opts.journal:
                j = Journal(opts.journal)
                j.add({"event": "run-end", "run": run_id, "at": iso(time.time()),
                       "deleted": tally.deleted, "skipped_fresh": tally.skipped_fresh,
                       "errors": tally.errors, "stopped_by": stop.reason})
                j.close()
        duration = time.perf_counter() - t0
        report = _report(opts, root, layout, fs, jobs, model, clock, tally, planned, refusals,
                         applied, stop.reason, warnings, lock_path, q_run, reconciled, started,
                         duration, action, plan.plan_cutoff_ns)
        return PruneResult(report, refusals, stop.reason, tally.errors, applied, not opts.apply)
    finally:
        if spill_dir:
            shutil.rmtree(spill_dir, ignore_errors=True)
        if lock is not None:
            lock.release()
        os.close(root_fd)


def _replace(plan: _Plan, **changes: Any) -> _Plan:
    from dataclasses import replace

    return replace(plan, **changes)


def _snapshot(t: Tally) -> dict[str, int]:
    return {"sessions": t.sessions, "expired": t.expired, "candidates": t.candidates,
            "candidate_bytes": t.candidate_bytes}


def _apply_tasks(spill_dir: str | None, units: list[Unit]) -> list[tuple[str, str, int]]:
    if not spill_dir:
        return []
    by_idx = {u.idx: u for u in units}
    tasks = []
    for fname in os.listdir(spill_dir):
        idx = int(fname.split(".", 1)[0])
        u = by_idx[idx]
        tasks.append((os.path.join(spill_dir, fname), u.rel, u.ino))
    random.shuffle(tasks)  # spread big shards over the workers
    return tasks


def _check_quarantine(path: str, root: str, root_dev: int, warnings: list[str]) -> str:
    q = os.path.abspath(path)
    try:
        os.makedirs(q, mode=0o700, exist_ok=True)
        fd = os.open(q, DIR_FLAGS)
    except OSError as exc:
        raise UsageError(f"--quarantine {path}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if st.st_dev != root_dev:
        raise UsageError(f"--quarantine {path} is on another filesystem than the store: "
                         "files are moved with rename(), which cannot cross filesystems")
    real = os.path.realpath(q)
    if real == root or real.startswith(root.rstrip("/") + "/"):
        warnings.append(f"the quarantine {path} is inside the store: beego's GC deletes "
                        "every old file in the tree, quarantined ones included")
    return real


def _report(opts: PruneOptions, root: str, layout: Layout, fs: Any, jobs: int, model: str,
            clock: ClockProbe, t: Tally, planned: dict[str, int], refusals: list[str],
            applied: bool, stopped_by: str | None, warnings: list[str],
            lock_path: str | None, q_run: str | None, reconciled: dict[str, int],
            started: float, duration: float, action: str, cutoff_ns: int) -> dict[str, Any]:
    now = time.time()
    hist = []
    for i, c in enumerate(t.hist):
        upper = AGE_EDGES[i] if i < len(AGE_EDGES) else None
        hist.append({"upper_s": upper, "count": c})
    sample = [p for _k, p in sorted(t.sample, reverse=True)]
    anomalies = {k: t.anomalies.get(k, 0) for k in ANOMALY_KINDS}
    r: dict[str, Any] = {
        "schema": SCHEMA,
        "target": {"kind": "files", "location": root, "profile": layout.profile,
                   "layout": layout.describe()},
        "generated_at": iso(now),
        "dry_run": not opts.apply,
        "applied": applied,
        "action": {"stage": "unlink", "direct": "unlink", "quarantine": "quarantine"}[action],
        "protocol": {"stage": "recheck+rename+verify+unlink", "direct": "recheck+unlink",
                     "quarantine": "recheck+rename+verify"}[action],
        "max_age_s": opts.max_age,
        "grace_s": opts.grace,
        "cutoff": iso(cutoff_ns / 1e9),
        "sessions": t.sessions,
        "session_bytes": t.session_bytes,
        "expired": t.expired,
        "candidates": t.candidates,
        "candidate_fraction": round(t.candidates / t.sessions, 6) if t.sessions else 0.0,
        "candidate_bytes": t.candidate_bytes,
        "candidate_allocated_bytes": t.candidate_blocks * 512,
        "deleted": t.deleted,
        "skipped_fresh": t.skipped_fresh,
        "restored": t.restored,
        "skipped_other": t.skipped_other,
        "skip_reasons": dict(sorted(t.skipped.items())),
        "vanished": t.vanished,
        "not_attempted": t.not_attempted,
        "errors": t.errors,
        "error_examples": t.examples.get("errors", []),
        "bytes_freed": 0 if action == "quarantine" else t.deleted_blocks * 512,
        "payload_bytes_removed": t.deleted_bytes,
        "bytes_quarantined": t.deleted_blocks * 512 if action == "quarantine" else 0,
        "age_spread": {
            "oldest": iso(t.oldest_ns / 1e9) if t.oldest_ns is not None else None,
            "newest": iso(t.newest_ns / 1e9) if t.newest_ns is not None else None,
            "histogram": hist,
        },
        "sample": sample,
        "anomalies": anomalies,
        "anomaly_examples": {k: v for k, v in t.examples.items() if k in ANOMALY_KINDS},
        "entries": t.entries,
        "dirs": t.dirs,
        "plan": planned,
        "clock": {"source": clock.source, "fs_minus_local_s": round(clock.offset_s, 3),
                  "max_skew_s": opts.max_skew},
        "safety": {"max_fraction": opts.max_fraction, "forced": opts.force,
                   "refusals": refusals},
        "lock": lock_path,
        "journal": os.path.abspath(opts.journal) if opts.journal else None,
        "journal_reconciled": reconciled,
        "quarantine": {"dir": os.path.abspath(opts.quarantine), "run_dir": q_run}
        if opts.quarantine else None,
        "filesystem": {"fstype": fs.fstype, "mountpoint": fs.mountpoint,
                       "latency_bound": fs.latency_bound},
        "jobs": jobs,
        "workers": model,
        "rate_limit_per_s": opts.rate,
        "max_delete": opts.max_delete,
        "started_at": iso(started),
        "duration_s": round(duration, 3),
        "rate_per_s": round(t.deleted / duration, 1) if duration > 0 else 0.0,
        "stopped_by": stopped_by,
        "leftovers_finished": t.leftovers_finished,
        "warnings": warnings,
    }
    return r
