"""`--partition K/N`: which first-level entries of a file tree the K-th of N parts owns.

N machines share one large (NFS) tree by splitting it at its first level: a first-level entry
(beego's `sid[0]` shard, a stray file or directory at the root, or in a flat PHP store every
file) belongs to part `crc32(name bytes) mod N + 1`, with everything below it. The hash is of
the name alone, so the assignment depends neither on the order a directory lists in nor on
which other entries exist, and it is the same on every host and every Python (unlike hash()).
The root directory itself is counted by part 1. Parts are disjoint and together cover the tree.

A session prune staged (`.sessdiag-<8 hex>-NAME`, left behind when a run was killed) belongs
to the part of NAME: the prune that finishes or puts it back then writes only in its own
part, and counts the session once, as one prune of the whole does.
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass

from sessdiag.core.errors import UsageError
from sessdiag.stores.files.classify import STAGE_RE

SCHEME = "crc32-first-level"
_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
MAX_PARTS = 65536


@dataclass(frozen=True)
class Partition:
    index: int  # K, 1-based
    count: int  # N

    def owns(self, name: str) -> bool:
        """Does this part own the first-level entry `name` (and everything below it)?"""
        return part_of(name, self.count) == self.index

    @property
    def owns_root(self) -> bool:
        """The root directory itself is one entry of the tree: part 1 counts it."""
        return self.index == 1

    def to_dict(self) -> dict:
        return {"index": self.index, "count": self.count, "scheme": SCHEME}

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def part_of(name: str, count: int) -> int:
    """The 1-based part of N that owns the first-level entry `name`."""
    m = STAGE_RE.fullmatch(name)
    return zlib.crc32(os.fsencode(m.group(1) if m else name)) % count + 1


def parse_partition(text: str | None) -> Partition | None:
    """'K/N' (1 <= K <= N) -> Partition; None for None. UsageError names the flag."""
    if text is None:
        return None
    m = _SPEC.fullmatch(text)
    if m is None:
        raise UsageError(f"--partition must be K/N (e.g. 2/4), not {text!r}")
    k, n = int(m.group(1)), int(m.group(2))
    if not 1 <= k <= n or n > MAX_PARTS:
        raise UsageError(f"--partition {text}: need 1 <= K <= N <= {MAX_PARTS}")
    return Partition(k, n)
