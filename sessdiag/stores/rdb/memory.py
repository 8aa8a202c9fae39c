"""What a key from a dump would cost in a Redis server's memory: an estimate.

A dump holds no memory figures per key, so `MEMORY USAGE` is modelled as Redis 7 computes it
(object.c objectComputeSize + the key's sds + its dict entry) from what the dump says about
the value: its encoding, element count, and the bytes of its strings, with jemalloc's size
classes. Compact encodings (listpack, ziplist, intset) are counted by their blob size exactly;
hash tables and skiplists from the mean element size. tests/integration/test_rdb_scan.py holds
the estimate against the real MEMORY USAGE of the same keys.
"""

from __future__ import annotations

from sessdiag.stores.rdb.parser import Record

ROBJ = 16
DICT = 64  # struct dict (56) in its size class
ENTRY = 24  # dictEntry: key, value, next
SKIPLIST_NODE = 48  # zskiplistNode with a level or two, in its size class
QUICKLIST = 48
QUICKLIST_NODE = 32
WHAT = ("estimated from the dump's encodings as Redis 7's MEMORY USAGE counts a key "
        "(object, key, dict entry; jemalloc size classes)")


def size_class(n: int) -> int:
    """jemalloc's allocation for n bytes: 8, 16, then 16-byte steps to 128, then 4 per doubling."""
    if n <= 8:
        return 8
    if n <= 128:
        return (n + 15) & ~15
    step = 1 << ((n - 1).bit_length() - 3)
    return (n + step - 1) // step * step


def sds(n: int) -> int:
    hdr = 3 if n < 256 else 5 if n < 65536 else 9
    return size_class(n + hdr + 1)


def _buckets(n: int) -> int:
    return 8 * (1 << max(2, (n - 1).bit_length())) if n > 0 else 0


def estimate(rec: Record) -> int:
    key = sds(len(rec.key)) + ENTRY
    enc = rec.encoding
    name = rec.type_name
    if name == "string":
        n = rec.length if rec.length >= 0 else rec.raw
        if enc == "int":
            return key + ROBJ
        if n <= 44:
            return key + size_class(ROBJ + 3 + n + 1)
        return key + ROBJ + sds(n)
    if enc in ("listpack", "ziplist", "intset", "zipmap"):
        # the blob is one string of the record (plus, with field expiry, 8 bytes before it)
        return key + ROBJ + size_class(max(rec.raw, 1))
    n = max(rec.length, 0)
    if enc == "quicklist":
        nodes = max(1, rec.nstr)
        return key + ROBJ + QUICKLIST + nodes * QUICKLIST_NODE + size_class(
            max(rec.raw // nodes, 1)) * nodes
    strings = max(rec.nstr, 1)
    mean = rec.raw // strings
    if name == "hash":
        return key + ROBJ + DICT + _buckets(n) + n * (ENTRY + 2 * sds(mean))
    if name == "set":
        return key + ROBJ + DICT + _buckets(n) + n * (ENTRY + sds(mean))
    if name == "zset":
        return key + ROBJ + DICT + _buckets(n) + n * (ENTRY + sds(mean) + SKIPLIST_NODE)
    if name == "list":
        return key + ROBJ + QUICKLIST + n * QUICKLIST_NODE + rec.raw
    return key + ROBJ + rec.size  # streams, modules: their serialized size stands in
