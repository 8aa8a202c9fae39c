"""The fields every `sessdiag.scan/1` report has, built once for every backend.

A backend (files, Redis, …) measures; `scan_report` writes the common fields from its
numbers, in one time format (core.timefmt), with one histogram shape, one fraction rounding
and one anomaly table, and the backend adds only its own sections and findings. The rate
builder and the "created at ≈pace" phrase are shared the same way. docs/report.md is the
reference of the fields; the README the promise to users.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sessdiag.analysis.cadence import full_hours, median_with_zeros
from sessdiag.core.timefmt import iso

SCAN_SCHEMA = "sessdiag.scan/1"

# The contract's anomaly kinds (docs/report.md). They describe entries of a file tree; a backend
# that cannot have one (Redis has no symlinks) reports it as None: not applicable, which a
# policy skips, rather than a 0 that would read as "measured, none found".
ANOMALY_KINDS = ("symlinks", "foreign", "misplaced", "zero_byte", "undecodable", "unreadable")
# Kinds only some backends measure, as an extra key of the same table: a Redis or dump report
# counts `bad_timestamps` (Spring/connect-redis times outside the sane window); a file report has
# no such key, which a policy reads as not applicable. A policy may limit every kind of both.
BACKEND_ANOMALY_KINDS = ("bad_timestamps",)
POLICY_ANOMALY_KINDS = ANOMALY_KINDS + BACKEND_ANOMALY_KINDS

# `last_24h_per_hour`: the 24 hourly buckets ending at generated_at, i.e. the hour that holds
# generated_at and the 23 before it, divided by 24.
LAST_DAY_HOURS = 24

# Every backend's report carries these (tests/core/test_contract.py holds both to it).
COMMON_FIELDS = ("schema", "target", "generated_at", "max_lifetime_s", "sessions", "bytes",
                 "allocated_bytes", "expired", "expired_fraction", "empty", "empty_fraction",
                 "age_histogram", "anomalies", "gc_estimate", "groups", "clients", "warnings")


def frac(a: float, b: float) -> float:
    """a / b rounded to 6 places; 0.0 when there is nothing to divide by."""
    return round(a / b, 6) if b else 0.0


def histogram(edges: Sequence[int], counts: Sequence[int]) -> list[dict]:
    """Ascending buckets `{"upper_s", "count"}`; the last has `upper_s: None` (older)."""
    out: list[dict] = [{"upper_s": e, "count": n} for e, n in zip(edges, counts, strict=False)]
    out.append({"upper_s": None, "count": counts[-1]})
    return out


def anomalies(measured: Mapping[str, int], **extra: int | None) -> dict[str, int | None]:
    """The contract's anomaly table: each kind the backend measured, None for the others."""
    out: dict[str, int | None] = {k: measured.get(k) for k in ANOMALY_KINDS}
    out.update(extra)
    return out


def last_24h_per_hour(hours: Mapping[int, int], now: float) -> float:
    """Sessions per hour over the LAST_DAY_HOURS hourly buckets ending at `now`."""
    current = int(now) // 3600
    recent = sum(hours.get(h, 0) for h in range(current - LAST_DAY_HOURS + 1, current + 1))
    return round(recent / LAST_DAY_HOURS, 3)


def hourly_rate(hours: Mapping[int, int], now: float | None = None) -> dict | None:
    """A creation rate from counts per epoch hour: span, mean, median and floor per hour,
    and with `now` the pace of the last day. None without any hour.

    Work follows the buckets present, never the span between them: one bogus timestamp in
    year 285,000 must not make a list of two billion hours.
    """
    if not hours:
        return None
    first, last = min(hours), max(hours)
    span = last - first + 1
    total = sum(hours.values())
    n_full, present = full_hours(dict(hours))
    out: dict[str, Any] = {
        "first_hour": iso(first * 3600),
        "last_hour": iso(last * 3600),
        "hours": span,
        "per_hour_mean": round(total / span, 3),
        "per_second_mean": round(total / span / 3600, 4),
        "per_hour_median": median_with_zeros(present, n_full),
        "per_hour_floor": (0 if len(present) < n_full else present[0]) if n_full else None,
    }
    if now is not None:
        out["last_24h_per_hour"] = last_24h_per_hour(hours, now)
    return out


def pace_since(rate: Mapping[str, Any]) -> str:
    """"created at ≈0.42/s since 2026-11-20 03:00" for a finding, from an `hourly_rate`."""
    per_s = rate["per_second_mean"]
    pace = f"{per_s:.2f}/s" if per_s >= 0.1 else f"{rate['per_hour_mean']:.1f}/hour"
    return f"created at ≈{pace} since {rate['first_hour'][:16].replace('T', ' ')}"


def scan_report(*, target: dict, now: float, max_lifetime_s: int | None, sessions: int,
                bytes_: int, allocated_bytes: int | None, expired: int, empty: int,
                age_edges: Sequence[int], age_counts: Sequence[int],
                anomalies: dict[str, int | None], gc_estimate: dict | None,
                groups: list[dict], warnings: list[str]) -> dict:
    """The common fields of `sessdiag.scan/1`, in the contract's order.

    The backend adds its own sections to the dict it gets back, then its `findings`.
    """
    return {
        "schema": SCAN_SCHEMA,
        "target": target,
        "generated_at": iso(now),
        "max_lifetime_s": max_lifetime_s,
        "sessions": sessions,
        "bytes": bytes_,
        "allocated_bytes": allocated_bytes,
        "expired": expired,
        "expired_fraction": frac(expired, sessions),
        "empty": empty,
        "empty_fraction": frac(empty, sessions),
        "age_histogram": histogram(age_edges, age_counts),
        "anomalies": anomalies,
        "gc_estimate": gc_estimate,
        "groups": groups,
        "clients": [],
        "warnings": warnings,
    }
