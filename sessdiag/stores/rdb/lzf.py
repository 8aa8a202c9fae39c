"""LZF decompression (liblzf's format, as Redis writes compressed strings).

A back-reference or literal run is copied as one slice: the per-byte work is in C, the Python
loop runs once per token (a token covers 1–264 bytes).
"""

from __future__ import annotations

from sessdiag.stores.rdb.errors import RdbCorrupt

# One token of at most 3 input bytes yields at most 264 output bytes.
MAX_RATIO = 88


def decompress(data: bytes | memoryview, ulen: int, limit: int | None = None) -> bytes:
    """`data` expanded to exactly `ulen` bytes, or RdbCorrupt; with `limit`, only the first
    `limit` bytes (expansion stops there: a key's head is enough to sniff its format)."""
    n = len(data)
    if ulen > n * MAX_RATIO + 32:
        raise RdbCorrupt(f"LZF string declares {ulen} bytes from {n} compressed bytes")
    out = bytearray()
    i = 0
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            run = ctrl + 1
            if i + run > n:
                raise RdbCorrupt("LZF literal run past the end of its data")
            out += data[i:i + run]
            i += run
        else:
            run = ctrl >> 5
            if run == 7:
                if i >= n:
                    raise RdbCorrupt("LZF back-reference past the end of its data")
                run += data[i]
                i += 1
            if i >= n:
                raise RdbCorrupt("LZF back-reference past the end of its data")
            ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
            i += 1
            run += 2
            if ref < 0:
                raise RdbCorrupt("LZF back-reference before the start of the output")
            dist = len(out) - ref
            if dist >= run:
                out += out[ref:ref + run]
            elif dist == 1:  # a run of one byte (the commonest overlap)
                out += out[ref:] * run
            else:  # overlapping copy: the last `dist` bytes repeat
                pat = bytes(out[ref:])
                out += (pat * (run // dist + 1))[:run]
        if len(out) > ulen:
            break
        if limit is not None and len(out) >= limit:
            return bytes(out[:limit])
    if len(out) != ulen:
        raise RdbCorrupt(f"LZF string expands to {len(out)} bytes, not the {ulen} declared")
    return bytes(out)
