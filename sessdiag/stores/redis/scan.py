"""`sessdiag scan redis://…`: connect, find the topology, scan every node, merge, report."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from sessdiag.core.errors import UsageError
from sessdiag.core.progress import Progress
from sessdiag.stores.base import ScanSettings
from sessdiag.stores.redis.census import NodeResult
from sessdiag.stores.redis.profiles import PROFILES
from sessdiag.stores.redis.ratelimit import RateLimiter
from sessdiag.stores.redis.resp import RedisConn
from sessdiag.stores.redis.scanner import NodeScanner, ScanParams
from sessdiag.stores.redis.target import RedisTarget
from sessdiag.stores.redis.topology import Topology, discover


def redis_scan_report(target: RedisTarget, opts: ScanSettings,
                      progress_cb: Progress | None = None) -> dict:
    """The contract's scan report for a Redis target."""
    from sessdiag.stores.redis.report import build_report

    if opts.profile is not None and opts.profile not in PROFILES:
        raise UsageError(f"--profile {opts.profile} is not a Redis profile "
                         f"(one of {', '.join(PROFILES)})")
    if opts.rate is not None and opts.rate <= 0:
        raise UsageError("--rate must be a positive number of commands per second")
    now = opts.now if opts.now is not None else time.time()
    params = ScanParams(now=now, age_edges=tuple(opts.age_edges), pattern=opts.pattern,
                        profile=opts.profile, sample=opts.sample, deep=opts.deep)
    t0 = time.monotonic()
    conn = RedisConn(target)
    try:
        topo, info, notes = discover(conn)
        progress = _Progress(progress_cb)
        progress.total(_keys_estimate(info, target.db, topo))
        if not topo.cluster:
            limiter = RateLimiter(opts.rate)
            results = [NodeScanner(conn, params, limiter, progress=progress.add).run()]
        else:
            if target.db:
                raise UsageError("a Redis Cluster has only database 0")
            conn.close()
            results = scan_cluster(target, topo, params, opts.rate, progress,
                                   jobs=opts.jobs)
    finally:
        conn.close()
    duration = time.monotonic() - t0
    return build_report(target, topo, info, results, params, opts, notes + list(opts.notes),
                        duration)


class _Progress:
    """Keys seen, and the expected total, through the caller's plain `progress(n, total)`.

    Serialised: a cluster's node scanners report from several threads. What the caller does
    with it (a TTY spinner, nothing in cron) is none of the store's business.
    """

    def __init__(self, cb: Progress | None) -> None:
        self.cb = cb
        self.lock = threading.Lock()

    def total(self, n: int) -> None:
        if self.cb is not None and n:
            with self.lock:
                self.cb(0, n)

    def add(self, n: int) -> None:
        if self.cb is not None:
            with self.lock:
                self.cb(n)


def _keys_estimate(info: dict, db: int, topo: Topology) -> int:
    """DBSIZE-like total from INFO keyspace (times the primaries, in a cluster)."""
    field = info.get(f"db{db}", "")
    for part in field.split(","):
        k, _, v = part.partition("=")
        if k == "keys" and v.isdigit():
            return int(v) * (len(topo.nodes) if topo.cluster else 1)
    return 0


def _node_target(target: RedisTarget, topo: Topology, i: int) -> RedisTarget:
    n = topo.nodes[i]
    return target.node(n.host, n.port)


_COUNTER: Any = None


def _init_worker(counter: Any) -> None:
    global _COUNTER
    _COUNTER = counter


def _bump(n: int) -> None:
    if _COUNTER is not None:
        with _COUNTER.get_lock():
            _COUNTER.value += n


def _scan_node(target: RedisTarget, topo: Topology, i: int, params: ScanParams,
               rate: float | None, progress: Any = None) -> NodeResult:
    conn = RedisConn(_node_target(target, topo, i))
    try:
        scanner = NodeScanner(conn, params, RateLimiter(rate), topo=topo, node_index=i,
                              connect=lambda j: RedisConn(_node_target(target, topo, j)),
                              progress=progress or _bump)
        return scanner.run()
    finally:
        conn.close()


def scan_cluster(target: RedisTarget, topo: Topology, params: ScanParams, rate: float | None,
                 progress: _Progress, jobs: int | None = None) -> list[NodeResult]:
    """Every primary at once: one process each (Python work is CPU-bound), merged after."""
    n = len(topo.nodes)
    per_node = rate / n if rate else None
    workers = max(1, min(n, jobs or n))
    if os.environ.get("SESSDIAG_REDIS_THREADS") or "fork" not in mp.get_all_start_methods():
        with ThreadPoolExecutor(workers) as ex:
            futs = [ex.submit(_scan_node, target, topo, i, params, per_node, progress.add)
                    for i in range(n)]
            return [f.result() for f in futs]
    ctx = mp.get_context("fork")
    counter = ctx.Value("q", 0)
    seen = 0
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(counter,)) as ex:
        futs = [ex.submit(_scan_node, target, topo, i, params, per_node) for i in range(n)]
        pending = set(futs)
        while pending:
            done = {f for f in pending if f.done()}
            pending -= done
            cur = counter.value
            if cur > seen:
                progress.add(cur - seen)
                seen = cur
            if pending:
                _wait(pending)
        return [f.result() for f in futs]


def _wait(pending: set) -> None:
    from concurrent.futures import FIRST_COMPLETED, wait

    wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
