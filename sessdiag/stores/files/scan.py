"""Scan a file session store: detect the layout, walk it in parallel, decode a sample."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from sessdiag.census import Census
from sessdiag.core.errors import UsageError
from sessdiag.profiles import emptiness_check
from sessdiag.stores.files.fsinfo import FsInfo, fs_info
from sessdiag.stores.files.layout import Layout, layout_for, resolve_root
from sessdiag.stores.files.walker import (
    Progress,
    ScanParams,
    classify_payload,
    open_rel,
    open_root,
    plan_units,
    read_payload,
    run_units,
)

LATENCY_THREADS = 32


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
    warnings: list[str] = field(default_factory=list)
    # The root was given as a symlink without a trailing slash: beego's Walk stops at it.
    root_is_link: bool = False


def choose_workers(fs: FsInfo, jobs: int | None, model: str | None) -> tuple[int, str]:
    if model not in (None, "threads", "processes"):
        raise UsageError(f"--workers must be 'threads' or 'processes', not {model!r}")
    if model is None:
        model = "threads" if fs.latency_bound else "processes"
    if jobs is None:
        jobs = LATENCY_THREADS if model == "threads" else (os.cpu_count() or 1)
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    return jobs, model


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
) -> FileScan:
    t0 = time.perf_counter()
    root, warnings = resolve_root(path)
    layout = layout_for(root, profile, php_depth=php_depth, sid_pattern=sid_pattern)
    fs = fs_info(root)
    jobs, model = choose_workers(fs, jobs, worker_model)
    params = ScanParams(
        root=root, layout=layout, now=time.time() if now is None else now,
        max_lifetime=max_lifetime, age_edges=age_edges, sample_k=sample_k, deep=deep,
        seed=seed, root_dev=os.stat(root).st_dev,
    )
    check = emptiness_check(layout.profile)
    census, units = plan_units(params)
    census.merge(run_units(params, units, jobs=jobs, mode=model, check=check, progress=progress),
                 sample_k)
    if not deep:
        _decode_sample(params, census, check)
    return FileScan(
        location=path, layout=layout, params=params, census=census, fs=fs, jobs=jobs,
        worker_model=model, duration_s=time.perf_counter() - t0,
        sample_method="deep" if deep else "sample", warnings=warnings,
        root_is_link=not path.endswith("/") and os.path.islink(path),
    )


def _decode_sample(p: ScanParams, c: Census, check) -> None:  # type: ignore[no-untyped-def]
    root_fd = open_root(p.root)
    try:
        for rel, _size in c.sample_paths():
            d, _, name = rel.rpartition("/")
            try:
                dir_fd = open_rel(root_fd, d) if d else os.dup(root_fd)
            except OSError:
                continue
            try:
                try:
                    st = os.lstat(name, dir_fd=dir_fd)
                except OSError:
                    continue
                data = read_payload(c, dir_fd, name, st)
                if data is not None:
                    classify_payload(c, check, data, rel)
            finally:
                os.close(dir_fd)
    finally:
        os.close(root_fd)
