"""How long beego's file-provider GC holds the session lock, from a census (and a probe).

beego's SessionGC (v1.12.3 session/sess_file.go, unchanged in v2 server/web/session) takes
the provider's global lock and runs filepath.Walk(savePath, gcpath): per directory it opens
it, reads every name and sorts them; per entry it lstat's the full path; per non-directory
whose mtime.Unix() + maxlifetime < now.Unix() it os.Remove's the full path. SessionExist,
SessionRead and SessionRelease take the same lock, so every request waits for the whole
walk (measured with real beego v1.12.3). docs/gc-model.md explains the model and its calibration.

One figure: `gc_figure(counts, model)` is the only function that turns a census into the
stall every command shows (scan's and check's `gc_estimate`, gc-estimate's `seconds`, the
Prometheus gauge); the views only render it. Its costs (`GcModel`) come from:
* the probe where it ran (`probed_model`, gc-estimate): this filesystem's measured costs
  (sessdiag.analysis.gcprobe) plus Go's own per-entry CPU cost;
* else the static fallback (`static_model`: scan, check, gc-estimate --no-probe), labelled as
  such: constants measured with the real beego on warm local ext4 (~6 µs per entry walked,
  ~150 µs per removal).
"""

from __future__ import annotations

from dataclasses import dataclass

# The probe's thread was runnable at least this many times as long as it ran: the CPUs are
# saturated and beego's walk, CPU work on a cached tree, stretches too (gcprobe.cpu_slowdown).
# Here, not beside the probe's other thresholds in diskquiet.py: every scan report asks
# not_quiet_finding, and the probe's module (and statistics) then need not be imported.
CPU_SLOWDOWN_BUSY = 1.5
WARM_EXT4_WALK_S = 6.0e-6
WARM_EXT4_REMOVE_S = 150e-6
STATIC_MODEL = "beego-walk/static-ext4-warm"
PROBED_MODEL = "beego-walk/probed"
PROBED_COLD_MODEL = "beego-walk/probed-cold"

# Go's own CPU per entry on top of the lstat syscall and the listing (filepath.Join, the
# FileInfo, time.Now, the sort's share, the walkFn call). The probe times lstat and listdir
# from Python, whose own per-call cost (argument conversion, the stat_result) is of the same
# size, so it already stands in for Go's: fitted over 7 warm walks of 50k-1M files with
# tools/gcoracle, oracle per entry − (Python lstat median + listing per entry) = −0.1 µs
# (± 1.4 µs: a CPU-bound walk on a shared 2-vCPU VM). Kept as a named term at 0.
GO_ENTRY_OVERHEAD_S = 0.0
# Expected wait for a CPU per second of the walk's work, per unit of CPU pressure
# (/proc/pressure/cpu "some" avg10 share): over 5 warm walks of 50k-1M files on 2026-12-03
# (nothing expired, CPU pressure 0.13-0.70) tools/gcoracle's wall exceeded the probe's
# priced walk by 14-49 % while its CPU time matched it (0.17 vs 0.19 s, 0.64 vs 0.73 s,
# 3.9 vs 3.5 s): (oracle / estimate - 1) / pressure had the median 0.77 (0.38-2.2).
WALK_WAIT_PER_PRESSURE = 0.77
# Listing cost per entry when no directory could be listed (warm ext4).
DEFAULT_READDIR_PER_ENTRY_S = 0.8e-6
# Per removal when the unlink probe could not run: warm local ext4 with real beego
# measured 95-270 µs with real beego on ext4; on a latency-bound mount one round trip.
FALLBACK_UNLINK_LOCAL_S = 150e-6
# A directory read is one round trip per getdents batch of 32 KiB (~580 names of 32 chars).
NAMES_PER_READDIR_CALL = 580
# Relative margins of the range: the walk's per-entry costs are tight; removals on a shared
# disk vary with the neighbours' I/O and CPU over a GC of minutes, which a 2-second probe
# cannot foresee (real beego and benchmarks/gc_estimate.py: ±30-50 % between runs).
WALK_MARGIN = 0.15
UNLINK_MARGIN_LOW = 0.3
UNLINK_MARGIN_HIGH = 0.6


