"""The store seam: what every backend (file tree, Redis server, later an RDB dump) offers.

A store reads one medium; a framework (sessdiag.frameworks) says what the bytes mean. The
commands and the analyses talk to a store only through `SessionStore`, and a store keeps what
its scan learnt (the layout of a tree, the profiles and namespaces of a keyspace), so later
steps — cookie lookups, attribution by payload — never rebuild it from the report.

Settings are declared dataclasses: what a scan reads is in `ScanSettings` (what attribution
from access logs reads is `sessdiag.analysis.clients.LogSettings`); nothing is attached to
them afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sessdiag.census import DEFAULT_AGE_EDGES
from sessdiag.core.progress import Progress

__all__ = ["Progress", "ScanSettings", "SessionLookup", "SessionStore"]


@dataclass(frozen=True)
class ScanSettings:
    """How to scan: the same for every backend (a backend ignores what does not apply)."""

    max_lifetime: int = 3600
    max_lifetime_given: bool = False  # False: the default, so a store's own lifetime may win
    max_lifetime_source: str = "default"  # "--max-lifetime", "--app-conf FILE", "policy FILE"
    profile: str | None = None
    deep: bool = False
    sample: int = 1000
    age_edges: tuple[int, ...] = DEFAULT_AGE_EDGES
    jobs: int | None = None
    workers: str | None = None  # files: "threads" | "processes"
    seed: int | None = None
    now: float | None = None
    as_of: float | None = None  # dumps: the time ages and expiry are counted at (--as-of)
    notes: tuple[str, ...] = ()  # warnings the caller wants in the report
    rate: float | None = None  # Redis: commands per second; files: operations per second
    max_inflight: int | None = None  # files: cap of the adaptive in-flight limit
    pattern: str | None = None  # Redis: SCAN MATCH pattern of session keys
    partition: tuple[int, int] | None = None  # files: (K, N) of --partition K/N
    # beego file stores: price the GC with gc-estimate's probe (writes scratch files beside
    # the store) instead of the static fallback.
    gc_probe: bool = False
    # A cookie lookup (access logs) will follow the scan: a store that must keep something per
    # session for it (a dump: 8 bytes each) keeps it only then, so memory stays flat otherwise.
    lookup: bool = True


class SessionLookup(Protocol):
    """cookie value -> (payload bytes, allocated bytes) of the session still in the store."""

    def __call__(self, raw: bytes) -> tuple[int, int] | None: ...

    def close(self) -> None: ...


@runtime_checkable
class SessionStore(Protocol):
    kind: str  # "files", "redis": the report's target.kind
    location: str  # as reports show it: never a credential

    def scan(self, settings: ScanSettings, progress: Progress | None = None) -> dict:
        """The `sessdiag.scan/1` report of the whole store (mergeable with `merge`)."""
        ...

    def inspect(self, sid: str | None, profile: str | None = None) -> dict:
        """One session decoded: a `sessdiag.inspect/1` report."""
        ...

    def lookup(self, profile: str | None, cookie_name: str,
               secret: object = None) -> SessionLookup | None:
        """A cookie -> stored session lookup for the profile scanned; None when impossible."""
        ...

    def attribute(self, attr: str) -> list[dict] | None:
        """Sessions grouped by the value of payload attribute `attr` (--client-attr);
        None when this store cannot read payloads."""
        ...

    def close(self) -> None: ...
