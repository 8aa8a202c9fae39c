"""A prune pass (plan or apply) on the file store's one pool (pool.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sessdiag.stores.files import pool
from sessdiag.stores.files.inflight import Engine, EngineSettings, WalkStats
from sessdiag.stores.files.prune.control import Shared, StopControl
from sessdiag.stores.files.prune.planner import Plan, PlanWorker
from sessdiag.stores.files.prune.tally import Tally
from sessdiag.stores.files.prune.worker import ApplyWorker

ProgressFn = Callable[[str, int], None]


def run_pass(kind: str, plan: Plan, shared: Shared, stop: StopControl, root_fd: int,
             tasks: list[Any], jobs: int, model: str, progress: ProgressFn | None,
             engine: Engine | None = None, settings: EngineSettings | None = None,
             walk: WalkStats | None = None) -> Tally:
    """Run the plan pass over units, or the apply pass over spill files; their merged tally.

    Threads share `engine`; forked workers each make their own from `settings`. `walk`
    receives how their operations ran."""
    shared_engine = engine if model == "threads" else None

    def make_worker(i: int) -> pool.Worker:
        if kind == "plan":
            return PlanWorker(plan, stop, root_fd, i, shared_engine, settings)
        return ApplyWorker(plan, shared, stop, root_fd, shared_engine, settings)

    def merge(total: Tally, part: tuple[Tally, WalkStats | None]) -> None:
        total.merge(part[0], plan.sample_k)
        if part[1] is not None and walk is not None:
            walk.merge(part[1])

    out = pool.run(tasks, jobs=jobs, model=model, make_worker=make_worker, new_total=Tally,
                   merge=merge, progress=(lambda n: progress(kind, n)) if progress else None,
                   stop=stop, name="sessdiag-prune")
    for lost in out.lost:
        out.total.errors += 1
        out.total.example("errors", f"{lost}; its files in flight are in the journal; rerun")
    return out.total
