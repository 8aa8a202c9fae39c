"""A Redis prune from start to end: connect, refuse what must be refused, lock, plan every
primary, check the totals, apply (docs/prune.md, "Redis")."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from sessdiag.core.errors import StoreRefused, UsageError
from sessdiag.core.prune_contract import PruneResult
from sessdiag.core.timefmt import iso
from sessdiag.core.units import format_percent
from sessdiag.stores.redis.nodes import NodeConns
from sessdiag.stores.redis.prune.backup import BackupWriter
from sessdiag.stores.redis.prune.executor import Executor, Stop
from sessdiag.stores.redis.prune.lock import RedisLock
from sessdiag.stores.redis.prune.options import RedisPruneOptions
from sessdiag.stores.redis.prune.plan import Decision, RedisTally
from sessdiag.stores.redis.prune.planner import NodePlanner, PlanContext
from sessdiag.stores.redis.prune.report import RedisRun, build_report
from sessdiag.stores.redis.ratelimit import RateLimiter
from sessdiag.stores.redis.target import parse_target
from sessdiag.stores.redis.topology import parse_info

ProgressFn = Callable[[str, int], None]
# Sessions go first, then what points at nothing; TTL fixes last.
_ORDER = {"session": 0, "namespace": 0, "shadow": 1, "expirations": 2, "companion": 2,
          "index_member": 3}


def _safety(t: RedisTally, opts: RedisPruneOptions) -> list[str]:
    if t.candidates == 0 or opts.force:
        return []
    frac = t.candidates / t.sessions if t.sessions else 1.0
    if frac > opts.max_fraction:
        return [f"{format_percent(frac)} of {t.sessions:,} sessions would be deleted (more "
                f"than --max-fraction {opts.max_fraction:g}); re-run with --force if intended"]
    return []


def _role(conns: NodeConns) -> str:
    try:
        info = parse_info(conns.main.call("INFO", "replication"))  # type: ignore[arg-type]
    except StoreRefused:
        return "unknown"
    return {"master": "primary", "slave": "replica"}.get(info.get("role", ""), "unknown")


def prune_redis(opts: RedisPruneOptions, *, stop: Stop,
                progress: ProgressFn | None = None,
                hooks: dict[str, Callable[[], None]] | None = None) -> PruneResult:
    """`hooks` (tests): "planned" runs between the plan and the apply pass, "backed_up"
    after each batch's backup records are on disk, before its changes."""
    opts.validate()
    hooks = hooks or {}
    t0 = time.monotonic()
    started = time.time()
    target = parse_target(opts.target, opts.password_env)
    conns = NodeConns(target)
    lock: RedisLock | None = None
    writer: BackupWriter | None = None
    try:
        topo = conns.topo
        if topo.cluster and target.db:
            raise UsageError("a Redis Cluster has only database 0")
        role = _role(conns)
        if opts.apply and role == "replica":
            raise StoreRefused(f"{target.location} is a read-only replica: a dry run works "
                               "here, --apply needs the primary")
        now = opts.now if opts.now is not None else time.time()
        run = RedisRun(opts=opts, location=target.location, role=role, cluster=topo.cluster,
                       nodes=len(topo.nodes) if topo.cluster else 1, started=started,
                       now=now, refusals=[])
        if opts.apply:
            lock = RedisLock(conns, opts.lock_ttl)
            lock.acquire()
        deadline = t0 + opts.max_runtime if opts.max_runtime else None
        ctx = PlanContext(int(now * 1000), opts.namespaces, opts.drop_namespaces,
                          opts.max_lifetime, opts.fix_ttl, opts.sample_k, opts.profile)
        tally = RedisTally()
        decisions: list[Decision] = []

        def tick(n: int) -> bool:
            if progress is not None:
                progress("plan", n)
            if lock is not None:
                lock.keepalive()
            if deadline is not None and time.monotonic() > deadline:
                stop.request("max-runtime")
            return not stop.requested

        complete = True
        for i in range(len(topo.nodes) if topo.cluster else 1):
            if not NodePlanner(conns, i, ctx, tally, decisions, tick).run():
                complete = False
                break
        run.planned = {"sessions": tally.sessions, "candidates": tally.candidates,
                       "companions": tally.companions, "index_members": tally.index_members,
                       "fix_ttl": tally.fix_ttl}
        if not complete:
            run.warnings.append("stopped before the whole keyspace was planned: nothing "
                                "was changed")
        run.refusals = _safety(tally, opts)
        if opts.backup and not opts.apply:
            run.warnings.append("dry run: no backup written")
        if "planned" in hooks:
            hooks["planned"]()
        if opts.apply and complete and not run.refusals and decisions:
            decisions.sort(key=lambda d: (_ORDER.get(d.what, 9), d.op == "fixttl"))
            if opts.backup:
                writer = BackupWriter(opts.backup, {
                    "run": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}",
                    "target": target.location, "pid": os.getpid(), "started_at": iso(started),
                    "cluster": topo.cluster})
            if progress is not None:
                progress("apply:total", len(decisions))
            assert lock is not None
            Executor(conns, tally, RateLimiter(opts.rate), stop, max_delete=opts.max_delete,
                     deadline=deadline, writer=writer, keepalive=lock.keepalive,
                     progress=(lambda n: progress("apply", n)) if progress else (lambda n: None),
                     backed_up=hooks.get("backed_up")).run(decisions)
            run.applied = True
        run.stopped_by = stop.reason
        run.duration = time.monotonic() - t0
        return PruneResult(build_report(run, tally), run.refusals, stop.reason, tally.errors,
                           run.applied, not opts.apply)
    finally:
        try:
            if writer is not None:
                writer.close()
        finally:
            if lock is not None:
                lock.release()
            conns.close()
