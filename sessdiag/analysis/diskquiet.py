"""Is the store's disk quiet? What the GC probe needs to know before it trusts a timing.

beego's GC pays, per removal, an unlink whose cost on a local disk is a device round trip
(ext4 frees the block; mounted with `discard`, it discards it too). A probe of a second
prices it from ~160 timed unlinks: if the disk is busy then — the kernel writing back a
freshly built tree, a neighbour deleting or copying — the probe reads the neighbour, not
the disk (five back-to-back estimates of one 300k-file tree gave 53, 52, 14.4, 13.8, 13.5 s
against beego's 14.5 s). Three signals, none needing root:

* the kernel's dirty and writeback pages (/proc/meminfo `Dirty`, `Writeback`): writeback in
  progress competes with every unlink; gigabytes dirty mean the flusher is about to start;
* the device's own counters (/sys/dev/block/MAJ:MIN/stat of the filesystem's device, found
  from st_dev; the whole disk for a partition): requests in flight, and the share of time
  it was busy (io_ticks) while the probe itself did no I/O;
* the spread between the probe's bursts of unlinks, for what the guest cannot see (a VM's
  host still flushing, a network filesystem's server).

`settle()` turns timed bursts and their disk verdicts into one cost per removal, with the
state (quiet, waited, busy, unsettled) and, when it is not quiet, the reason.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

# Busy when, in a pause of the probe (no I/O of its own): at least this much writeback in
# flight; the device busy at least this share of the time; or this many requests queued.
WRITEBACK_BUSY_KB = 8 * 1024
# Dirty pages beyond this are written back within the kernel's 5 s flusher period.
DIRTY_BUSY_KB = 256 * 1024
UTIL_BUSY = 0.5
INFLIGHT_BUSY = 8
# Bursts of one probe whose means are within this ratio agree: the disk was steady.
SPREAD_OK = 1.5
# A removal on a local disk cost real beego 95-270 µs (warm ext4); far above that, the
# disk or the CPU was busy while the probe ran, whatever the counters said.
LOCAL_UNLINK_SUSPECT_US = 3 * 270.0
# The probe waited for a CPU more than this share of an unlink's work: the machine is loaded.
CPU_WAIT_BUSY = 1.0
# Share of the probe's wait for a CPU that beego's GC (Go) pays per removal on the same
# loaded machine: tools/gcoracle under CPU pressure 95 % paid 524 µs per removal where the
# probe's unlinks did ~280 µs of work and waited ~1,600 µs (fitted; benchmarks/gc_estimate.py).
# Only used without /proc/pressure/cpu: re-measured on 2026-12-03 against the oracle's own
# run-queue wait, the GC waited 0.01-0.5x what the probe did (and more than the probe when the
# probe saw none), so with PSI the wait is charged from the pressure instead.
CPU_WAIT_SHARE = 0.15
# Expected wait for a CPU per removal at full CPU pressure (µs per unit of /proc/pressure/cpu
# "some" avg10 share): the median over 12 paired gc-estimate / tools/gcoracle runs of 2026-12-03
# (50k-100k files, 50-90 % expired, CPU pressure 0.19-0.57) of what beego's GC paid per
# removal beyond the probe's work, per unit of pressure (124; docs/gc-model.md).
WAIT_PER_PRESSURE_US = 120.0


@dataclass(frozen=True)
class DiskSample:
    t: float
    dirty_kb: int | None = None
    writeback_kb: int | None = None
    inflight: int | None = None
    io_ticks_ms: int | None = None


def parse_meminfo(text: str) -> tuple[int | None, int | None]:
    """(Dirty, Writeback) in kB from /proc/meminfo."""
    vals: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Dirty", "Writeback"):
            try:
                vals[key] = int(rest.split()[0])
            except (IndexError, ValueError):
                continue
    return vals.get("Dirty"), vals.get("Writeback")


def parse_block_stat(text: str) -> tuple[int | None, int | None]:
    """(requests in flight, io_ticks ms) from a block device's `stat` file (fields 9, 10)."""
    f = text.split()
    if len(f) < 10:
        return None, None
    try:
        return int(f[8]), int(f[9])
    except ValueError:
        return None, None


def block_device_dir(path: str) -> str | None:
    """/sys/dev/block/MAJ:MIN of the disk holding PATH's filesystem, or None (FUSE, NFS,
    tmpfs, overlay: no block device of their own)."""
    try:
        dev = os.stat(path).st_dev
    except OSError:
        return None
    major, minor = os.major(dev), os.minor(dev)
    if major == 0:
        return None
    d = f"/sys/dev/block/{major}:{minor}"
    if not os.path.exists(os.path.join(d, "stat")):
        return None
    real = os.path.realpath(d)
    if os.path.exists(os.path.join(real, "partition")):  # the queue is the whole disk's
        parent = os.path.dirname(real)
        if os.path.exists(os.path.join(parent, "stat")):
            return parent
    return real


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