@dataclass(frozen=True)
class GcCounts:
    """What beego's walk visits. files: non-directories; dirs: directories, root included."""

    files: int
    dirs: int
    expired_sessions: int
    old_non_sessions: int = 0

    @classmethod
    def of_census(cls, c) -> GcCounts:  # type: ignore[no-untyped-def]
        """What beego's Walk visits in a census: directories off the layout are foreign
        entries to the census but directories to the walk."""
        return cls(files=c.sessions + c.misplaced + c.symlinks + c.foreign - c.foreign_dirs,
                   dirs=c.dirs, expired_sessions=c.expired, old_non_sessions=c.old_non_sessions)

    @property
    def deletions(self) -> int:
        return self.expired_sessions + self.old_non_sessions

    @property
    def lstats(self) -> int:
        return self.files + self.dirs  # Walk lstat's the root and every entry below it

    @property
    def listed(self) -> int:
        return self.files + self.dirs - 1  # every entry except the root is a name listed


@dataclass(frozen=True)
class OpCosts:
    """Seconds per operation, as measured (or assumed)."""

    lstat_s: float
    readdir_per_entry_s: float
    unlink_s: float
    # Low and high per-operation values for the range.
    lstat_low_s: float
    lstat_high_s: float
    unlink_low_s: float
    unlink_high_s: float
    overhead_s: float = GO_ENTRY_OVERHEAD_S
    unlink_source: str = "probe"
    # The walk's terms at the range's top are stretched by this: saturated CPUs (the probe's
    # cpu_slowdown) make a CPU-bound walk wait that much for a CPU.
    walk_stretch: float = 1.0
    # Expected wait for a CPU per second of the walk's CPU work (its point): the walk of a
    # cached tree is CPU work, and on a loaded machine it waits for a CPU in proportion to
    # the CPU pressure (WALK_WAIT_PER_PRESSURE × the pressure the probe read).
    walk_wait_share: float = 0.0

    def at_latency(self, latency_s: float) -> OpCosts:
        """Every metadata round trip (lstat, unlink) takes `latency_s` more than measured here.

        The storage still does the work measured locally (an unlink on the server's disk costs
        what it costs here) and the network or FUSE round trip comes on top of it.
        """
        return OpCosts(
            lstat_s=self.lstat_s + latency_s,
            readdir_per_entry_s=self.readdir_per_entry_s,
            unlink_s=self.unlink_s + latency_s,
            lstat_low_s=self.lstat_low_s + latency_s,
            lstat_high_s=self.lstat_high_s + latency_s * (1 + WALK_MARGIN),
            unlink_low_s=self.unlink_low_s + latency_s,
            unlink_high_s=self.unlink_high_s + latency_s * (1 + WALK_MARGIN),
            overhead_s=self.overhead_s,
            unlink_source=self.unlink_source,
            walk_stretch=self.walk_stretch,
        )  # walk_wait_share stays 0: a round trip's wait is the mount's, measured in it


def pressure_share(p: dict | None) -> float | None:
    """The CPU pressure the expected wait is charged from (gcprobe.pressure_share)."""
    from sessdiag.analysis.gcprobe import pressure_share as share

    return share(p)


