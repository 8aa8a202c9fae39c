"""Mergeable aggregates: a scan is many partial censuses (one per worker) merged exactly.

Counts add, histograms add bucket-wise, min/max combine, and the payload sample is a
bottom-k sketch (each item carries a uniform random key; the k smallest keys of the union
are a uniform sample of the union), so merging partial samples loses nothing.
"""

from __future__ import annotations

import heapq
from bisect import insort
from dataclasses import dataclass, field

DEFAULT_AGE_EDGES = (3600, 86400, 7 * 86400, 30 * 86400, 90 * 86400)
EXAMPLES_PER_KIND = 5


@dataclass
class Census:
    buckets: int = len(DEFAULT_AGE_EDGES) + 1
    sessions: int = 0
    bytes: int = 0
    blocks: int = 0  # st_blocks, 512-byte units whatever the filesystem block size
    expired: int = 0
    empty: int = 0
    zero_byte: int = 0
    future: int = 0  # last access in the future: a clock disagreement worth a finding
    hist: list[int] = field(default_factory=list)
    oldest: float | None = None
    newest: float | None = None
    # Hour (epoch // 3600) -> empty sessions last touched then. An empty beego session is
    # never touched again after its one request, so this is the orphan creation timeline.
    empty_hours: dict[int, int] = field(default_factory=dict)
    # Per shard directory: sessions it holds. O(shards), never O(files).
    shards: dict[str, int] = field(default_factory=dict)
    dirs: int = 0
    symlinks: int = 0
    foreign: int = 0
    misplaced: int = 0
    unreadable: int = 0
    # Details of `foreign` (counted there too; classify.py): mount points and entries of
    # another filesystem, NFS silly-renamed files, sessions a killed prune left staged.
    other_fs: int = 0
    nfs_silly: int = 0
    stage_leftovers: int = 0
    # Directories counted in `foreign` (off the layout, or mount points): beego's Walk
    # lists them as directories, not files.
    foreign_dirs: int = 0
    vanished: int = 0
    # Non-directories that are not sessions and older than the max lifetime: beego's GC
    # deletes these too (it removes any old non-directory in the tree).
    old_non_sessions: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)
    # Payload decoding (sample, or every payload with --deep).
    decoded: int = 0
    undecodable: int = 0
    decoded_empty: int = 0
    oversized: int = 0
    payload_unreadable: int = 0
    undecodable_reasons: dict[str, int] = field(default_factory=dict)
    # Bottom-k sample: (-key, relative path, size) in a max-heap on key.
    sample: list[tuple[float, str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.hist:
            self.hist = [0] * self.buckets

    def add_example(self, kind: str, path: str) -> None:
        """Keep the EXAMPLES_PER_KIND smallest paths: the same whatever order workers
        meet them in, and the examples of merged parts are the union's smallest."""
        lst = self.examples.setdefault(kind, [])
        if len(lst) < EXAMPLES_PER_KIND:
            if path not in lst:
                insort(lst, path)
        elif path < lst[-1] and path not in lst:
            insort(lst, path)
            lst.pop()

    def merge(self, other: Census, sample_k: int) -> Census:
        for name in (
            "sessions", "bytes", "blocks", "expired", "empty", "zero_byte", "future", "dirs",
            "symlinks", "foreign", "misplaced", "unreadable", "other_fs", "nfs_silly",
            "stage_leftovers", "foreign_dirs", "vanished",
            "old_non_sessions", "decoded", "undecodable", "decoded_empty", "oversized",
            "payload_unreadable",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.hist = [a + b for a, b in zip(self.hist, other.hist, strict=True)]
        self.oldest = _combine(min, self.oldest, other.oldest)
        self.newest = _combine(max, self.newest, other.newest)
        for k, v in other.empty_hours.items():
            self.empty_hours[k] = self.empty_hours.get(k, 0) + v
        for k, v in other.shards.items():
            self.shards[k] = self.shards.get(k, 0) + v
        for k, v in other.undecodable_reasons.items():
            self.undecodable_reasons[k] = self.undecodable_reasons.get(k, 0) + v
        for kind, paths in other.examples.items():
            for p in paths:
                self.add_example(kind, p)
        merged = self.sample + other.sample
        self.sample = heapq.nsmallest(sample_k, merged, key=lambda t: -t[0])
        heapq.heapify(self.sample)
        return self

    def sample_paths(self) -> list[tuple[str, int]]:
        """The sample, ordered by key (so a deterministic seed gives a stable order)."""
        return [(p, s) for _, p, s in sorted(self.sample, key=lambda t: -t[0])]


def _combine(fn, a, b):  # type: ignore[no-untyped-def]
    if a is None:
        return b
    if b is None:
        return a
    return fn(a, b)
