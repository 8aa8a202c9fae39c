"""Per-worker tallies of a prune, merged exactly by the parent."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from sessdiag.stores.files.prune.options import AGE_EDGES, EXAMPLES


@dataclass
class Tally:
    buckets: int = len(AGE_EDGES) + 1
    dirs: int = 0
    entries: int = 0
    sessions: int = 0
    session_bytes: int = 0
    expired: int = 0
    candidates: int = 0
    candidate_bytes: int = 0
    candidate_blocks: int = 0
    deleted: int = 0
    deleted_bytes: int = 0
    deleted_blocks: int = 0
    skipped_fresh: int = 0
    restored: int = 0
    vanished: int = 0
    errors: int = 0
    not_attempted: int = 0
    leftovers_finished: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    anomalies: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    hist: list[int] = field(default_factory=list)
    oldest_ns: int | None = None
    newest_ns: int | None = None
    sample: list[tuple[float, str]] = field(default_factory=list)  # max-heap on -key

    def __post_init__(self) -> None:
        if not self.hist:
            self.hist = [0] * self.buckets

    def anomaly(self, kind: str, example: str | None = None, n: int = 1) -> None:
        self.anomalies[kind] = self.anomalies.get(kind, 0) + n
        if example is not None:
            self.example(kind, example)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    def example(self, kind: str, text: str) -> None:
        ex = self.examples.setdefault(kind, [])
        if len(ex) < EXAMPLES:
            ex.append(text)

    def merge(self, o: Tally, sample_k: int) -> None:
        for name in ("dirs", "entries", "sessions", "session_bytes", "expired", "candidates",
                     "candidate_bytes", "candidate_blocks", "deleted", "deleted_bytes",
                     "deleted_blocks", "skipped_fresh", "restored", "vanished", "errors",
                     "not_attempted", "leftovers_finished"):
            setattr(self, name, getattr(self, name) + getattr(o, name))
        for k, v in o.skipped.items():
            self.skip(k, v)
        for k, v in o.anomalies.items():
            self.anomalies[k] = self.anomalies.get(k, 0) + v
        for k, lst in o.examples.items():
            for text in lst:
                self.example(k, text)
        self.hist = [a + b for a, b in zip(self.hist, o.hist, strict=True)]
        if o.oldest_ns is not None:
            self.oldest_ns = o.oldest_ns if self.oldest_ns is None else min(self.oldest_ns,
                                                                              o.oldest_ns)
        if o.newest_ns is not None:
            self.newest_ns = o.newest_ns if self.newest_ns is None else max(self.newest_ns,
                                                                              o.newest_ns)
        for item in o.sample:
            if len(self.sample) < sample_k:
                heapq.heappush(self.sample, item)
            elif item > self.sample[0]:
                heapq.heapreplace(self.sample, item)

    @property
    def skipped_other(self) -> int:
        return sum(self.skipped.values())

    @property
    def foreign_total(self) -> int:
        """Entries that are not sessions of the layout (a killed run's staged ones aside)."""
        a = self.anomalies
        return sum(a.get(k, 0) for k in ("symlinks", "foreign", "misplaced")) \
            - a.get("stage_leftovers", 0)
