"""Values read straight from the reader's buffer, for the dump scan's common keys.

`Parser.value` reads any value through the reader's primitives (which fill the buffer, cap
what they keep, count corrupt strings) into a `Record`. The dump scan's bulk, though, is a few
shapes: Spring session hashes, shadow keys, string sessions, and noise (strings sniffed by
their head, compact collections walked by their blobs), each value a handful of short
strings. These readers take such a value from the bytes already in the buffer, as far as the
scan needs it, in one loop; whatever is not that plain shape (a string past the buffer's end,
an integer encoding, a length past `MAX_KEEP`, an LZF string that does not expand) makes them
answer None, having moved nothing, and the caller reads the record the general way. So a
value either reads here exactly as `Parser.value` would read it, or is not read here at all;
tests/stores/rdb/test_fast.py holds the two paths together.
"""

from __future__ import annotations

import struct

from sessdiag.codecs.javaser import INTEGER_PREFIX, LONG_PREFIX
from sessdiag.stores.rdb import lzf
from sessdiag.stores.rdb.errors import RdbCorrupt
from sessdiag.stores.rdb.reader import MAX_KEEP

_U32BE = struct.Struct(">I").unpack_from
_RATIO = lzf.MAX_RATIO
_LZF = 0xC3
CREATION = b"creationTime"
LAST = b"lastAccessedTime"
MAX_INACTIVE = b"maxInactiveInterval"
ATTR = b"sessionAttr:"
_PRINCIPAL = (b"sessionAttr:org.springframework.session.FindByIndexNameSessionRepository"
              b".PRINCIPAL_NAME_INDEX_NAME")  # = profiles.PRINCIPAL_ATTR (a test holds them)

# The fields a Spring hash is read for: 1-3 its times, 4 its principal (an attribute).
_FIELDS = {CREATION: 1, LAST: 2, MAX_INACTIVE: 3, _PRINCIPAL: 4}


# What the readers raise when a value runs past the buffer's end (read it the general way).
SHORT = (IndexError, struct.error)
# A Spring hash's facts: (end, cv, lv, mv, principal value, payload bytes, empty)
SpringFacts = tuple[int, "bytes | None", "bytes | None", "bytes | None", "bytes | None", int,
                    bool]


def _lzf(buf: bytes, pos: int) -> tuple[int, int, int] | None:
    """An LZF string's (data start, compressed length, length) at buf[pos] (its 0xC3)."""
    b = buf[pos + 1]
    if b < 0x40:
        clen, pos = b, pos + 2
    elif b < 0x80:
        clen, pos = ((b & 0x3F) << 8) | buf[pos + 2], pos + 3
    elif b == 0x80:
        clen, pos = _U32BE(buf, pos + 2)[0], pos + 6
    else:
        return None
    b = buf[pos]
    if b < 0x40:
        ulen, pos = b, pos + 1
    elif b < 0x80:
        ulen, pos = ((b & 0x3F) << 8) | buf[pos + 1], pos + 2
    elif b == 0x80:
        ulen, pos = _U32BE(buf, pos + 1)[0], pos + 5
    else:
        return None
    if clen > MAX_KEEP or ulen > MAX_KEEP or ulen > clen * _RATIO + 32:
        return None  # cut, or corrupt: the general path says which
    return pos, clen, ulen


def _expand(buf: bytes, pos: int) -> tuple[int, bytes] | None:
    """An LZF string at buf[pos], expanded: (end, bytes), or None."""
    z = _lzf(buf, pos)
    if z is None:
        return None
    start, clen, ulen = z
    end = start + clen
    if end > len(buf):
        return None
    try:
        return end, lzf.decompress(buf[start:end], ulen)
    except RdbCorrupt:
        return None


