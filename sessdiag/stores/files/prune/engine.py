"""A prune from start to end: checks, the plan pass, the safety refusals, the apply pass.

The engine knows nothing about the CLI: it takes PruneOptions and returns a PruneResult.
docs/prune.md describes the protocol; worker.py holds the deletion itself.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
import time
from dataclasses import replace

from sessdiag.core.errors import TargetUnreadable, UsageError
from sessdiag.core.timefmt import iso
from sessdiag.core.units import format_percent
from sessdiag.stores.files import fsops, pool
from sessdiag.stores.files import lock as store_lock
from sessdiag.stores.files.fsinfo import fs_info
from sessdiag.stores.files.inflight import Engine, WalkStats, engine_settings
from sessdiag.stores.files.layout import layout_for, resolve_root
from sessdiag.stores.files.partition import Partition
from sessdiag.stores.files.pool import Unit
from sessdiag.stores.files.prune.control import Shared, StopControl
from sessdiag.stores.files.prune.env import ClockProbe, probe_clock, processes_using
from sessdiag.stores.files.prune.journal import Journal
from sessdiag.stores.files.prune.options import PruneOptions, PruneResult
from sessdiag.stores.files.prune.planner import Plan, plan_units
from sessdiag.stores.files.prune.reconcile import reconcile_journal
from sessdiag.stores.files.prune.report import RunInfo, build_report
from sessdiag.stores.files.prune.runners import ProgressFn, run_pass
from sessdiag.stores.files.prune.tally import Tally


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
        out.append(f"{format_percent(frac)} of {t.sessions:,} sessions would be deleted (more than "
                   f"--max-fraction {opts.max_fraction:g}); re-run with --force if intended")
    foreign = t.foreign_total
    if foreign > t.sessions:
        out.append(f"the root looks wrong: {foreign:,} entries are not sessions of the "
                   f"{profile} layout vs {t.sessions:,} sessions; check TARGET and --profile, "
                   "or --force")
    return out


APPLY_THREADS = 128


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
        root_fd = os.open(root, fsops.DIR_FLAGS)
    except PermissionError as exc:
        raise TargetUnreadable(f"cannot read {root}: permission denied") from exc
    lock = None
    spill_dir = None
    try:
        root_st = os.fstat(root_fd)
        fs = fs_info(root)
        jobs, model = pool.choose_workers(fs.latency_bound, opts.jobs, opts.workers,
                                          writes=True)
        layout = layout_for(root, opts.profile, php_depth=opts.php_depth,
                            sid_pattern=opts.sid_pattern,
                            threads=jobs if model == "threads" else 1)

        lock_path = None
        if opts.apply:
            lock_path = opts.lock_path or store_lock.default_lock_path(root_st.st_dev,
                                                                       root_st.st_ino)
            lock = store_lock.acquire(lock_path, root=root, partition=opts.partition)
        q_dir = None
        if opts.apply and opts.quarantine:
            q_dir = _check_quarantine(opts.quarantine, root, root_st.st_dev, warnings)
        if opts.journal and os.path.abspath(opts.journal).startswith(root.rstrip("/") + "/"):
            warnings.append("the journal is inside the store: it counts as a foreign entry, "
                            "and beego's GC deletes it once it is older than the lifetime")

        clock = _clock(opts, root_fd, root, lock_path)
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
        mounts = fsops.mounts_below(real_root)
        # Only warnings come of the process check (up to 3 s on a server with thousands of
        # processes): with the pass on threads it runs beside the plan pass (never beside
        # forked workers: a lock its thread held at fork time would stay held in the child),
        # and its warnings keep their place.
        in_use = _InUse(real_root, len(warnings), background=model == "threads") \
            if opts.check_processes else None

        if opts.apply:
            spill_dir = tempfile.mkdtemp(prefix="sessdiag-prune-")
        action = "quarantine" if opts.quarantine else ("direct" if opts.direct_unlink
                                                       else "stage")
        batch = 256
        if opts.rate is not None:
            # Tokens for ~100 ms per batch: unresolved intents after a crash stay few.
            batch = max(1, min(256, int(opts.rate / 10 / max(jobs, 1))))
        plan = Plan(
            root=root, layout=layout, root_dev=root_st.st_dev,
            max_age_ns=opts.max_age * 10**9, grace_ns=opts.grace * 10**9, clock_adj_ns=adj_ns,
            plan_now_ns=time.time_ns() + adj_ns, apply=False, action=action, run_id=run_id,
            spill_dir=spill_dir, journal=None, quarantine_run=None, mounts=mounts, batch=batch,
            sample_k=opts.sample_k, seed=opts.seed if opts.seed is not None else random.randrange(
                1 << 30),
            deadline=(time.monotonic() + opts.max_runtime) if opts.max_runtime else None,
        )
        shared = Shared(opts.rate, opts.max_delete)

        parts = jobs if model == "processes" else min(jobs, 8)
        top, units = plan_units(plan, root_fd, parts if layout.depth == 0 else 1,
                                threads=jobs if model == "threads" else 1,
                                partition=Partition(*opts.partition) if opts.partition
                                else None)
        # --rate stays deletions per second (the token bucket in Shared); the engine caps
        # operations in flight. Threads share this engine; forked workers make their own.
        settings = engine_settings(opts.max_inflight, None)
        eng = Engine(settings)
        walk = WalkStats()
        tally = run_pass("plan", plan, shared, stop, root_fd, units, jobs, model, progress,
                         eng, settings, walk)
        tally.merge(top, plan.sample_k)
        if in_use is not None:
            in_use.insert_into(warnings)
        unread = tally.anomalies.get("unreadable", 0)
        if unread:
            ex = ", ".join(tally.examples.get("unreadable", [])[:3])
            warnings.append(f"{unread} entries could not be read (permission denied: {ex}): "
                            "that part of the store was never examined, and nothing in it "
                            "was pruned")
        run = RunInfo(opts=opts, root=root, layout=layout, fs=fs, jobs=jobs, model=model,
                      clock=clock, action=action, cutoff_ns=plan.plan_cutoff_ns,
                      started=started, planned=_snapshot(tally),
                      refusals=_safety(tally, opts, root, clock, layout.profile),
                      warnings=warnings, lock_path=lock_path, reconciled=reconciled,
                      walk=walk)
        if opts.apply and not run.refusals and not stop.requested and tally.candidates + \
                tally.anomalies.get("stage_leftovers", 0) > 0:
            if q_dir is not None:
                run.q_run = os.path.join(q_dir, run_id)
                os.mkdir(run.q_run, 0o700)
            plan = replace(plan, apply=True, journal=opts.journal, quarantine_run=run.q_run)
            _apply(plan, shared, stop, root_fd, units, apply_jobs(jobs, model, opts), model,
                   progress, tally, opts, spill_dir, run_id, action, eng, walk)
            run.applied = True
        walk.merge(eng.close())
        run.stopped_by = stop.reason
        run.duration = time.perf_counter() - t0
        return PruneResult(build_report(run, tally), run.refusals, stop.reason, tally.errors,
                           run.applied, not opts.apply, unreadable=unread)
    finally:
        if spill_dir:
            shutil.rmtree(spill_dir, ignore_errors=True)
        if lock is not None:
            lock.release()
        os.close(root_fd)


def _clock(opts: PruneOptions, root_fd: int, root: str, lock_path: str | None) -> ClockProbe:
    """The filesystem's clock, probed by writing a file: only when the run may delete.

    A dry run promises to change nothing, and a probe file in the root would change the
    root's mtime; it judges ages by the local clock and says so.
    """
    if not opts.apply:
        return ClockProbe("not-probed", None, 0.0,
                          "dry run: ages judged by the local clock (the filesystem clock is "
                          "probed, by writing a file, only with --apply)")
    lock_dir = os.path.dirname(os.path.abspath(lock_path or opts.lock_path)) \
        if (lock_path or opts.lock_path) else store_lock.runtime_dir()
    return probe_clock(root_fd, root, lock_dir)


class _InUse:
    """processes_using() on a thread of its own (or at once); its warnings go where they
    were due."""

    def __init__(self, root: str, at: int, *, background: bool) -> None:
        self.at = at
        self.found: list[str] = []
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        if background:
            self.thread = threading.Thread(target=self._run, args=(root,), daemon=True,
                                           name="sessdiag-in-use")
            self.thread.start()
        else:
            self.found = processes_using(root)

    def _run(self, root: str) -> None:
        try:
            self.found = processes_using(root)
        except BaseException as exc:  # raised on the caller's thread, in insert_into
            self.error = exc

    def insert_into(self, warnings: list[str]) -> None:
        if self.thread is not None:
            self.thread.join()
        if self.error is not None:
            raise self.error
        warnings[self.at:self.at] = [f"in use: {w}" for w in self.found]


def apply_jobs(jobs: int, model: str, opts: PruneOptions) -> int:
    """Workers of the apply pass. On a latency-bound mount each works on one directory at a
    time (the kernel serialises renames and unlinks within one anyway), so directories in
    parallel are what overlaps the round trips: as many workers as the engine's limit may
    use, and the limit decides how many operations really are in flight."""
    if opts.jobs is not None or model != "threads":
        return jobs
    return max(jobs, min(APPLY_THREADS, opts.max_inflight or APPLY_THREADS))


def _apply(plan: Plan, shared: Shared, stop: StopControl, root_fd: int, units: list[Unit],
           jobs: int, model: str, progress: ProgressFn | None, tally: Tally,
           opts: PruneOptions, spill_dir: str | None, run_id: str, action: str,
           eng: Engine, walk: WalkStats) -> None:
    """The apply pass over the spilled candidates, bracketed by run-start/run-end records."""
    if opts.journal:
        j = Journal(opts.journal)
        j.add({"event": "run-start", "run": run_id, "root": plan.root, "at": iso(time.time()),
               "pid": os.getpid(), "action": action, "max_age_s": opts.max_age,
               "grace_s": opts.grace})
        j.close()
    tasks = apply_tasks(spill_dir, units)
    if progress is not None:  # the apply pass knows its total: a share and an ETA
        progress("apply:total", tally.candidates + tally.anomalies.get("stage_leftovers", 0))
    eng.new_phase()  # renames and unlinks: their own latency baseline
    atally = run_pass("apply", plan, shared, stop, root_fd, tasks, jobs, model, progress,
                      eng, eng.settings, walk)
    for name in ("deleted", "deleted_bytes", "deleted_blocks", "skipped_fresh", "restored",
                 "vanished", "errors", "not_attempted", "leftovers_finished"):
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


def _snapshot(t: Tally) -> dict[str, int]:
    return {"sessions": t.sessions, "expired": t.expired, "candidates": t.candidates,
            "candidate_bytes": t.candidate_bytes}


def apply_tasks(spill_dir: str | None, units: list[Unit]) -> list[tuple[str, str, int]]:
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
        fd = os.open(q, fsops.DIR_FLAGS)
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
