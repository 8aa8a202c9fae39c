"""The compact blobs inside RDB values: listpack, ziplist, intset, zipmap.

Each decoder takes the blob (one RDB string) and returns its elements as bytes (integers as
their decimal digits, as Redis replies them). Every offset is checked against the blob, so a
corrupt blob raises RdbCorrupt and never reads outside it or loops past its end.
"""

from __future__ import annotations

import struct

from sessdiag.stores.rdb.errors import RdbCorrupt

_u16 = struct.Struct("<H").unpack_from
_u32 = struct.Struct("<I").unpack_from
_i16 = struct.Struct("<h").unpack_from
_i32 = struct.Struct("<i").unpack_from
_i64 = struct.Struct("<q").unpack_from
_u32be = struct.Struct(">I").unpack_from


def _bad(what: str, at: int) -> RdbCorrupt:
    return RdbCorrupt(f"{what} at byte {at} of the blob")


def _int(v: int) -> bytes:
    return str(v).encode()


# -- listpack (Redis 7+: hashes, zsets, sets, quicklist nodes) ---------------------------------

def listpack(blob: bytes, limit: int | None = None) -> list[bytes]:
    """The elements of a listpack (at most `limit` of them)."""
    n = len(blob)
    if n < 7 or _u32(blob, 0)[0] != n:
        raise _bad("listpack size does not match its blob", 0)
    out: list[bytes] = []
    add = out.append
    i = 6
    end = n - 1
    if blob[end] != 0xFF:
        raise _bad("listpack without its end byte", end)
    while i < end:
        b = blob[i]
        if b < 0x80:  # 7-bit uint
            add(_int(b))
            size = 1
        elif b < 0xC0:  # 6-bit string length
            ln = b & 0x3F
            size = 1 + ln
            add(blob[i + 1:i + size])
        elif b < 0xE0:  # 13-bit int
            if i + 2 > end:
                raise _bad("listpack entry past the end", i)
            v = ((b & 0x1F) << 8) | blob[i + 1]
            add(_int(v - 8192 if v >= 4096 else v))
            size = 2
        elif b < 0xF0:  # 12-bit string length
            if i + 2 > end:
                raise _bad("listpack entry past the end", i)
            ln = ((b & 0x0F) << 8) | blob[i + 1]
            size = 2 + ln
            add(blob[i + 2:i + size])
        elif b == 0xF0:  # 32-bit string length
            if i + 5 > end:
                raise _bad("listpack entry past the end", i)
            ln = _u32(blob, i + 1)[0]
            size = 5 + ln
            add(blob[i + 5:i + size])
        elif b == 0xF1:
            size = 3
            if i + size > end:
                raise _bad("listpack entry past the end", i)
            add(_int(_i16(blob, i + 1)[0]))
        elif b == 0xF2:
            size = 4
            if i + size > end:
                raise _bad("listpack entry past the end", i)
            v = blob[i + 1] | blob[i + 2] << 8 | blob[i + 3] << 16
            add(_int(v - (1 << 24) if v >= 1 << 23 else v))
        elif b == 0xF3:
            size = 5
            if i + size > end:
                raise _bad("listpack entry past the end", i)
            add(_int(_i32(blob, i + 1)[0]))
        elif b == 0xF4:
            size = 9
            if i + size > end:
                raise _bad("listpack entry past the end", i)
            add(_int(_i64(blob, i + 1)[0]))
        else:
            raise _bad(f"unknown listpack encoding 0x{b:02x}", i)
        if i + size > end:
            raise _bad("listpack entry past the end", i)
        # backlen: the entry's own size in 1–5 bytes
        i += size + (1 if size < 128 else 2 if size < 16384 else 3 if size < 2097152
                     else 4 if size < 268435456 else 5)
        if limit is not None and len(out) >= limit:
            return out
    if i != end:
        raise _bad("listpack entry past the end", i)
    return out


def listpack_count(blob: bytes) -> int:
    if len(blob) < 7:
        raise _bad("listpack too short", 0)
    n = _u16(blob, 4)[0]
    return n if n != 0xFFFF else len(listpack(blob))


# -- ziplist (Redis <= 6.2) ---------------------------------------------------------------------

