"""What a prune is asked to do (PruneOptions) and what it gives back (PruneResult)."""

from __future__ import annotations

from dataclasses import dataclass

from sessdiag.core.errors import UsageError
from sessdiag.core.prune_contract import SCHEMA, PruneResult, check_limits

__all__ = ["AGE_EDGES", "ANOMALY_KINDS", "EXAMPLES", "SCHEMA", "PruneOptions", "PruneResult"]
AGE_EDGES = (3600, 86400, 7 * 86400, 30 * 86400, 90 * 86400, 365 * 86400)
EXAMPLES = 5
# The report's anomaly kinds: the contract's (classify.CONTRACT_KINDS), the details of
# foreign (classify.FOREIGN_DETAILS), and what prune meets while acting.
ANOMALY_KINDS = ("symlinks", "foreign", "misplaced", "unreadable", "nfs_silly", "other_fs",
                 "stage_leftovers", "hardlinks", "readonly", "raced")


@dataclass(frozen=True)
class PruneOptions:
    target: str
    max_age: int
    grace: int = 60
    apply: bool = False
    profile: str | None = None
    php_depth: int | None = None
    sid_pattern: str | None = None
    jobs: int | None = None
    workers: str | None = None  # "threads" | "processes" | None (by filesystem type)
    rate: float | None = None  # deletions per second, all workers together
    max_inflight: int | None = None  # filesystem operations in flight (adaptive below it)
    max_delete: int | None = None
    max_runtime: float | None = None
    max_fraction: float = 0.95
    max_skew: float = 300.0
    force: bool = False
    lock_path: str | None = None
    journal: str | None = None
    quarantine: str | None = None
    direct_unlink: bool = False
    sample_k: int = 10
    seed: int | None = None
    check_processes: bool = True
    partition: tuple[int, int] | None = None  # (K, N) of --partition K/N

    def validate(self) -> None:
        if self.max_age <= 0:
            raise UsageError("--max-age must be a positive duration (e.g. 30d)")
        if self.grace < 0:
            raise UsageError("--grace must not be negative")
        if self.jobs is not None and self.jobs < 1:
            raise UsageError("--jobs must be at least 1")
        if self.workers not in (None, "threads", "processes"):
            raise UsageError(f"--workers must be 'threads' or 'processes', not {self.workers!r}")
        if self.max_inflight is not None and self.max_inflight < 1:
            raise UsageError("--max-inflight must be at least 1")
        check_limits(self.rate, self.max_delete, self.max_runtime, self.max_fraction,
                     per_second="deletions")
        if self.max_skew < 0:
            raise UsageError("--max-skew must not be negative")
        if self.quarantine and self.direct_unlink:
            raise UsageError("--quarantine and --direct-unlink exclude each other")