def spring_hash(buf: bytes, pos: int) -> SpringFacts | None:
    """A plain hash (RDB type 4) at buf[pos] read as a SOME hash of the Spring fields: its
    creationTime, lastAccessedTime, maxInactiveInterval and principal values (the last of
    each, as a dict of its fields keeps them), the bytes of its fields and values (values
    stored compressed count by their expanded length, unexpanded), and whether it is empty
    (no sessionAttr: field among more than three distinct fields)."""
    b = buf[pos]
    if b < 0x40:
        n, pos = b, pos + 1
    elif b < 0x80:
        n, pos = ((b & 0x3F) << 8) | buf[pos + 1], pos + 2
    else:
        return None
    cv = lv = mv = pv = None
    nbytes = 0
    attrs = False
    names: list[bytes] = []  # (only with more than three fields: the distinct ones count)
    many = n > 3
    fields = _FIELDS
    for _ in range(n):
        b = buf[pos]
        # fl: the field's length (len(f) unless the buffer ends inside it: then the reader
        # runs past the buffer's end and the facts are not used)
        if b < 0x40:
            fl = b
            end = pos + 1 + b
            f = buf[pos + 1:end]
        elif b < 0x80:
            fl = ((b & 0x3F) << 8) | buf[pos + 1]
            end = pos + 2 + fl
            f = buf[pos + 2:end]
        elif b == _LZF:
            x = _expand(buf, pos)
            if x is None:
                return None
            end, f = x
            fl = len(f)
        else:
            return None
        pos = end
        if many:
            names.append(f)
        b = buf[pos]
        if b < 0x40:
            start, end = pos + 1, pos + 1 + b
        elif b < 0x80:
            start = pos + 2
            end = start + (((b & 0x3F) << 8) | buf[pos + 1])
        elif b == 0x80:
            start = pos + 5
            end = start + _U32BE(buf, pos + 1)[0]
            if end - start > MAX_KEEP:
                return None
        elif b == _LZF:
            c = fields.get(f)
            if c is not None:
                x = _expand(buf, pos)
                if x is None:
                    return None
                pos, v = x
                nbytes += fl + len(v)
                if c == 1:
                    cv = v
                elif c == 2:
                    lv = v
                elif c == 3:
                    mv = v
                else:
                    attrs = True
                    pv = v
                continue
            if not attrs and f.startswith(ATTR):
                attrs = True
            z = _lzf(buf, pos)
            if z is None:
                return None
            pos = z[0] + z[1]
            nbytes += fl + z[2]
            continue
        else:
            return None
        pos = end
        nbytes += fl + end - start
        c = fields.get(f)
        if c is None:
            if not attrs and f.startswith(ATTR):
                attrs = True
        elif c == 1:
            cv = buf[start:end]
        elif c == 2:
            lv = buf[start:end]
        elif c == 3:
            mv = buf[start:end]
        else:
            attrs = True
            pv = buf[start:end]
    if pos > len(buf):
        return None  # it goes on past the buffer: read it the general way
    empty = not (attrs and n > 3 and len(set(names)) > 3)
    return pos, cv, lv, mv, pv, nbytes, empty


# Spring's time fields as JdkSerializationRedisSerializer writes them: the field's name and
# the value's length and class bytes (a java.lang.Long for creationTime and lastAccessedTime,
# a java.lang.Integer for maxInactiveInterval), the number's 8 or 4 bytes after them.
_CT_HEAD = b"\x0c" + CREATION + b"\x40\x52" + LONG_PREFIX
_LA_HEAD = b"\x10" + LAST + b"\x40\x52" + LONG_PREFIX
_MI_HEAD = b"\x13" + MAX_INACTIVE + b"\x40\x51" + INTEGER_PREFIX
_CT_END, _LA_END, _MI_END = len(_CT_HEAD) + 8, len(_LA_HEAD) + 8, len(_MI_HEAD) + 4
# the principal attribute's name with its (14-bit) length
_PV_HEAD = bytes([0x40 | len(_PRINCIPAL) >> 8, len(_PRINCIPAL) & 0xFF]) + _PRINCIPAL
_I64BE = struct.Struct(">q").unpack_from
_I32BE = struct.Struct(">i").unpack_from
# JdkFacts: (end, creationTime, lastAccessedTime, maxInactiveInterval (the numbers, None when
# the field is absent), principal value, payload bytes, empty)
JdkFacts = tuple[int, "int | None", "int | None", "int | None", "bytes | None", int, bool]


