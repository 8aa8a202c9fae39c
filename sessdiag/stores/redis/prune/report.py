"""The Redis prune report: the common `sessdiag.prune/1` fields plus Redis's own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sessdiag.core.prune_contract import prune_report
from sessdiag.frameworks import DEFAULT_LIFETIME, leaks
from sessdiag.stores.redis.prune.options import LOCK_KEY, RedisPruneOptions
from sessdiag.stores.redis.prune.plan import RedisTally


@dataclass
class RedisRun:
    opts: RedisPruneOptions
    location: str
    role: str
    cluster: bool
    nodes: int
    started: float
    now: float
    refusals: list[str]
    warnings: list[str] = field(default_factory=list)
    applied: bool = False
    stopped_by: str | None = None
    duration: float = 0.0
    planned: dict[str, int] = field(default_factory=dict)


def build_report(run: RedisRun, t: RedisTally) -> dict[str, Any]:
    opts = run.opts
    profiles = sorted({p for p, _ns in t.groups})
    r = prune_report(
        target={"kind": "redis", "location": run.location,
                "profile": profiles[0] if len(profiles) == 1 else
                ("mixed" if profiles else None),
                "topology": "cluster" if run.cluster else run.role, "nodes": run.nodes},
        dry_run=not opts.apply, applied=run.applied, sessions=t.sessions,
        candidates=t.candidates, deleted=t.deleted, skipped_fresh=t.skipped_fresh,
        vanished=t.vanished, not_attempted=t.not_attempted, errors=t.errors,
        error_examples=t.examples.get("errors", []), bytes_freed=t.bytes_freed,
        sample=t.sample, max_fraction=opts.max_fraction, forced=opts.force,
        refusals=run.refusals, rate=opts.rate, max_delete=opts.max_delete,
        started=run.started, duration=run.duration, stopped_by=run.stopped_by,
        warnings=run.warnings + t.notes)
    r.update({
        "action": "compare-and-delete",
        "protocol": "plan, then per change a server-side script that re-checks the facts "
                    "the decision rests on" + (" (write-ahead backup first)"
                                               if opts.backup else ""),
        "judged_as_of": _iso(run.now),
        "bytes_freed_method": ("MEMORY USAGE of the first 200 keys of each kind deleted, "
                               "their average for the rest") if t.bytes_freed_estimated
        else "MEMORY USAGE of every key deleted",
        "keys_seen": t.keys_seen,
        "companion_candidates": t.companions,
        "index_member_candidates": t.index_members,
        "fix_ttl_candidates": t.fix_ttl,
        "companions_deleted": t.companions_deleted,
        "index_members_removed": t.index_members_removed,
        "index_sets_emptied": t.index_sets_emptied,
        "ttl_set": t.ttl_set,
        "fresh_reasons": dict(sorted(t.fresh_reasons.items())),
        "skipped_fresh_examples": t.examples.get("skipped_fresh", []),
        "reasons": dict(sorted(t.reasons.items())),
        "not_judged": dict(sorted(t.not_judged.items())),
        "groups": [{"profile": p, "namespace": ns, "rule": leaks.rule_kind(p),
                    "lifetime_s": opts.max_lifetime or DEFAULT_LIFETIME.get(p), **c}
                   for (p, ns), c in sorted(t.groups.items())],
        "plan": run.planned,
        "namespaces": list(opts.namespaces),
        "drop_namespaces": list(opts.drop_namespaces),
        "fix_ttl": opts.fix_ttl,
        "lock": LOCK_KEY.decode() if opts.apply else None,
        "backup": _backup(opts, t),
    })
    return r


def _backup(opts: RedisPruneOptions, t: RedisTally) -> dict | None:
    if not opts.backup:
        return None
    import os

    return {"path": os.path.abspath(opts.backup), "records": t.backup_records,
            "written": opts.apply}


def _iso(ts: float) -> str | None:
    from sessdiag.core.timefmt import iso

    return iso(ts)
