"""Scan a file session store: detect the layout, walk it in parallel, decode a sample."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from sessdiag import frameworks
from sessdiag.census import Census
from sessdiag.frameworks import emptiness_check
from sessdiag.stores.files import pool
from sessdiag.stores.files.fsinfo import FsInfo, fs_info
from sessdiag.stores.files.fsops import mounts_below
from sessdiag.stores.files.inflight import Engine, EngineSettings, WalkStats
from sessdiag.stores.files.layout import Layout, layout_for, resolve_root
from sessdiag.stores.files.partition import Partition
from sessdiag.stores.files.walker import (
    Progress,
    ScanParams,
    decode_sample,
    plan_units,
    run_units,
)


@dataclass
class FileScan:
    location: str
    layout: Layout
    params: ScanParams
    census: Census
    fs: FsInfo
    jobs: int
    worker_model: str
    duration_s: float
    sample_method: str  # "sample" or "deep"
    walk: dict = field(default_factory=dict)  # how the walk ran (inflight.WalkStats.report)
    warnings: list[str] = field(default_factory=list)
    # The root was given as a symlink without a trailing slash: beego's Walk stops at it.
    root_is_link: bool = False


def choose_workers(fs: FsInfo, jobs: int | None, model: str | None) -> tuple[int, str]:
    """Workers of a scan: a read-only pass (pool.choose_workers)."""
    return pool.choose_workers(fs.latency_bound, jobs, model)


def scan_file_store(
    path: str,
    *,
    profile: str | None = None,
    max_lifetime: int = 3600,
    age_edges: tuple[int, ...],
    jobs: int | None = None,
    worker_model: str | None = None,
    deep: bool = False,
    sample_k: int = 1000,
    seed: int | None = None,
    php_depth: int | None = None,
    sid_pattern: str | None = None,
    now: float | None = None,
    progress: Progress | None = None,
    partition: Partition | None = None,
    engine: EngineSettings | None = None,
) -> FileScan:
    t0 = time.perf_counter()
    root, warnings = resolve_root(path)
    fs = fs_info(root)
    jobs, model = choose_workers(fs, jobs, worker_model)
    layout = layout_for(root, profile, php_depth=php_depth, sid_pattern=sid_pattern,
                        threads=jobs if model == "threads" else 1)
    # A profile whose empty sessions no size tells (Laravel) is decoded whole.
    files = frameworks.get(layout.profile).files
    deep = deep or bool(files and files.decode_for_empty)
    params = ScanParams(
        root=root, layout=layout, now=time.time() if now is None else now,
        max_lifetime=max_lifetime, age_edges=age_edges, sample_k=sample_k, deep=deep,
        seed=seed, root_dev=os.stat(root).st_dev, mounts=mounts_below(root),
        partition=partition,
        engine=engine or EngineSettings(),
    )
    check = emptiness_check(layout.profile)
    census, units = plan_units(params, threads=jobs if model == "threads" else 1)
    # One engine for the threads of this process; forked workers make their own, and the
    # parent's serves the sample reads after them (it starts no thread before the fork).
    eng = Engine(params.engine)
    walk = WalkStats()
    try:
        census.merge(run_units(params, units, jobs=jobs, mode=model, check=check,
                               progress=progress, walk=walk,
                               engine=eng if model == "threads" else None), sample_k)
        if not deep:
            decode_sample(params.root, [rel for rel, _size in census.sample_paths()], census,
                          check, engine=eng)
    finally:
        walk.merge(eng.close())
    return FileScan(
        location=path, layout=layout, params=params, census=census, fs=fs, jobs=jobs,
        worker_model=model, duration_s=time.perf_counter() - t0,
        sample_method="deep" if deep else "sample", warnings=warnings,
        walk=walk.report(_files(census)),
        root_is_link=not path.endswith("/") and os.path.islink(path),
    )


def _files(c: Census) -> int:
    """Entries that are files (what ops_per_file divides by): sessions and non-directories."""
    return c.sessions + c.misplaced + c.symlinks + c.foreign - c.foreign_dirs
