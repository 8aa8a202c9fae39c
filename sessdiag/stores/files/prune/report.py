"""The prune report (sessdiag.prune/1): counts, examples, how it was done, and why not."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sessdiag.core.prune_contract import prune_report
from sessdiag.core.timefmt import iso
from sessdiag.stores.files.layout import Layout
from sessdiag.stores.files.partition import Partition
from sessdiag.stores.files.prune.env import ClockProbe
from sessdiag.stores.files.prune.options import AGE_EDGES, ANOMALY_KINDS, PruneOptions
from sessdiag.stores.files.prune.tally import Tally


@dataclass
class RunInfo:
    """How the run went, beside the tally: everything the report says about the run."""

    opts: PruneOptions
    root: str
    layout: Layout
    fs: Any  # fsinfo.FsInfo
    jobs: int
    model: str
    clock: ClockProbe
    action: str  # "stage" | "direct" | "quarantine"
    cutoff_ns: int
    started: float
    planned: dict[str, int]
    refusals: list[str]
    warnings: list[str]
    applied: bool = False
    stopped_by: str | None = None
    lock_path: str | None = None
    q_run: str | None = None
    reconciled: dict[str, int] | None = None
    duration: float = 0.0
    walk: Any = None  # inflight.WalkStats of both passes


def build_report(run: RunInfo, t: Tally) -> dict[str, Any]:
    opts, root, layout, fs, clock, action = (run.opts, run.root, run.layout, run.fs, run.clock,
                                             run.action)
    duration = run.duration
    hist = []
    for i, c in enumerate(t.hist):
        upper = AGE_EDGES[i] if i < len(AGE_EDGES) else None
        hist.append({"upper_s": upper, "count": c})
    sample = [p for _k, p in sorted(t.sample, reverse=True)]
    anomalies = {k: t.anomalies.get(k, 0) for k in ANOMALY_KINDS}
    target = {"kind": "files", "location": root, "profile": layout.profile,
              "layout": layout.describe()}
    if opts.partition:
        target["partition"] = Partition(*opts.partition).to_dict()
    r = prune_report(
        target=target,
        dry_run=not opts.apply, applied=run.applied, sessions=t.sessions,
        candidates=t.candidates, deleted=t.deleted, skipped_fresh=t.skipped_fresh,
        vanished=t.vanished, not_attempted=t.not_attempted, errors=t.errors,
        error_examples=t.examples.get("errors", []),
        bytes_freed=0 if action == "quarantine" else t.deleted_blocks * 512, sample=sample,
        max_fraction=opts.max_fraction, forced=opts.force, refusals=run.refusals,
        rate=opts.rate, max_delete=opts.max_delete, started=run.started, duration=duration,
        stopped_by=run.stopped_by, warnings=run.warnings)
    r.update({
        "action": {"stage": "unlink", "direct": "unlink", "quarantine": "quarantine"}[action],
        "protocol": {"stage": "recheck+rename+verify+unlink", "direct": "recheck+unlink",
                     "quarantine": "recheck+rename+verify"}[action],
        "max_age_s": opts.max_age,
        "grace_s": opts.grace,
        "cutoff": iso(run.cutoff_ns / 1e9),
        "session_bytes": t.session_bytes,
        "expired": t.expired,
        "candidate_bytes": t.candidate_bytes,
        "candidate_allocated_bytes": t.candidate_blocks * 512,
        "restored": t.restored,
        "skipped_other": t.skipped_other,
        "skip_reasons": dict(sorted(t.skipped.items())),
        "payload_bytes_removed": t.deleted_bytes,
        "bytes_quarantined": t.deleted_blocks * 512 if action == "quarantine" else 0,
        "age_spread": {
            "oldest": iso(t.oldest_ns / 1e9) if t.oldest_ns is not None else None,
            "newest": iso(t.newest_ns / 1e9) if t.newest_ns is not None else None,
            "histogram": hist,
        },
        "anomalies": anomalies,
        "anomaly_examples": {k: v for k, v in t.examples.items() if k in ANOMALY_KINDS},
        "entries": t.entries,
        "dirs": t.dirs,
        "plan": run.planned,
        "clock": {"source": clock.source, "fs_minus_local_s": round(clock.offset_s, 3),
                  "max_skew_s": opts.max_skew},
        "lock": run.lock_path,
        "journal": os.path.abspath(opts.journal) if opts.journal else None,
        "journal_reconciled": run.reconciled or {},
        "quarantine": {"dir": os.path.abspath(opts.quarantine), "run_dir": run.q_run}
        if opts.quarantine else None,
        "filesystem": {"fstype": fs.fstype, "mountpoint": fs.mountpoint,
                       "latency_bound": fs.latency_bound},
        "jobs": run.jobs,
        "workers": run.model,
        "walk": run.walk.report(t.entries) if run.walk is not None else None,
        "leftovers_finished": t.leftovers_finished,
    })
    return r
