"""One entry point for every scan: pick the store by target, then add what logs tell.

`scan`, `check` and `clients` all build their report here, so a new store kind or a new
report section is wired once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sessdiag.census import DEFAULT_AGE_EDGES
from sessdiag.core.progress import Progress

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def is_redis_target(target: str) -> bool:
    return target.startswith(REDIS_SCHEMES)


@dataclass
class ScanOptions:
    target: str
    max_lifetime: int = 3600
    max_lifetime_given: bool = False  # False: the default, so a store's own lifetime may win
    profile: str | None = None
    deep: bool = False
    sample: int = 1000
    age_edges: tuple[int, ...] = DEFAULT_AGE_EDGES
    jobs: int | None = None
    workers: str | None = None
    php_depth: int | None = None
    sid_pattern: str | None = None
    seed: int | None = None
    now: float | None = None
    notes: list[str] = field(default_factory=list)
    # Redis targets.
    password_env: str | None = None
    rate: float | None = None
    pattern: str | None = None
    # Access logs (client attribution, login races).
    access_logs: list[str] = field(default_factory=list)
    log_format: str = "combined-cookies"
    log_fields: str | None = None
    cookie_name: str | None = None
    cookie_secret: Any = field(default=None, repr=False)  # e.g. Laravel's APP_KEY; never shown
    client_key: str = "ip"
    race_window: int = 2
    login_path: str | None = None  # regex of login request paths (default: analysis.clients)
    max_tracked: int | None = None  # session ids tracked at once (memory bound)
    progress: Progress | None = None


def run_scan(opts: ScanOptions) -> dict:
    """The scan report (docs/report.md) for any target."""
    report = _redis_report(opts) if is_redis_target(opts.target) else _file_report(opts)
    if opts.access_logs:
        from sessdiag.analysis.clients import attach_clients

        attach_clients(report, opts)
    else:
        # Without logs the store's own creation timeline still shows a machine client
        # (cadence alone: the log parsing modules are not imported for a plain scan).
        from sessdiag.analysis.cadence import attach_store_cadence

        attach_store_cadence(report)
    return report


def _file_report(opts: ScanOptions) -> dict:
    from sessdiag.report import file_scan_report
    from sessdiag.stores.files.scan import scan_file_store

    result = scan_file_store(
        opts.target, profile=opts.profile, max_lifetime=opts.max_lifetime,
        age_edges=opts.age_edges, jobs=opts.jobs, worker_model=opts.workers, deep=opts.deep,
        sample_k=opts.sample, seed=opts.seed, php_depth=opts.php_depth,
        sid_pattern=opts.sid_pattern, now=opts.now, progress=opts.progress,
    )
    result.warnings.extend(opts.notes)
    return file_scan_report(result)


def _redis_report(opts: ScanOptions) -> dict:
    from sessdiag.stores.redis.scan import redis_scan_report

    return redis_scan_report(opts)