class DiskWatch:
    """Samples the kernel's and the store device's counters (cheap: two small reads)."""

    def __init__(self, root: str, *, meminfo: str = "/proc/meminfo") -> None:
        self.dev_dir = block_device_dir(root)
        self.device = os.path.basename(self.dev_dir) if self.dev_dir else None
        self.meminfo = meminfo

    def sample(self) -> DiskSample:
        dirty = wb = inflight = ticks = None
        text = _read(self.meminfo)
        if text is not None:
            dirty, wb = parse_meminfo(text)
        if self.dev_dir:
            st = _read(os.path.join(self.dev_dir, "stat"))
            if st is not None:
                inflight, ticks = parse_block_stat(st)
        return DiskSample(time.perf_counter(), dirty, wb, inflight, ticks)


def busy_reasons(a: DiskSample, b: DiskSample) -> list[str]:
    """Why the disk was busy between two samples taken while the probe did no I/O."""
    out: list[str] = []
    wb = max(x for x in (a.writeback_kb, b.writeback_kb, 0) if x is not None)
    if wb >= WRITEBACK_BUSY_KB:
        out.append(f"kernel writeback {wb / 1024:.0f} MiB")
    dirty = b.dirty_kb or 0
    if dirty >= DIRTY_BUSY_KB:
        out.append(f"{dirty / 1024:.0f} MiB dirty pages awaiting writeback")
    if a.io_ticks_ms is not None and b.io_ticks_ms is not None and b.t > a.t:
        util = (b.io_ticks_ms - a.io_ticks_ms) / ((b.t - a.t) * 1e3)
        if util >= UTIL_BUSY:
            out.append(f"device {min(util, 1.0):.0%} busy with other I/O")
    if b.inflight is not None and b.inflight >= INFLIGHT_BUSY:
        out.append(f"{b.inflight} requests in flight on the device")
    return out


def typical_cpu_wait_us(means_us: list[float], wall_means_us: list[float] | None,
                        cpu_wait_us: float) -> float:
    """The CPU wait per unlink of a typical burst: the median over bursts of wall − work.

    A neighbour's few busy seconds can make three bursts of twelve wait milliseconds while
    the rest wait nothing; their mean (measured: 327 µs per unlink, the other bursts ~1 µs)
    charged +50 % to one of five back-to-back estimates that beego's GC, run right after,
    did not pay. A saturation that lasts, the only kind a GC of seconds to minutes meets
    throughout, slows most bursts, and then the median is the mean (the CPU_WAIT_SHARE fit).
    Without per-burst wall times, the mean wait given.
    """
    if not wall_means_us or len(wall_means_us) != len(means_us):
        return cpu_wait_us
    return statistics.median(max(w - m, 0.0) for w, m in zip(wall_means_us, means_us,
                                                              strict=True))


def _worst_of_each_kind(reasons: Iterable[str]) -> list[str]:
    """One reason per kind, the one with the largest figure: twelve windows of a 1M-file
    build's writeback once read "466 MiB dirty pages …; 469 MiB …; …" twelve times over."""
    worst: dict[str, tuple[float, str]] = {}
    for r in reasons:
        nums = re.findall(r"\d+(?:\.\d+)?", r)
        kind = re.sub(r"\d+(?:\.\d+)?", "#", r)
        size = float(nums[0]) if nums else 0.0
        if kind not in worst or size > worst[kind][0]:
            worst[kind] = (size, r)
    return sorted(r for _, r in worst.values())


@dataclass
class Settled:
    """The cost per removal a probe's bursts support, and how far to trust it."""

    cost_us: float
    low_us: float
    high_us: float
    state: str  # quiet | waited | busy | unsettled
    reason: str | None = None
    used: list[int] = field(default_factory=list)  # indexes of the bursts the cost rests on


