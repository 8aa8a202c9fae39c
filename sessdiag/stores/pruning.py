"""`prune TARGET`: one set of flags, dispatched to the backend the target names.

`target_kind` (stores/__init__) says which backend; `PRUNERS` maps it to the entry that turns
`PruneFlags` into that backend's own options. A flag the backend has no use for is a usage
error (exit 2) before anything is opened, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from sessdiag.core.errors import UsageError
from sessdiag.core.prune_contract import PruneResult
from sessdiag.stores import target_kind

ProgressFn = Callable[[str, int], None]


@dataclass(frozen=True)
class PruneFlags:
    """Every `prune` flag, as given (None: not given)."""

    target: str
    max_age: int | None = None
    apply: bool = False
    rate: float | None = None
    max_delete: int | None = None
    max_runtime: float | None = None
    max_fraction: float = 0.95
    force: bool = False
    sample_k: int = 10
    # files
    grace: int | None = None
    profile: str | None = None
    php_depth: int | None = None
    sid_pattern: str | None = None
    jobs: int | None = None
    workers: str | None = None
    max_inflight: int | None = None
    max_skew: float | None = None
    lock_path: str | None = None
    journal: str | None = None
    quarantine: str | None = None
    direct_unlink: bool = False
    seed: int | None = None
    check_processes: bool = True
    partition: tuple[int, int] | None = None
    # redis
    password_env: str | None = None
    namespaces: tuple[str, ...] = ()
    drop_namespaces: tuple[str, ...] = ()
    fix_ttl: bool = False
    backup: str | None = None
    lock_ttl: float | None = None
    now: float | None = None


# Flags one backend only has: (field, flag) — given to the other, exit 2.
FILES_ONLY = (("grace", "--grace"), ("php_depth", "--php-depth"),
              ("sid_pattern", "--sid-pattern"), ("jobs", "--jobs"), ("workers", "--workers"),
              ("max_inflight", "--max-inflight"),
              ("max_skew", "--max-skew"), ("lock_path", "--lock"), ("journal", "--journal"),
              ("quarantine", "--quarantine"), ("direct_unlink", "--direct-unlink"),
              ("partition", "--partition"))
REDIS_ONLY = (("password_env", "--password-env"), ("namespaces", "--namespace"),
              ("drop_namespaces", "--drop-namespace"), ("fix_ttl", "--fix-ttl"),
              ("backup", "--backup"), ("lock_ttl", "--lock-ttl"))
_DEFAULTS = {f.name: f.default for f in fields(PruneFlags)}


def _reject(flags: PruneFlags, others: tuple[tuple[str, str], ...], kind: str) -> None:
    for name, flag in others:
        if getattr(flags, name) != _DEFAULTS[name]:
            raise UsageError(f"{flag} does not apply to a {kind} target")


def _files(flags: PruneFlags, stop: Any, progress: ProgressFn | None) -> PruneResult:
    from sessdiag.stores.files.prune import PruneOptions, prune_file_store

    _reject(flags, REDIS_ONLY, "file-store")
    if flags.max_age is None:
        raise UsageError("--max-age is required (e.g. --max-age 30d), or --app-conf with "
                         "sessiongcmaxlifetime")
    opts = PruneOptions(
        target=flags.target, max_age=flags.max_age,
        grace=60 if flags.grace is None else flags.grace, apply=flags.apply,
        profile=flags.profile, php_depth=flags.php_depth, sid_pattern=flags.sid_pattern,
        jobs=flags.jobs, workers=flags.workers, rate=flags.rate, max_delete=flags.max_delete,
        max_inflight=flags.max_inflight,
        max_runtime=flags.max_runtime, max_fraction=flags.max_fraction,
        max_skew=300.0 if flags.max_skew is None else flags.max_skew, force=flags.force,
        lock_path=flags.lock_path, journal=flags.journal, quarantine=flags.quarantine,
        direct_unlink=flags.direct_unlink, sample_k=flags.sample_k, seed=flags.seed,
        check_processes=flags.check_processes, partition=flags.partition)
    opts.validate()
    return prune_file_store(opts, stop=stop, progress=progress)


def _redis(flags: PruneFlags, stop: Any, progress: ProgressFn | None) -> PruneResult:
    from sessdiag.stores.redis.prune import RedisPruneOptions, prune_redis

    _reject(flags, FILES_ONLY, "Redis")
    opts = RedisPruneOptions(
        target=flags.target, password_env=flags.password_env, apply=flags.apply,
        profile=flags.profile,
        max_lifetime=flags.max_age, namespaces=flags.namespaces,
        drop_namespaces=flags.drop_namespaces, fix_ttl=flags.fix_ttl, backup=flags.backup,
        rate=flags.rate, max_delete=flags.max_delete, max_runtime=flags.max_runtime,
        max_fraction=flags.max_fraction, force=flags.force,
        lock_ttl=60.0 if flags.lock_ttl is None else flags.lock_ttl,
        sample_k=flags.sample_k, now=flags.now)
    opts.validate()
    return prune_redis(opts, stop=stop, progress=progress)


PRUNERS: dict[str, Callable[[PruneFlags, Any, ProgressFn | None], PruneResult]] = {
    "files": _files,
    "redis": _redis,
}


def prune_target(flags: PruneFlags, *, stop: Any,
                 progress: ProgressFn | None = None) -> PruneResult:
    kind = target_kind(flags.target)
    entry = PRUNERS.get(kind)
    if entry is None:
        raise UsageError(f"{flags.target}: prune works on file stores and live Redis "
                         f"servers, not on a {kind} target")
    return entry(flags, stop, progress)
