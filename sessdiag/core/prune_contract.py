"""The fields every `sessdiag.prune/1` report has, whatever the store, and the run's outcome.

A backend (files, Redis) measures and acts; `prune_report` writes the contract's common fields
from its numbers in one shape (docs/prune.md, "The report"), and the backend adds its own
sections. `PruneResult` carries the report and what decides the exit code.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from typing import Any

from sessdiag.core.errors import SafetyRefusal, UsageError
from sessdiag.core.timefmt import iso

SCHEMA = "sessdiag.prune/1"


def check_limits(rate: float | None, max_delete: int | None, max_runtime: float | None,
                 max_fraction: float, *, per_second: str) -> None:
    """The safety limits every backend's prune takes: UsageError names the flag."""
    if rate is not None and rate <= 0:
        raise UsageError(f"--rate must be a positive number of {per_second} per second")
    if max_delete is not None and max_delete < 0:
        raise UsageError("--max-delete must not be negative")
    if max_runtime is not None and max_runtime <= 0:
        raise UsageError("--max-runtime must be a positive duration")
    if not 0 < max_fraction <= 1:
        raise UsageError("--max-fraction must be in (0, 1]")


@dataclass
class PruneResult:
    report: dict[str, Any]
    refusals: list[str]
    stopped_by: str | None
    errors: int
    applied: bool
    dry_run: bool
    unreadable: int = 0  # entries never examined (permission denied)

    @property
    def exit_code(self) -> int:
        """Contract: 4 refused (nothing deleted), 128+n stopped by signal n, 1 failures or
        parts of the store never examined (as a failed deletion: not everything expired
        could be removed), 0."""
        if self.refusals and not self.dry_run:
            return SafetyRefusal.exit_code
        if self.stopped_by in ("SIGINT", "SIGTERM"):
            return 128 + int(getattr(signal, self.stopped_by))
        return 1 if self.errors or self.unreadable else 0


def prune_report(*, target: dict, dry_run: bool, applied: bool, sessions: int, candidates: int,
                 deleted: int, skipped_fresh: int, vanished: int, not_attempted: int,
                 errors: int, error_examples: list[str], bytes_freed: int, sample: list[str],
                 max_fraction: float, forced: bool, refusals: list[str], rate: float | None,
                 max_delete: int | None, started: float, duration: float,
                 stopped_by: str | None, warnings: list[str]) -> dict[str, Any]:
    """The common fields of `sessdiag.prune/1`; the backend adds its own to the dict."""
    return {
        "schema": SCHEMA,
        "target": target,
        "generated_at": iso(time.time()),
        "dry_run": dry_run,
        "applied": applied,
        "sessions": sessions,
        "candidates": candidates,
        "candidate_fraction": round(candidates / sessions, 6) if sessions else 0.0,
        "deleted": deleted,
        "skipped_fresh": skipped_fresh,
        "vanished": vanished,
        "not_attempted": not_attempted,
        "errors": errors,
        "error_examples": error_examples,
        "bytes_freed": bytes_freed,
        "sample": sample,
        "safety": {"max_fraction": max_fraction, "forced": forced, "refusals": refusals},
        "rate_limit_per_s": rate,
        "max_delete": max_delete,
        "started_at": iso(started),
        "duration_s": round(duration, 3),
        "rate_per_s": round(deleted / duration, 1) if duration > 0 else 0.0,
        "stopped_by": stopped_by,
        "warnings": warnings,
    }
