"""A bounded probe of what this filesystem charges beego's GC per operation.

beego's SessionGC (filepath.Walk + gcpath, under the provider lock) pays, per directory, an
open + read of every name + sort; per entry, an lstat by full path; per expired non-directory,
an unlink by full path. The probe measures those three costs on the real tree, within a
budget (default 2 s and 2 000 filesystem operations, whatever the tree's size):

1. **readdir**: lists a few random shard directories the way Go's readDirNames does (open,
   read every name, sort) and times the cost per entry listed.
2. **lstat**: lstat's up to 600 session files by absolute path (median, p95, mean), in four
   bursts spread over the probe. Warm, in GC order (the sorted names of the listed shards);
   cold, a uniform sample (the census' when the census ran first, else the listed shards).
   Session files are only lstat'ed: never opened, never modified.
3. **unlink**: creates probe files in a scratch directory on the same filesystem (never in
   a shard, never a session file), sized like the expired sessions of the sample, makes
   them durable with syncfs(2) so their data blocks are allocated and written like an old
   session's, then lstat's and unlinks each one by full path, as gcpath does, timing the
   unlink. Fresh, never-written-back files would unlink ~10x cheaper on ext4 (measured:
   ~14 µs vs ~100-200 µs), because delayed allocation has given them no block to free yet;
   that is why the probe pays one syncfs. Skipped, with a note, when no writable scratch
   directory exists on the same filesystem or the syncfs does not return in time.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import random
import stat
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sessdiag.analysis.diskquiet import (
    DIRTY_BUSY_KB,
    DiskSample,
    DiskWatch,
    Settled,
    busy_reasons,
    settle,
)

# Seconds: ~1 s on a quiet local disk; the rest only waits for a busy disk to settle.
DEFAULT_BUDGET_S = 4.0
DEFAULT_BUDGET_OPS = 2000
# Share of the time budget each phase may use (the unlink phase gets what is left).
READDIR_SHARE = 0.2
LSTAT_SHARE = 0.35
MAX_DIRS = 6
MAX_LSTATS = 600
LSTAT_BURSTS = 4
# Timed unlinks in UNLINK_BURSTS bursts, and files for up to EXTRA_BURSTS more when the
# bursts disagree or the disk was busy (diskquiet.settle).
UNLINK_BURSTS = 8
EXTRA_BURSTS = 4
MAX_UNLINKS = 240
MIN_UNLINKS = 8
# getdents64 fills a 32 KiB buffer: ~580 records of beego's 32-character names.
NAMES_PER_GETDENTS = 580
# Pause between bursts of timed unlinks (when the budget leaves time for it): the window in
# which the disk's own activity is read, with no I/O of the probe's.
BURST_GAP_S = 0.12
# On a loaded machine the bursts spread over the whole budget, up to this far apart.
SPREAD_GAP_S = 0.6
# Wait for quiet in steps of this (each a window of the disk's counters).
QUIET_STEP_S = 0.1
SCRATCH_PREFIX = ".sessdiag-gcprobe-"


@dataclass
class Latency:
    n: int = 0
    median_us: float | None = None
    p95_us: float | None = None
    mean_us: float | None = None
    min_us: float | None = None

    @classmethod
    def of(cls, samples_ns: Sequence[int]) -> Latency:
        if not samples_ns:
            return cls()
        s = sorted(samples_ns)
        n = len(s)
        return cls(n=n, median_us=round(statistics.median(s) / 1e3, 3),
                   p95_us=round(s[min(n - 1, int(0.95 * n))] / 1e3, 3),
                   mean_us=round(statistics.fmean(s) / 1e3, 3), min_us=round(s[0] / 1e3, 3))

    def to_dict(self) -> dict:
        return {"n": self.n, "median_us": self.median_us, "p95_us": self.p95_us,
                "mean_us": self.mean_us, "min_us": self.min_us}


@dataclass
class ProbeResult:
    lstat: Latency = field(default_factory=Latency)
    # Listing: directories read, entries listed, seconds, cost per entry listed.
    readdir_dirs: int = 0
    readdir_entries: int = 0
    readdir_s: float = 0.0
    unlink: Latency = field(default_factory=Latency)
    unlink_status: str = "not run"  # measured | skipped
    unlink_file_bytes: list[int] = field(default_factory=list)
    unlink_setup_s: float = 0.0
    # Mean of each burst of timed unlinks, in order, and why the disk was busy around each
    # ([] = quiet): a writeback burst or another process deleting spoils some, not all.
    unlink_burst_means_us: list[float] = field(default_factory=list)
    unlink_burst_busy: list[list[str]] = field(default_factory=list)
    # The same without the time the probe waited for a CPU (its own run-queue wait), and
    # that wait per unlink: the cost is the work, the wait is the machine's load.
    unlink_burst_work_us: list[float] = field(default_factory=list)
    unlink_cpu_wait_us: float = 0.0
    # CPU time per unlink of each burst (the lstat before it included): the part of the
    # work that is the CPU's, the rest of the work being the device's round trip.
    unlink_burst_cpu_us: list[float] = field(default_factory=list)
    unlink_settled: Settled | None = None
    # (run + run-queue wait) / run of the probe's thread over the whole probe: how much a
    # CPU-bound task (beego's walk of cached entries) was stretched by saturated CPUs.
    cpu_slowdown: float | None = None
    # The kernel's CPU pressure (/proc/pressure/cpu "some": the share of time at least one
    # runnable task waited for a CPU) over the last 10 s and 60 s, read as the probe ends:
    # the machine's load over seconds, not the probe's own moment of it.
    cpu_pressure: dict | None = None
    # The disk around the unlink probe: device, seconds waited for quiet, peaks seen.
    disk_device: str | None = None
    quiet_waited_s: float = 0.0
    peak_dirty_kb: int | None = None
    peak_writeback_kb: int | None = None
    unlink_sync: str = ""  # syncfs | fdatasync per file
    scratch: str | None = None
    ops: int = 0
    seconds: float = 0.0
    budget_s: float = DEFAULT_BUDGET_S
    budget_ops: int = DEFAULT_BUDGET_OPS
    cache: str = "warm"  # warm | cold
    order: str = "after-census"
    # In GC order (sorted names within one listed shard), right after the listing.
    inorder_lstat: Latency = field(default_factory=Latency)
    sampled_sizes: list[int] = field(default_factory=list)
    sampled_expired_sizes: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def readdir_per_entry_us(self) -> float | None:
        if not self.readdir_entries:
            return None
        return self.readdir_s / self.readdir_entries * 1e6

    @property
    def unlink_robust_us(self) -> float | None:
        """The cost per removal the bursts support (diskquiet.settle), else the mean."""
        if self.unlink_settled is not None:
            return self.unlink_settled.cost_us
        return self.unlink.mean_us

    def quiet_dict(self) -> dict | None:
        """Was the disk quiet while the unlinks were timed, and if not, why and what then."""
        st = self.unlink_settled
        if self.unlink_status != "measured" or st is None:
            return None
        return {"state": st.state, "reason": st.reason, "device": self.disk_device,
                "waited_s": round(self.quiet_waited_s, 3),
                "bursts_us": self.unlink_burst_means_us,
                "bursts_work_us": self.unlink_burst_work_us,
                "cpu_wait_per_unlink_us": self.unlink_cpu_wait_us,
                "bursts_cpu_us": self.unlink_burst_cpu_us,
                "cpu_pressure": self.cpu_pressure,
                "busy_bursts": [i for i, r in enumerate(self.unlink_burst_busy) if r],
                "used_bursts": st.used,
                "peak_dirty_mib": _mib(self.peak_dirty_kb),
                "peak_writeback_mib": _mib(self.peak_writeback_kb)}

    def to_dict(self) -> dict:
        per = self.readdir_per_entry_us
        return {
            "cache": self.cache,
            "order": self.order,
            "lstat": self.lstat.to_dict(),
            "lstat_in_gc_order": self.inorder_lstat.to_dict(),
            "readdir": {"dirs": self.readdir_dirs, "entries": self.readdir_entries,
                        "seconds": round(self.readdir_s, 6),
                        "per_entry_us": None if per is None else round(per, 3)},
            "unlink": {"status": self.unlink_status, **self.unlink.to_dict(),
                       "burst_means_us": self.unlink_burst_means_us,
                       "robust_us": self.unlink_robust_us, "sync": self.unlink_sync,
                       "files": len(self.unlink_file_bytes),
                       "file_bytes": _size_summary(self.unlink_file_bytes),
                       "setup_s": round(self.unlink_setup_s, 4), "scratch": self.scratch},
            "operations": self.ops,
            "seconds": round(self.seconds, 4),
            "budget": {"seconds": self.budget_s, "operations": self.budget_ops},
            "quiet": self.quiet_dict(),
            "cpu_slowdown": self.cpu_slowdown,
            "cpu_pressure": self.cpu_pressure,
            "notes": list(self.notes),
        }


def _mib(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


def _size_summary(sizes: list[int]) -> dict | None:
    if not sizes:
        return None
    return {"min": min(sizes), "median": int(statistics.median(sizes)), "max": max(sizes)}


class _Budget:
    def __init__(self, seconds: float, ops: int) -> None:
        self.t0 = time.perf_counter()
        self.seconds = seconds
        self.ops_limit = ops
        self.ops = 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left_s(self) -> float:
        return self.seconds - self.elapsed()

    def left_ops(self) -> int:
        return self.ops_limit - self.ops

    def before(self, deadline: float) -> bool:
        return time.perf_counter() < deadline and self.ops < self.ops_limit


def _syncfs(fd: int, timeout: float) -> bool:
    """syncfs(2) on fd's filesystem in a helper thread; False when it does not return in time."""
    libc_name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(libc_name, use_errno=True) if libc_name else None
    fn = getattr(libc, "syncfs", None) if libc is not None else None
    done = threading.Event()

    def run() -> None:
        try:
            if fn is not None:
                fn(fd)
            else:  # pragma: no cover - glibc always has syncfs
                os.sync()
        finally:
            done.set()

    threading.Thread(target=run, name="sessdiag-syncfs", daemon=True).start()
    return done.wait(max(timeout, 0.0))