def ziplist(blob: bytes, limit: int | None = None) -> list[bytes]:
    n = len(blob)
    if n < 11 or _u32(blob, 0)[0] != n:
        raise _bad("ziplist size does not match its blob", 0)
    end = n - 1
    if blob[end] != 0xFF:
        raise _bad("ziplist without its end byte", end)
    out: list[bytes] = []
    add = out.append
    i = 10
    while i < end:
        i += 1 if blob[i] < 254 else 5  # prevlen
        if i >= end:
            raise _bad("ziplist entry past the end", i)
        b = blob[i]
        t = b >> 6
        if t == 0:
            ln, i = b & 0x3F, i + 1
        elif t == 1:
            if i + 2 > end:
                raise _bad("ziplist entry past the end", i)
            ln, i = ((b & 0x3F) << 8) | blob[i + 1], i + 2
        elif t == 2:
            if i + 5 > end:
                raise _bad("ziplist entry past the end", i)
            ln, i = _u32be(blob, i + 1)[0], i + 5
        else:
            if b == 0xC0:
                size, v = 2, _i16(blob, i + 1)[0] if i + 3 <= end else None
            elif b == 0xD0:
                size, v = 4, _i32(blob, i + 1)[0] if i + 5 <= end else None
            elif b == 0xE0:
                size, v = 8, _i64(blob, i + 1)[0] if i + 9 <= end else None
            elif b == 0xF0:
                size = 3
                if i + 4 <= end:
                    x = blob[i + 1] | blob[i + 2] << 8 | blob[i + 3] << 16
                    v = x - (1 << 24) if x >= 1 << 23 else x
                else:
                    v = None
            elif b == 0xFE:
                size, v = 1, (blob[i + 1] - 256 if blob[i + 1] >= 128 else blob[i + 1]) \
                    if i + 2 <= end else None
            elif 0xF1 <= b <= 0xFD:
                size, v = 0, (b & 0x0F) - 1
            else:
                raise _bad(f"unknown ziplist encoding 0x{b:02x}", i)
            if v is None:
                raise _bad("ziplist entry past the end", i)
            add(_int(v))
            i += 1 + size
            if limit is not None and len(out) >= limit:
                return out
            continue
        if i + ln > end:
            raise _bad("ziplist entry past the end", i)
        add(blob[i:i + ln])
        i += ln
        if limit is not None and len(out) >= limit:
            return out
    if i != end:
        raise _bad("ziplist entry past the end", i)
    return out


def ziplist_count(blob: bytes) -> int:
    if len(blob) < 11:
        raise _bad("ziplist too short", 0)
    n = _u16(blob, 8)[0]
    return n if n != 0xFFFF else len(ziplist(blob))


# -- intset (sets of integers) -----------------------------------------------------------------

def intset(blob: bytes, limit: int | None = None) -> list[bytes]:
    width, count = intset_header(blob)
    fmt = {2: "<h", 4: "<i", 8: "<q"}[width]
    if limit is not None:
        count = min(count, limit)
    return [_int(v) for (v,) in struct.iter_unpack(fmt, blob[8:8 + count * width])]


def intset_header(blob: bytes) -> tuple[int, int]:
    if len(blob) < 8:
        raise _bad("intset too short", 0)
    width, count = _u32(blob, 0)[0], _u32(blob, 4)[0]
    if width not in (2, 4, 8) or 8 + width * count != len(blob):
        raise _bad("intset header does not match its blob", 0)
    return width, count


def intset_count(blob: bytes) -> int:
    return intset_header(blob)[1]


# -- zipmap (hashes, RDB < 4 / Redis < 2.6) ------------------------------------------------------

def zipmap(blob: bytes, limit: int | None = None) -> list[bytes]:
    n = len(blob)
    if n < 2:
        raise _bad("zipmap too short", 0)
    out: list[bytes] = []
    i = 1
    while True:
        if i >= n:
            raise _bad("zipmap without its end byte", i)
        if blob[i] == 0xFF:
            return out
        ln, i = _zm_len(blob, i)
        if i + ln > n:
            raise _bad("zipmap key past the end", i)
        out.append(blob[i:i + ln])
        i += ln
        ln, i = _zm_len(blob, i)
        if i >= n:
            raise _bad("zipmap value past the end", i)
        free = blob[i]
        i += 1
        if i + ln + free > n:
            raise _bad("zipmap value past the end", i)
        out.append(blob[i:i + ln])
        i += ln + free
        if limit is not None and len(out) >= limit:
            return out


def _zm_len(blob: bytes, i: int) -> tuple[int, int]:
    if i >= len(blob):
        raise _bad("zipmap length past the end", i)
    b = blob[i]
    if b < 254:
        return b, i + 1
    if b == 254 and i + 5 <= len(blob):
        return _u32(blob, i + 1)[0], i + 5
    raise _bad("bad zipmap length", i)


def zipmap_count(blob: bytes) -> int:
    return len(zipmap(blob)) // 2