def settle(means_us: list[float], busy: list[list[str]], *, waited_s: float = 0.0,
           local_disk: bool = True, cpu_wait_us: float = 0.0,
           wall_means_us: list[float] | None = None,
           cpu_means_us: list[float] | None = None,
           cpu_pressure: float | None = None) -> Settled:
    """One cost per removal from burst means and each burst's busy reasons ([] = quiet).

    means_us: the work per unlink (without waiting for a CPU); cpu_wait_us: what the probe
    waited for a CPU per unlink; wall_means_us: the bursts as the clock saw them;
    cpu_means_us: CPU time per unlink of each burst (the probe thread's run time): the work
    is priced at the least-disturbed burst's CPU plus each burst's time off the CPU (the
    device); cpu_pressure: the kernel's CPU pressure (share of time some task waited for a
    CPU, /proc/pressure/cpu) — the GC's expected wait for a CPU per removal is charged from
    it, not from the probe's own wait.

    A busy disk only ever slows an unlink down, so the cost rests on the quiet bursts; when
    those disagree (max/min > SPREAD_OK) or none was quiet, on the faster half of them —
    and the range keeps the slow ones at its top and says why.
    """
    if not means_us:
        raise ValueError("no bursts")
    quiet = [i for i, r in enumerate(busy) if not r]
    pool = quiet if len(quiet) >= 2 else list(range(len(means_us)))
    vals = sorted(pool, key=lambda i: means_us[i])
    lo, hi = means_us[vals[0]], means_us[vals[-1]]
    # The spread of the middle half: one odd burst among eight is noise, not a busy disk;
    # half of them slow (the 53, 52, 14.4 s) is.
    q1 = means_us[vals[(len(vals) - 1) // 4]]
    q3 = means_us[vals[(3 * (len(vals) - 1) + 3) // 4]]
    spread = q3 / q1 if q1 > 0 else float("inf")
    reasons: list[str] = []
    if spread <= SPREAD_OK:
        used = vals
        state = "waited" if waited_s > 0 and len(quiet) >= 2 else "quiet"
    else:
        used = vals[: max(1, len(vals) // 2)]
        state = "unsettled"
        reasons.append(f"unlink bursts disagree ({lo:.0f}-{hi:.0f} µs, middle half "
                       f"{spread:.1f}x apart): the cost rests on the faster half")
    if len(quiet) < 2:
        state = "busy"
        reasons.insert(0, "the disk was busy throughout the probe ("
                       + "; ".join(_worst_of_each_kind(r for rs in busy for r in rs)) + ")")
    if cpu_means_us and len(cpu_means_us) == len(means_us) and min(cpu_means_us) > 0:
        # Contention slows the probe's interpreted loop far more than beego's compiled one
        # (measured: the probe's CPU per unlink 52-341 µs from burst to burst under the
        # neighbours' load, beego's GC 47-70 µs per removal then): the CPU part of a removal
        # is the least-disturbed burst's, the rest (the device's round trip) each burst's.
        floor = min(cpu_means_us)
        cost = statistics.median(max(means_us[i] - (cpu_means_us[i] - floor), 0.0)
                                 for i in used)
    else:
        cost = statistics.median(means_us[i] for i in used)
    if local_disk and cost > LOCAL_UNLINK_SUSPECT_US:
        reasons.append(f"{cost:.0f} µs per removal is far above what real beego paid on a "
                       "local disk (95-270 µs): the disk was probably busy")
        if state == "quiet":
            state = "suspect"
    wall = wall_means_us or means_us
    wait = typical_cpu_wait_us(means_us, wall_means_us, cpu_wait_us)
    if cpu_pressure is not None:
        # Each removal blocks on the device and then needs a CPU again: what that costs the
        # GC follows the machine's CPU pressure over seconds (fitted on tools/gcoracle's own
        # run-queue wait), not the probe's wait in its second of bursts (0-2,600 µs per
        # unlink from run to run while beego's GC waited 18-314 µs per removal).
        cost += WAIT_PER_PRESSURE_US * cpu_pressure
    if wait > CPU_WAIT_BUSY * max(cost, 1e-9):
        # The GC waits for a CPU too after each removal's I/O, but less than this probe did
        # (Go's runtime runs the walk on whichever of its threads gets a CPU first).
        if cpu_pressure is None:
            cost += CPU_WAIT_SHARE * wait
        reasons.append(f"the CPUs were saturated: the probe waited {wait:.0f} µs per "
                       "unlink for a CPU in a typical burst; the GC waits too, by how much "
                       "depends on the load when it runs (the range's top: as long as the "
                       "probe)")
        if state in ("quiet", "waited"):
            state = "cpu-busy"
    # The top: the slowest work burst, or a typical burst as the clock saw it (CPU waits
    # included) when that is longer.
    busy_max = max(max(means_us), statistics.median(wall))
    return Settled(cost_us=round(cost, 3), low_us=round(min(means_us), 3),
                   high_us=round(max(busy_max, cost), 3), state=state,
                   reason="; ".join(reasons) or None, used=sorted(used))
