"""Cookie -> session of the dump, for access-log attribution (`clients dump.rdb --access-log`).

The scan keeps one 64-bit word per session key (40 bits of the key's hash, 24 of its payload
size), sorted: 8 bytes a session instead of the keys themselves. A cookie is mapped to the key
its framework writes, exactly as for a live server (sessdiag.stores.redis.clients), and looked
up there. Memory per session is the group's estimated bytes per payload byte.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left

from sessdiag import frameworks
from sessdiag.stores.redis.clients import _groups, session_key


class DumpLookup:
    def __init__(self, index: array, groups: list[tuple[str, str, float]], cookie_name: str,
                 secret: object) -> None:
        self.index = index
        self.groups = groups
        self.mappers = [frameworks.sid_mapper(p, cookie_name, secret) for p, _ns, _r in groups]

    @classmethod
    def build(cls, report: dict, index: array, cookie_name: str,
              secret: object) -> DumpLookup | None:
        keys = _groups(report)
        if not keys or not cookie_name:
            return None
        ratio = {}
        for g in report.get("groups", []):
            b, a = g.get("bytes") or 0, g.get("allocated_bytes")
            ratio[(g["profile"], g["namespace"])] = (a / b) if b and a else 1.0
        index = sort_index(index)
        return cls(index, [(p, ns, ratio.get((p, ns), 1.0)) for p, ns in keys], cookie_name,
                   secret)

    def __call__(self, raw: bytes) -> tuple[int, int] | None:
        for (profile, ns, ratio), sid_of in zip(self.groups, self.mappers, strict=True):
            sid = sid_of(raw)
            if sid is None:
                continue
            key = session_key(profile, ns, sid)
            if key is None:
                continue
            size = find(self.index, key)
            if size is not None:
                return size, round(size * ratio)
        return None

    def close(self) -> None:
        pass


def find(index: array, key: bytes) -> int | None:
    h = hash(key) & 0xFFFFFFFFFF
    i = bisect_left(index, h << 24)
    if i < len(index) and index[i] >> 24 == h:
        return index[i] & 0xFFFFFF
    return None


def sort_index(index: array, run: int = 1 << 16) -> array:
    """`index` sorted, in runs of `run` words merged: sorted() of the whole array would hold
    every word as a Python int (40 bytes a session, not 8) at once."""
    runs = [array("Q", sorted(index[i:i + run])) for i in range(0, len(index), run)]
    out = array("Q")
    out.extend(heapq.merge(*runs))
    return out