def find_scratch(root: str, wanted: str | None = None) -> tuple[str | None, str]:
    """A writable directory on the store's filesystem for probe files, and why it was chosen.

    Order: --scratch DIR; the store root's parent; a hidden directory inside the root (beego
    never deletes directories and only deletes files older than the max lifetime).
    """
    root_dev = os.stat(root).st_dev
    candidates: list[tuple[str, str]] = []
    if wanted:
        candidates.append((wanted, "--scratch"))
    parent = os.path.dirname(os.path.abspath(root).rstrip("/")) or "/"
    candidates.append((parent, "the store's parent directory"))
    candidates.append((root, "inside the store root (a hidden directory, removed afterwards)"))
    reasons: list[str] = []
    for path, why in candidates:
        try:
            st = os.stat(path)
        except OSError as exc:
            reasons.append(f"{path}: {exc.strerror}")
            continue
        if st.st_dev != root_dev:
            reasons.append(f"{path} is on another filesystem")
            continue
        if not os.access(path, os.W_OK | os.X_OK):
            reasons.append(f"{path} is not writable")
            continue
        return path, why
    return None, "; ".join(reasons)


def drop_caches() -> str | None:
    """Drop the page, dentry and inode caches (root only). None on success, else why not."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
    except OSError as exc:
        return f"cannot drop caches ({exc.strerror}): dropping caches needs root"
    return None


def run_probe(
    root: str,
    *,
    shard_dirs: Sequence[str] = (),
    sample_paths: Sequence[str] = (),
    max_lifetime: int = 3600,
    now: float | None = None,
    budget_s: float = DEFAULT_BUDGET_S,
    budget_ops: int = DEFAULT_BUDGET_OPS,
    unlink: bool = True,
    scratch: str | None = None,
    seed: int | None = None,
    cold: bool = False,
    order: str = "after-census",
    per_file_sync: bool = False,
    watch: DiskWatch | None = None,
) -> ProbeResult:
    """Measure readdir, lstat and unlink costs under ROOT within the budget.

    shard_dirs: root-relative directories holding session files (candidates to list);
    sample_paths: root-relative session file paths (uniform sample) to lstat when cold, or
    when no shard could be listed. When both are empty, shards and paths come from a random
    descent from the root. per_file_sync: fdatasync each probe file (FUSE: syncfs does not
    reach the backing filesystem, a per-file fsync does). watch: how the disk is read
    (diskquiet.DiskWatch of ROOT by default).
    """
    rnd = random.Random(seed)
    res = ProbeResult(budget_s=budget_s, budget_ops=budget_ops,
                      cache="cold" if cold else "warm", order=order)
    b = _Budget(budget_s, budget_ops)
    sched0 = _schedstat_ns()
    now = time.time() if now is None else now
    cut = int(now) - max_lifetime

    # -- 1. readdir, the way Go's readDirNames does it: open, all names, sort. --------
    dirs = list(shard_dirs) or _descend(root, rnd, b)
    rnd.shuffle(dirs)
    deadline = b.t0 + budget_s * READDIR_SHARE
    listed: list[tuple[str, list[str]]] = []
    for rel in dirs[:MAX_DIRS]:
        if not b.before(deadline) and listed:
            break
        path = os.path.join(root, rel)
        t = time.perf_counter_ns()
        try:
            names = os.listdir(path)
        except OSError:
            b.ops += 1
            continue
        names.sort()
        el = time.perf_counter_ns() - t
        b.ops += 2 + len(names) // NAMES_PER_GETDENTS  # open+close, one getdents per batch
        res.readdir_dirs += 1
        res.readdir_entries += len(names)
        res.readdir_s += el / 1e9
        if names:
            listed.append((rel, names))
    if not res.readdir_dirs:
        res.notes.append("no shard directory could be listed")

    # -- 2a. cold only: lstat in GC order (sorted names of one just-listed shard), where
    # neighbouring inodes share inode-table blocks the way they do during the GC's walk.
    inorder: list[int] = []
    if listed and cold:
        rel, names = listed[0]
        for name in names[: min(64, len(names))]:
            if b.ops >= b.ops_limit:
                break
            p = os.path.join(root, rel, name)
            t = time.perf_counter_ns()
            with contextlib.suppress(OSError):
                os.lstat(p)
            inorder.append(time.perf_counter_ns() - t)
            b.ops += 1
    res.inorder_lstat = Latency.of(inorder)

    # -- 2b. lstat of session files, by absolute path, in bursts: the
    # first here, the others in the pauses of the unlink probe (or right after it). A whole
    # sample takes ~3 ms, and on a shared machine the CPU's speed swings by 2x over seconds
    # (measured: the same lstat 1.5-2.8 µs); bursts spread over the probe's second average
    # the speed the GC will meet instead of catching one moment of it.
    #
    # Warm, the bursts go in GC order: the sorted names of the listed shards, as the walk
    # visits them. lstat's of random files across a large tree miss the CPU caches far more
    # than the walk does: at 1 M files a uniform sample measured 7-9 µs where beego's walk
    # (tools/gcoracle) spends 4.5-5.3 µs an entry and lstat's in GC order 4.8-5.0 µs.
    # Cold keeps the uniform sample: its median is reported as the random cold miss.
    per_burst = max(1, MAX_LSTATS // LSTAT_BURSTS)
    if listed and not cold:
        bursts = _gc_order_bursts(listed, per_burst)
    else:
        candidates = list(sample_paths)
        if not candidates:
            for rel, names in listed:
                candidates.extend(os.path.join(rel, n) for n in names)
        rnd.shuffle(candidates)
        bursts = [candidates[i:i + per_burst]
                  for i in range(0, min(len(candidates), MAX_LSTATS), per_burst)]
    lat: list[int] = []
    deadline = b.t0 + budget_s * (READDIR_SHARE + LSTAT_SHARE)
    if bursts:
        _lstat_burst(root, bursts.pop(0), res, b, cut, lat, deadline)

    def next_burst(until: float) -> None:
        if bursts:
            _lstat_burst(root, bursts.pop(0), res, b, cut, lat, min(until, b.t0 + b.seconds))

    # -- 3. unlink of durable probe files in a scratch directory. ---------------------
    if unlink:
        _probe_unlink(root, res, b, scratch, rnd, per_file_sync, next_burst,
                      reserve_ops=sum(len(x) for x in bursts), watch=watch)
    else:
        res.unlink_status = "skipped"
        res.notes.append("unlink probe skipped (--no-unlink-probe)")
    while bursts:
        next_burst(b.t0 + b.seconds)
    res.lstat = Latency.of(lat)
    if not lat:
        res.notes.append("no file could be lstat'ed")
    res.ops = b.ops
    res.seconds = b.elapsed()
    res.cpu_slowdown = _slowdown(sched0, _schedstat_ns())
    if res.cpu_pressure is None:
        res.cpu_pressure = cpu_pressure()
    return res


def pressure_share(p: dict | None) -> float | None:
    """The CPU pressure the expected wait is charged from: the last 10 s (avg10), read as the
    unlink bursts end (it fitted beego's GC's wait better than avg60: docs/gc-model.md)."""
    return None if p is None else p.get("avg10")


def cpu_pressure(path: str = "/proc/pressure/cpu") -> dict | None:
    """{"avg10": share, "avg60": share} of time some runnable task waited for a CPU, or None
    (no PSI: kernel < 4.20 or booted without psi)."""
    try:
        with open(path, encoding="ascii") as fh:
            line = fh.readline().split()
        if not line or line[0] != "some":
            return None
        vals = dict(kv.split("=", 1) for kv in line[1:])
        return {"avg10": round(float(vals["avg10"]) / 100, 4),
                "avg60": round(float(vals["avg60"]) / 100, 4)}
    except (OSError, KeyError, ValueError):
        return None


def _schedstat_ns() -> tuple[int, int] | None:
    """(ns on a CPU, ns waiting on a run queue) of this thread (/proc/thread-self/schedstat)."""
    try:
        with open("/proc/thread-self/schedstat", encoding="ascii") as fh:
            run, wait = fh.read().split()[:2]
        return int(run), int(wait)
    except (OSError, ValueError):
        return None


def _slowdown(a: tuple[int, int] | None, b: tuple[int, int] | None) -> float | None:
    """How long the thread was runnable per unit of CPU it got between two schedstat reads
    (sleeps and I/O waits count in neither): 1.0 on idle CPUs."""
    if a is None or b is None or b[0] <= a[0]:
        return None
    run, wait = b[0] - a[0], max(b[1] - a[1], 0)
    return round((run + wait) / run, 2)


def _gc_order_bursts(listed: list[tuple[str, list[str]]], per_burst: int) -> list[list[str]]:
    """LSTAT_BURSTS runs of per_burst names in sorted order, one listed shard after another
    (a shard too small for a burst continues into the next, as the walk does)."""
    flat = [os.path.join(rel, n) for rel, names in listed for n in names[:MAX_LSTATS]]
    flat = flat[:per_burst * LSTAT_BURSTS]
    return [flat[i:i + per_burst] for i in range(0, len(flat), per_burst)]


def _lstat_burst(root: str, rels: Sequence[str], res: ProbeResult, b: _Budget, cut: int,
                 lat: list[int], deadline: float) -> None:
    for rel in rels:
        # Not one more when it would end past the deadline (a round trip on a slow mount).
        if lat and not b.before(deadline - lat[-1] / 1e9):
            break
        p = os.path.join(root, rel)
        t = time.perf_counter_ns()
        try:
            st = os.lstat(p)
        except OSError:
            b.ops += 1
            continue
        lat.append(time.perf_counter_ns() - t)
        b.ops += 1
        if stat.S_ISREG(st.st_mode):
            res.sampled_sizes.append(st.st_size)
            if int(st.st_mtime) < cut:
                res.sampled_expired_sizes.append(st.st_size)


def _descend(root: str, rnd: random.Random, b: _Budget) -> list[str]:
    """Root-relative directories holding files, found by a short random descent."""
    out: list[str] = []
    frontier = [""]
    for _ in range(4):
        nxt: list[str] = []
        for rel in frontier[:8]:
            try:
                with os.scandir(os.path.join(root, rel)) as it:
                    entries = list(it)
            except OSError:
                continue
            b.ops += 2
            subdirs = [os.path.join(rel, e.name) for e in entries
                       if e.is_dir(follow_symlinks=False)
                       and not e.name.startswith(SCRATCH_PREFIX)]
            has_files = any(not e.is_dir(follow_symlinks=False) for e in entries)
            if has_files and rel:
                out.append(rel)
            rnd.shuffle(subdirs)
            nxt.extend(subdirs[:4])
        if not nxt:
            break
        frontier = nxt
    if not out:
        out.append("")
    return out


def _peaks(res: ProbeResult, s: DiskSample) -> None:
    if s.dirty_kb is not None:
        res.peak_dirty_kb = max(res.peak_dirty_kb or 0, s.dirty_kb)
    if s.writeback_kb is not None:
        res.peak_writeback_kb = max(res.peak_writeback_kb or 0, s.writeback_kb)


def _window(watch: DiskWatch, res: ProbeResult, seconds: float,
            work: Callable[[float], None] | None = None) -> list[str]:
    """Read the disk over `seconds` in which the probe does no I/O of its own (work() may
    lstat cached entries); why it was busy, [] when quiet."""
    a = watch.sample()
    until = a.t + seconds
    if work is not None:
        work(until)
    left = until - time.perf_counter()
    if left > 0:
        time.sleep(left)
    b = watch.sample()
    _peaks(res, b)
    return busy_reasons(a, b)


def _timed_unlinks(scratch: str, made: list[str], res: ProbeResult, b: _Budget,
                   watch: DiskWatch, in_pause: Callable[[float], None]) -> None:
    """Unlink `made` in bursts, reading the disk in the pauses between them; wait for a busy
    disk to settle while the budget allows; run extra bursts when the bursts disagree."""
    # 2 % of the budget for what follows the last unlink: the scratch directory's removal
    # and a last operation started just before the deadline (one round trip on a mount).
    deadline = b.t0 + b.seconds * 0.98
    per = max(MIN_UNLINKS // 2, len(made) // (UNLINK_BURSTS + EXTRA_BURSTS))
    planned = UNLINK_BURSTS
    lat: list[int] = []
    bursts: list[list[int]] = []
    waits: list[int] = []  # ns this thread waited for a CPU during each burst
    runs: list[int] = []  # ns this thread ran on a CPU during each burst (lstat + unlink)
    pauses: list[list[str]] = []  # pauses[i] is the window before burst i
    spent = 0
    spread_out = False

    def time_needed(n_files: int) -> float:
        # Unlinking what is left must still fit before the deadline (on a 5 ms/op mount
        # the leftovers' cleanup alone once overran the budget by 0.17 s).
        return n_files * spent / len(lat) / 1e9 if lat else 0.0

    while made and len(bursts) < planned:
        left_s = deadline - time.perf_counter() - time_needed(len(made))
        if len(lat) >= MIN_UNLINKS and left_s <= 0:
            break
        if spread_out:  # the rest of the bursts over the rest of the budget
            gap = min(SPREAD_GAP_S, max(0.0, left_s * 0.8 / max(planned - len(bursts), 1)))
        else:
            gap = min(BURST_GAP_S, max(0.0, left_s * 0.5 / max(planned - len(bursts), 1)))
        reasons = _window(watch, res, gap, in_pause if bursts else None) if gap > 0.005 else []
        # Busy: wait for quiet while the rest of the bursts still fit in the budget.
        while reasons:
            left_s = deadline - time.perf_counter() - time_needed(len(made))
            need = (planned - len(bursts)) * (gap + (time_needed(per) if lat else 0.01))
            if left_s - 2 * QUIET_STEP_S < need:
                break
            res.quiet_waited_s += QUIET_STEP_S
            reasons = _window(watch, res, QUIET_STEP_S)
        pauses.append(reasons)
        burst: list[int] = []
        st0 = _schedstat_ns()
        rq0 = None if st0 is None else st0[1]
        for name in list(made[:per]):
            p = os.path.join(scratch, name)
            try:
                os.lstat(p)  # gcpath has the entry's lstat in hand before it removes
                t = time.perf_counter_ns()
                os.unlink(p)
                el = time.perf_counter_ns() - t
            except OSError:
                continue
            finally:
                b.ops += 2
            made.remove(name)
            burst.append(el)
            lat.append(el)
            spent += el
        st1 = _schedstat_ns()
        rq1 = None if st1 is None else st1[1]
        if burst:
            bursts.append(burst)
            waits.append(rq1 - rq0 if rq0 is not None and rq1 is not None else 0)
            runs.append(st1[0] - st0[0] if st0 is not None and st1 is not None else 0)
        if not spread_out and len(bursts) >= UNLINK_BURSTS // 2 and made and lat:
            verdict = settle(_work_means(bursts, waits), _burst_busy([*pauses, []], len(bursts)),
                             cpu_wait_us=sum(waits) / len(lat) / 1e3)
            if verdict.state not in ("quiet", "waited"):
                # A loaded machine: every burst there is, spread over the whole budget, so the
                # figure averages the load over seconds rather than catching one moment.
                spread_out = True
                planned = UNLINK_BURSTS + EXTRA_BURSTS
    # The window after the last burst, if the leftovers' removal still fits after it.
    tail = deadline - time.perf_counter() - time_needed(len(made))
    pauses.append(_window(watch, res, 0.05) if tail > 0.1 else [])
    res.unlink = Latency.of(lat)
    res.unlink_status = "measured" if lat else "skipped"
    if not lat:
        res.notes.append("unlink probe failed: no probe file could be removed")
        return
    res.unlink_burst_means_us = [round(statistics.fmean(x) / 1e3, 3) for x in bursts]
    res.unlink_burst_work_us = [round(x, 3) for x in _work_means(bursts, waits)]
    res.unlink_cpu_wait_us = round(sum(waits) / len(lat) / 1e3, 3)
    res.unlink_burst_cpu_us = [round(r / len(x) / 1e3, 3) for x, r in zip(bursts, runs,
                                                                        strict=True)]
    res.unlink_burst_busy = _burst_busy(pauses, len(bursts))
    res.cpu_pressure = cpu_pressure()
    res.unlink_settled = settle(res.unlink_burst_work_us, res.unlink_burst_busy,
                                waited_s=res.quiet_waited_s,
                                local_disk=watch.device is not None,
                                cpu_wait_us=res.unlink_cpu_wait_us,
                                wall_means_us=res.unlink_burst_means_us,
                                cpu_means_us=res.unlink_burst_cpu_us,
                                cpu_pressure=pressure_share(res.cpu_pressure))
    if res.quiet_waited_s:
        res.notes.append(f"waited {res.quiet_waited_s:.1f} s for the disk to settle before "
                         "timing unlinks")


def _fdatasync_all(dir_fd: int, names: list[str], b: _Budget, deadline: float) -> bool:
    for name in names:
        if time.perf_counter() > deadline:
            return False
        fd = os.open(name, os.O_WRONLY, dir_fd=dir_fd)
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)
        b.ops += 1
    return True


def _work_means(bursts: list[list[int]], waits: list[int]) -> list[float]:
    """µs per unlink of each burst without the time spent waiting for a CPU: on a machine
    whose CPUs are saturated a blocking unlink waits milliseconds to be scheduled again
    after its I/O (measured: 1.4-2.2 ms of a 1.6-2.7 ms unlink at CPU pressure 95 %)."""
    return [max(sum(x) - w, 0) / len(x) / 1e3 for x, w in zip(bursts, waits, strict=True)]


def _burst_busy(pauses: list[list[str]], n: int) -> list[list[str]]:
    """A burst is busy when the disk was busy in the pause before it or after it."""
    return [sorted({*pauses[i], *(pauses[i + 1] if i + 1 < len(pauses) else [])})
            for i in range(n)]


def _probe_unlink(root: str, res: ProbeResult, b: _Budget, wanted: str | None,
                  rnd: random.Random, per_file_sync: bool,
                  in_pause: Callable[[float], None] = lambda until: None,
                  reserve_ops: int = 0, watch: DiskWatch | None = None) -> None:
    """in_pause(until) runs in each pause between the bursts of unlinks (the lstat bursts)
    and returns by `until`; reserve_ops operations of the budget are left for it."""
    base, why = find_scratch(root, wanted)
    if base is None:
        res.unlink_status = "skipped"
        res.notes.append(f"unlink probe skipped: no writable directory on the store's "
                         f"filesystem ({why})")
        return
    sizes = res.sampled_expired_sizes or res.sampled_sizes or [20]
    watch = watch or DiskWatch(root)
    res.disk_device = watch.device
    first = watch.sample()
    _peaks(res, first)
    # syncfs writes back every dirty page of the filesystem — with a neighbour's gigabytes
    # dirty, the probe would make the disk busy itself: then one fdatasync per probe file.
    per_file_sync = per_file_sync or (first.dirty_kb or 0) >= DIRTY_BUSY_KB
    res.unlink_sync = "fdatasync per file" if per_file_sync else "syncfs"
    # Room for create (+ fdatasync) + lstat + unlink per file and the syncfs in the budget.
    k = min(MAX_UNLINKS,
            max(0, (b.left_ops() - reserve_ops - 4) // (4 if per_file_sync else 3)))
    if k < MIN_UNLINKS:
        res.unlink_status = "skipped"
        res.notes.append("unlink probe skipped: the operation budget is spent")
        return
    try:
        scratch = tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=base)
    except OSError as exc:
        res.unlink_status = "skipped"
        res.notes.append(f"unlink probe skipped: cannot create a scratch directory in {base} "
                         f"({exc.strerror})")
        return
    res.scratch = f"{scratch} ({why})"
    b.ops += 1
    made: list[str] = []
    dir_fd = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY)
    try:
        t_setup = time.perf_counter()
        # Creating costs about what an unlink does: stop creating at 40 % of the time left.
        create_deadline = time.perf_counter() + max(b.left_s(), 0) * 0.4
        for i in range(k):
            if i >= MIN_UNLINKS and time.perf_counter() > create_deadline:
                break
            # Never a session id: a probe file left behind by a killed run reads as foreign.
            name = f"probe-{rnd.getrandbits(64):016x}"
            size = sizes[i % len(sizes)]
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=dir_fd)
            try:
                if size:
                    os.write(fd, b"\0" * size)
                if per_file_sync:
                    os.fdatasync(fd)
                    b.ops += 1
            finally:
                os.close(fd)
            made.append(name)
            res.unlink_file_bytes.append(size)
            b.ops += 1
        synced = True
        if not per_file_sync:
            synced = _syncfs(dir_fd, max(b.left_s() * 0.3, 0.05))
            b.ops += 1
            if not synced:
                # Heavy writeback on this filesystem (syncfs writes everyone's dirty pages):
                # make just the probe files durable.
                res.unlink_sync = "fdatasync per file (syncfs did not return in time)"
                synced = _fdatasync_all(dir_fd, made, b, time.perf_counter() + b.left_s() * 0.4)
        res.unlink_setup_s = time.perf_counter() - t_setup
        if not synced:
            res.unlink_status = "skipped"
            res.notes.append("unlink probe skipped: the probe files could not be written back "
                             "within the budget (heavy writeback on this filesystem); "
                             "unlinking files that were never written back would understate "
                             "the cost")
            return
        made.sort()  # gcpath visits names in sorted order
        _timed_unlinks(scratch, made, res, b, watch, in_pause)
    finally:
        for name in made:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=dir_fd)
        os.close(dir_fd)
        with contextlib.suppress(OSError):
            os.rmdir(scratch)