def costs_from_probe(probe, latency_bound: bool) -> tuple[OpCosts, list[str]]:  # type: ignore[no-untyped-def]
    """Per-operation costs from a gcprobe.ProbeResult; notes say what was assumed."""
    notes: list[str] = []
    lst = probe.lstat
    inorder = probe.inorder_lstat
    if probe.cache == "cold" and inorder.median_us is not None and lst.median_us is not None:
        # Cold: the GC reads inode-table blocks as it goes, and ext4 reads them ahead (32
        # blocks, 512 inodes) so most lstats in GC order hit: the median of lstats in GC order
        # (sorted names of one just-listed shard) matched real cold walks. That shard's mean
        # pays for blocks later shards reuse: the top of the range.
        lstat_s = inorder.median_us / 1e6
        lstat_low = lstat_s * (1 - WALK_MARGIN)
        lstat_high = max(lstat_s, (inorder.mean_us or inorder.median_us) / 1e6)
        notes.append("cold: per-entry cost from lstat's in GC order right after a cache drop "
                     f"(median {inorder.median_us:.1f} µs; that shard's mean "
                     f"{inorder.mean_us:.1f} µs is the range's top); a random cold lstat, "
                     f"always a miss, costs {lst.median_us:.1f} µs")
    elif lst.median_us is None:
        lstat_s = WARM_EXT4_WALK_S - GO_ENTRY_OVERHEAD_S - DEFAULT_READDIR_PER_ENTRY_S
        lstat_low = lstat_high = lstat_s
        notes.append("no lstat measured: using the warm ext4 constant")
    else:
        lstat_s = lst.median_us / 1e6
        # The walk is a sum: the mean carries the slow tail (cache misses, queueing).
        lstat_low = lstat_s * (1 - WALK_MARGIN)
        lstat_high = max(lstat_s, (lst.mean_us or lst.median_us) / 1e6) * (1 + WALK_MARGIN)
    per = probe.readdir_per_entry_us
    readdir = DEFAULT_READDIR_PER_ENTRY_S if per is None else per / 1e6
    un = probe.unlink
    if probe.unlink_status == "measured" and un.mean_us is not None:
        # A GC's removals add up, so a burst's mean (tail included) is the cost per removal;
        # diskquiet.settle keeps the bursts a busy disk slowed down out of the point figure
        # and puts them at the top of the range, saying why.
        settled = getattr(probe, "unlink_settled", None)
        robust = probe.unlink_robust_us or un.mean_us
        unlink_s = robust / 1e6
        floor = settled.low_us if settled is not None else robust
        unlink_low = min(floor, un.median_us or robust) / 1e6 * (1 - UNLINK_MARGIN_LOW)
        top = max(un.mean_us, robust)
        if settled is not None and settled.state not in ("quiet", "waited"):
            top = max(top, settled.high_us)  # if the disk stays as busy as it was
            notes.append(f"unlink probe ({settled.state}): {settled.reason}")
        unlink_high = top / 1e6 * (1 + UNLINK_MARGIN_HIGH)
        source = "probe"
        share = pressure_share(getattr(probe, "cpu_pressure", None))
        if share is not None:
            from sessdiag.analysis.diskquiet import WAIT_PER_PRESSURE_US

            notes.append(f"each removal includes {WAIT_PER_PRESSURE_US * share:.0f} µs of "
                         f"expected wait for a CPU (CPU pressure {share:.0%} over the last 10 s)")
    elif latency_bound:
        unlink_s = lstat_s
        unlink_low, unlink_high = lstat_low, lstat_high * 2
        source = "assumed: one round trip, like an lstat"
        notes.append("removal cost not measured: assumed one round trip (the lstat latency)")
    else:
        unlink_s = FALLBACK_UNLINK_LOCAL_S
        unlink_low, unlink_high = 95e-6, 270e-6
        source = "calibration: real beego on warm ext4, 95-270 µs per removal"
        notes.append("removal cost not measured: using real beego's measured 95-270 µs per "
                     "removal on warm local ext4")
    stretch = 1.0
    slow = getattr(probe, "cpu_slowdown", None)
    if slow is not None and slow >= CPU_SLOWDOWN_BUSY:
        # Measured on a loaded 2-vCPU VM (load 13-18): beego's walk of a cached 50k/200k tree
        # took 2-3x what the probe's lstats priced it at (0 % expired: 0.68 s vs 0.21 s).
        # How much of the probe's stretch the GC will meet depends on the load when it runs,
        # so the point stays the work and the stretch goes to the range's top.
        stretch = slow
        notes.append(f"the CPUs were saturated during the probe (its thread was runnable "
                     f"{slow:.1f}x as long as it ran): the walk's range reaches that far")
    walk_wait = 0.0
    share = pressure_share(getattr(probe, "cpu_pressure", None))
    if share and not latency_bound:
        walk_wait = WALK_WAIT_PER_PRESSURE * share
        notes.append(f"the walk's CPU work is stretched by {walk_wait:.0%} for the wait for a "
                     f"CPU (CPU pressure {share:.0%} over the last 10 s)")
    return OpCosts(lstat_s, readdir, unlink_s, lstat_low, lstat_high, unlink_low, unlink_high,
                   unlink_source=source, walk_stretch=stretch,
                   walk_wait_share=walk_wait), notes