def spring_jdk(buf: bytes, pos: int) -> JdkFacts | None:
    """spring_hash for a hash whose time fields (any it has) hold JdkSerializationRedisSerializer's
    exact Long / Integer bytes, raw, with their numbers instead of their values; None for any
    other hash (a time field in another form, or one spring_hash does not read). A time field
    is one comparison of its leading bytes; the other fields are walked as spring_hash walks
    them."""
    b = buf[pos]
    if b < 0x40:
        n, pos = b, pos + 1
    elif b < 0x80:
        n, pos = ((b & 0x3F) << 8) | buf[pos + 1], pos + 2
    else:
        return None
    ct = la = mi = pv = None
    nbytes = 0
    attrs = False
    names: list[bytes] = []  # (only with more than three fields: the distinct ones count)
    many = n > 3
    starts = buf.startswith
    fields = _FIELDS
    for _ in range(n):
        b = buf[pos]
        if b == 0x0C and starts(_CT_HEAD, pos):
            ct = _I64BE(buf, pos + _CT_END - 8)[0]
            pos += _CT_END
            nbytes += _CT_END - 3  # (its name and value, without their 3 length bytes)
            if many:
                names.append(CREATION)
            continue
        if b == 0x10 and starts(_LA_HEAD, pos):
            la = _I64BE(buf, pos + _LA_END - 8)[0]
            pos += _LA_END
            nbytes += _LA_END - 3
            if many:
                names.append(LAST)
            continue
        if b == 0x13 and starts(_MI_HEAD, pos):
            mi = _I32BE(buf, pos + _MI_END - 4)[0]
            pos += _MI_END
            nbytes += _MI_END - 3
            if many:
                names.append(MAX_INACTIVE)
            continue
        if b == _PV_HEAD[0] and starts(_PV_HEAD, pos):
            start = pos + len(_PV_HEAD) + 1
            vl = buf[start - 1]
            if vl < 0x40:  # the principal, a short raw value (the name's bytes compared)
                pos = start + vl
                pv = buf[start:pos]
                nbytes += len(_PRINCIPAL) + vl
                attrs = True
                if many:
                    names.append(_PRINCIPAL)
                continue
        if b < 0x40:
            fl = b
            end = pos + 1 + b
            f = buf[pos + 1:end]
        elif b < 0x80:
            fl = ((b & 0x3F) << 8) | buf[pos + 1]
            end = pos + 2 + fl
            f = buf[pos + 2:end]
        elif b == _LZF:
            x = _expand(buf, pos)
            if x is None:
                return None
            end, f = x
            fl = len(f)
        else:
            return None
        pos = end
        c = fields.get(f)
        if c is not None and c != 4:
            return None  # a time field in another form
        if many:
            names.append(f)
        b = buf[pos]
        if b < 0x40:
            start, end = pos + 1, pos + 1 + b
        elif b < 0x80:
            start = pos + 2
            end = start + (((b & 0x3F) << 8) | buf[pos + 1])
        elif b == 0x80:
            start = pos + 5
            end = start + _U32BE(buf, pos + 1)[0]
            if end - start > MAX_KEEP:
                return None
        elif b == _LZF:
            if c is not None:  # the principal
                x = _expand(buf, pos)
                if x is None:
                    return None
                pos, v = x
                nbytes += fl + len(v)
                attrs = True
                pv = v
                continue
            if not attrs and f.startswith(ATTR):
                attrs = True
            z = _lzf(buf, pos)
            if z is None:
                return None
            pos = z[0] + z[1]
            nbytes += fl + z[2]
            continue
        else:
            return None
        pos = end
        nbytes += fl + end - start
        if c is not None:
            attrs = True
            pv = buf[start:end]
        elif not attrs and f.startswith(ATTR):
            attrs = True
    if pos > len(buf):
        return None  # it goes on past the buffer: read it the general way
    empty = not (attrs and n > 3 and len(set(names)) > 3)
    return pos, ct, la, mi, pv, nbytes, empty