def static_costs() -> OpCosts:
    lstat = WARM_EXT4_WALK_S - GO_ENTRY_OVERHEAD_S - DEFAULT_READDIR_PER_ENTRY_S
    return OpCosts(lstat, DEFAULT_READDIR_PER_ENTRY_S, WARM_EXT4_REMOVE_S,
                   lstat * (1 - WALK_MARGIN), lstat * (1 + WALK_MARGIN), 95e-6, 270e-6,
                   unlink_source="calibration: real beego on warm ext4")


def stall(counts: GcCounts, costs: OpCosts, *, readdir_calls_latency_s: float = 0.0) -> dict:
    """Seconds the lock is held: breakdown, total and range.

    readdir_calls_latency_s: a per-call round trip for directory reads (assumed-latency
    projections): each directory costs ceil(names / 580) extra round trips.
    """
    stat_s = counts.lstats * costs.lstat_s
    readdir_s = counts.listed * costs.readdir_per_entry_s
    if readdir_calls_latency_s:
        calls = counts.dirs + -(-counts.listed // NAMES_PER_READDIR_CALL)
        readdir_s += calls * readdir_calls_latency_s
    overhead_s = counts.lstats * costs.overhead_s
    unlink_s = counts.deletions * costs.unlink_s
    wait_s = (stat_s + readdir_s + overhead_s) * costs.walk_wait_share
    total = stat_s + readdir_s + overhead_s + unlink_s + wait_s
    low = (counts.lstats * costs.lstat_low_s + readdir_s * (1 - WALK_MARGIN)
           + overhead_s * (1 - WALK_MARGIN) + counts.deletions * costs.unlink_low_s)
    high = ((counts.lstats * costs.lstat_high_s + readdir_s * (1 + WALK_MARGIN)
             + overhead_s * (1 + WALK_MARGIN)) * max(costs.walk_stretch,
                                                     1 + costs.walk_wait_share)
            + counts.deletions * costs.unlink_high_s)
    return {
        "seconds": round(total, 3),
        "range_s": [round(min(low, total), 3), round(max(high, total), 3)],
        "breakdown": {"stat_s": round(stat_s, 3), "readdir_s": round(readdir_s, 3),
                      "unlink_s": round(unlink_s, 3), "go_overhead_s": round(overhead_s, 3),
                      "walk_cpu_wait_s": round(wait_s, 3)},
    }


def queued_requests(stall_s: float, request_rate: float | None) -> dict | None:
    """Requests that arrive during the stall all wait on the lock (docs/gc-model.md)."""
    if request_rate is None:
        return None
    return {"request_rate_per_s": request_rate,
            "queued": round(stall_s * request_rate, 1),
            "longest_wait_s": round(stall_s, 3),
            "mean_wait_s": round(stall_s / 2, 3)}


def recurrence(stall_s: float, gc_interval_s: int) -> dict:
    """beego's Manager.GC: SessionGC(), then time.AfterFunc(Gclifetime, GC) — so the next
    pass starts gc_interval after this one ends; the first runs at start-up."""
    period = gc_interval_s + stall_s
    return {"gc_interval_s": gc_interval_s,
            "period_s": round(period, 3),
            "blocked_share": round(stall_s / period, 6) if period > 0 else 0.0,
            "first_at": "start-up (go GlobalSessions.GC() in beego's registerSession)"}


STATIC_BASIS = ("static fallback: costs measured with real beego on warm local ext4, not on "
                "this filesystem ('sessdiag gc-estimate' measures it)")


@dataclass(frozen=True)
class GcModel:
    """The costs a figure is computed with, and what they rest on."""

    costs: OpCosts
    name: str
    measured: bool
    basis: str
    notes: tuple[str, ...] = ()
    # The probe's verdict on the disk while it measured (gcprobe.ProbeResult.quiet_dict()).
    quiet: dict | None = None
    # How much saturated CPUs stretched the probe's thread (gcprobe.ProbeResult.cpu_slowdown).
    cpu_slowdown: float | None = None


def static_model() -> GcModel:
    return GcModel(static_costs(), STATIC_MODEL, False, STATIC_BASIS)


def probed_model(probe, latency_bound: bool) -> GcModel:  # type: ignore[no-untyped-def]
    costs, notes = costs_from_probe(probe, latency_bound)
    name = PROBED_COLD_MODEL if probe.cache == "cold" else PROBED_MODEL
    basis = f"measured on this filesystem by a {probe.seconds:.1f} s probe ({probe.cache} cache)"
    quiet = probe.quiet_dict() if hasattr(probe, "quiet_dict") else None
    return GcModel(costs, name, True, basis, tuple(notes), quiet,
                   getattr(probe, "cpu_slowdown", None))


def gc_figure(counts: GcCounts, model: GcModel, *, root_link_old: bool | None = None) -> dict:
    """THE stall figure of a tree: every command reports this dict's numbers.

    root_link_old: None when savePath is a directory; else savePath is a symlink (no trailing
    slash), which beego's filepath.Walk lstat's as a file and walks no further, and whether
    that link is older than the max lifetime (the GC then deletes the link itself).
    """
    costs = model.costs
    est = stall(counts, costs)
    fig: dict = {
        "seconds": est["seconds"],
        "range_s": est["range_s"],
        "files": counts.files,
        "dirs": counts.dirs,
        "expired": counts.deletions,
        "breakdown": est["breakdown"],
        "model": model.name,
        "measured": model.measured,
        "basis": model.basis,
        "stat_latency_us": round(costs.lstat_s * 1e6, 3),
        "unlink_latency_us": round(costs.unlink_s * 1e6, 3),
    }
    if model.quiet is not None:
        fig["quiet"] = model.quiet
    if model.cpu_slowdown is not None:
        fig["cpu_slowdown"] = model.cpu_slowdown
    if root_link_old is not None:
        seconds = round(costs.lstat_s + (costs.unlink_s if root_link_old else 0.0), 3)
        fig.update(seconds=seconds, range_s=[0.0, seconds], expired=int(root_link_old),
                   walks_nothing=True,
                   breakdown={k: 0.0 for k in est["breakdown"]},
                   if_walked={"seconds": est["seconds"], "range_s": est["range_s"],
                              "breakdown": est["breakdown"]},
                   note="the root is a symlink: beego's GC walks nothing, sessions never "
                        "expire; 'if_walked' is the stall once savePath names the directory")
    return fig


def not_quiet_finding(fig: dict) -> str | None:
    """What every command says when the probe ran on a busy disk or busy CPUs: the removals
    could not be timed on a quiet machine (quiet.state not quiet/waited, and the GC deletes
    something), or the CPUs were saturated (the walk stretches too, deletions or not) —
    never a bare point figure several times off without the range and why."""
    from sessdiag.core.units import format_duration

    if fig.get("walks_nothing"):
        return None
    q = fig.get("quiet") or {}
    slow = fig.get("cpu_slowdown") or 1.0
    why: list[str] = []
    if q.get("state") not in (None, "quiet", "waited") and fig["expired"]:
        why.append(f"the probe could not time removals on a quiet machine ({q['state']}): "
                   f"{q['reason']}")
    if slow >= CPU_SLOWDOWN_BUSY:
        why.append(f"the CPUs were saturated while the probe ran (its thread was runnable "
                   f"{slow:.1f}x as long as it ran), and beego's walk waits for a CPU too")
    if not why:
        return None
    lo, hi = fig["range_s"]
    return ("; ".join(why) + f"; the GC may take anywhere in {format_duration(lo)}–"
            f"{format_duration(hi)}: re-run when the disk and CPUs are idle for a tighter figure")