def string(buf: bytes, pos: int, cap: int) -> tuple[int, bytes] | None:
    """A string of at most `cap` bytes at buf[pos] (raw, or LZF expanded): (end, it)."""
    b = buf[pos]
    if b < 0x40:
        n, start = b, pos + 1
    elif b < 0x80:
        n, start = ((b & 0x3F) << 8) | buf[pos + 1], pos + 2
    elif b == 0x80:
        n, start = _U32BE(buf, pos + 1)[0], pos + 5
    elif b == _LZF:
        z = _lzf(buf, pos)
        if z is None or z[2] > cap:
            return None
        return _expand(buf, pos)
    else:
        return None
    end = start + n
    if n > cap or end > len(buf):
        return None
    return end, buf[start:end]


# The heads of short LZF strings, by their compressed bytes, declared length and cap: a
# keyspace's unnamed strings (cache entries of a few shapes) repeat the same few.
HEAD_MEMO = 4096
HEAD_MEMO_CLEN = 64
_HEADS: dict[tuple[bytes, int, int], bytes] = {}


def head(buf: bytes, pos: int, cap: int) -> tuple[int, bytes] | None:
    """The first `cap` bytes of a string at buf[pos] (an LZF string expanded no further, as
    Reader.head does): (end, head)."""
    if buf[pos] != _LZF:
        x = string(buf, pos, MAX_KEEP)
        return None if x is None else (x[0], x[1][:cap])
    z = _lzf(buf, pos)
    if z is None:
        return None
    start, clen, ulen = z
    end = start + clen
    if end > len(buf):
        return None
    data = buf[start:end]
    if clen <= HEAD_MEMO_CLEN:  # (a pure function of its input: remembered as it is)
        mk = (data, ulen, cap)
        h = _HEADS.get(mk)
        if h is not None:
            return end, h
    try:
        h = lzf.decompress(data, ulen, cap)
    except RdbCorrupt:
        return None
    if clen <= HEAD_MEMO_CLEN and len(_HEADS) < HEAD_MEMO:
        _HEADS[mk] = h
    return end, h


def skip_string(buf: bytes, pos: int) -> int:
    """The end of any string at buf[pos] (as Reader.skip_string walks it)."""
    b = buf[pos]
    if b < 0x40:
        return pos + 1 + b
    if b < 0x80:
        return pos + 2 + (((b & 0x3F) << 8) | buf[pos + 1])
    if b == 0x80:
        return pos + 5 + _U32BE(buf, pos + 1)[0]
    if b == _LZF:
        b = buf[pos + 1]
        if b < 0x40:
            clen, pos = b, pos + 2
        elif b < 0x80:
            clen, pos = ((b & 0x3F) << 8) | buf[pos + 2], pos + 3
        elif b == 0x80:
            clen, pos = _U32BE(buf, pos + 2)[0], pos + 6
        else:
            return -1
        b = buf[pos]  # its expanded length
        return pos + clen + (1 if b < 0x40 else 2 if b < 0x80 else 5 if b == 0x80 else 1 << 62)
    if b == 0xC0:
        return pos + 2
    if b == 0xC1:
        return pos + 3
    if b == 0xC2:
        return pos + 5
    return -1


_BLOBS = frozenset({9, 10, 11, 12, 13, 16, 17, 20, 23})


def skip_value(buf: bytes, pos: int, t: int) -> int:
    """The end of a value of type t at buf[pos] held in compact encodings (one blob, or a
    quicklist of them): what Parser.value walks for SKIP; -1 for the other types, or when
    it runs past the buffer."""
    if t in _BLOBS:
        end = skip_string(buf, pos)
    elif t == 18 or t == 14:
        b = buf[pos]
        if b < 0x40:
            nodes, pos = b, pos + 1
        elif b < 0x80:
            nodes, pos = ((b & 0x3F) << 8) | buf[pos + 1], pos + 2
        else:
            return -1
        for _ in range(nodes):
            if t == 18:
                b = buf[pos]
                if b >= 0x40:
                    return -1
                pos += 1  # the container (plain or packed)
            pos = skip_string(buf, pos)
            if pos < 0:
                return -1
        end = pos
    else:
        return -1
    return end if 0 <= end <= len(buf) else -1
