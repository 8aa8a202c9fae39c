"""A small RDB writer for hand-built test vectors (every version 1–12, every encoding).

It writes what src/rdb.c (rdbSave*), listpack.c, ziplist.c, intset.c and zipmap.c write, one
record at a time, so a vector can hold exactly the encodings a Redis version could produce,
including those no installed server writes any more (zipmap, ziplist, quicklist 1) or not yet
(Redis 7.2's set listpacks, 7.4's hashes with field expiry). Not used by sessdiag itself.
"""

from __future__ import annotations

import struct

# -- CRC64 (Jones, reflected; what Redis appends after EOF from RDB 5 on) -----------------------
_POLY = 0x95AC9329AC4BC9B5
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc64(data: bytes, crc: int = 0) -> int:
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA


# -- primitives ----------------------------------------------------------------------------------
def length(n: int) -> bytes:
    if n < 64:
        return bytes([n])
    if n < 16384:
        return bytes([0x40 | n >> 8, n & 0xFF])
    if n <= 0xFFFFFFFF:
        return b"\x80" + struct.pack(">I", n)
    return b"\x81" + struct.pack(">Q", n)


def lzf_literal(data: bytes) -> bytes:
    """A valid LZF stream of literal runs plus one back-reference when the data repeats."""
    out = bytearray()
    i = 0
    while i < len(data):
        run = data[i:i + 32]
        out.append(len(run) - 1)
        out += run
        i += len(run)
    return bytes(out)


def lzf_repeat(unit: bytes, times: int) -> bytes:
    """LZF for unit*times: the unit as a literal, then back-references to it (overlapping)."""
    assert 1 <= len(unit) <= 32 and times >= 2
    out = bytearray([len(unit) - 1]) + unit
    left = len(unit) * (times - 1)
    off = len(unit) - 1
    while left:
        run = min(left, 264)
        if run < 3:  # too short for a back-reference: literal
            out.append(run - 1)
            out += (unit * 3)[:run]
            break
        ln = run - 2
        if ln < 7:
            out.append(ln << 5 | off >> 8)
        else:
            out.append(7 << 5 | off >> 8)
            out.append(ln - 7)
        out.append(off & 0xFF)
        left -= run
    return bytes(out)


def string(s: bytes | int, enc: str = "raw") -> bytes:
    if isinstance(s, int) or enc == "int":
        v = int(s)
        if -128 <= v < 128:
            return b"\xc0" + struct.pack("<b", v)
        if -32768 <= v < 32768:
            return b"\xc1" + struct.pack("<h", v)
        return b"\xc2" + struct.pack("<i", v)
    if enc == "lzf":
        comp = lzf_literal(s)
        return b"\xc3" + length(len(comp)) + length(len(s)) + comp
    if enc.startswith("lzf-repeat:"):
        unit = s[:int(enc.split(":")[1])]
        comp = lzf_repeat(unit, len(s) // len(unit))
        return b"\xc3" + length(len(comp)) + length(len(s)) + comp
    return length(len(s)) + s


def _num(x: bytes) -> int | None:
    try:
        v = int(x)
    except ValueError:
        return None
    return v if str(v).encode() == x else None


# -- compact encodings ---------------------------------------------------------------------------
def listpack(items: list[bytes]) -> bytes:
    body = bytearray()
    for x in items:
        v = _num(x)
        if v is not None and 0 <= v < 128:
            e = bytes([v])
        elif v is not None and -4096 <= v < 4096:
            u = v & 0x1FFF
            e = bytes([0xC0 | u >> 8, u & 0xFF])
        elif v is not None and -32768 <= v < 32768:
            e = b"\xf1" + struct.pack("<h", v)
        elif v is not None and -(1 << 23) <= v < 1 << 23:
            e = b"\xf2" + (v & 0xFFFFFF).to_bytes(3, "little")
        elif v is not None and -(1 << 31) <= v < 1 << 31:
            e = b"\xf3" + struct.pack("<i", v)
        elif v is not None and -(1 << 63) <= v < 1 << 63:
            e = b"\xf4" + struct.pack("<q", v)
        elif len(x) < 64:
            e = bytes([0x80 | len(x)]) + x
        elif len(x) < 4096:
            e = bytes([0xE0 | len(x) >> 8, len(x) & 0xFF]) + x
        else:
            e = b"\xf0" + struct.pack("<I", len(x)) + x
        n = len(e)
        back = []
        while True:  # backlen: 7 bits per byte, most significant first, high bit = more
            back.append(n & 0x7F)
            n >>= 7
            if not n:
                break
        bl = bytes(b | (0x80 if i else 0) for i, b in enumerate(back))[::-1]
        body += e + bl
    total = 6 + len(body) + 1
    return struct.pack("<IH", total, min(len(items), 0xFFFF)) + bytes(body) + b"\xff"


def ziplist(items: list[bytes]) -> bytes:
    body = bytearray()
    prev = 0
    tail = 10
    for x in items:
        pl = bytes([prev]) if prev < 254 else b"\xfe" + struct.pack("<I", prev)
        v = _num(x)
        if v is not None and 0 <= v <= 12:
            e = bytes([0xF1 + v])
        elif v is not None and -128 <= v < 128:
            e = b"\xfe" + struct.pack("<b", v)
        elif v is not None and -32768 <= v < 32768:
            e = b"\xc0" + struct.pack("<h", v)
        elif v is not None and -(1 << 23) <= v < 1 << 23:
            e = b"\xf0" + (v & 0xFFFFFF).to_bytes(3, "little")
        elif v is not None and -(1 << 31) <= v < 1 << 31:
            e = b"\xd0" + struct.pack("<i", v)
        elif v is not None and -(1 << 63) <= v < 1 << 63:
            e = b"\xe0" + struct.pack("<q", v)
        elif len(x) < 64:
            e = bytes([len(x)]) + x
        elif len(x) < 16384:
            e = bytes([0x40 | len(x) >> 8, len(x) & 0xFF]) + x
        else:
            e = b"\x80" + struct.pack(">I", len(x)) + x
        tail = 10 + len(body)
        entry = pl + e
        body += entry
        prev = len(entry)
    total = 10 + len(body) + 1
    return struct.pack("<IIH", total, tail, min(len(items), 0xFFFF)) + bytes(body) + b"\xff"


def intset(values: list[int]) -> bytes:
    values = sorted(values)
    w = 2 if all(-32768 <= v < 32768 for v in values) else (
        4 if all(-(1 << 31) <= v < 1 << 31 for v in values) else 8)
    fmt = {2: "<h", 4: "<i", 8: "<q"}[w]
    return struct.pack("<II", w, len(values)) + b"".join(struct.pack(fmt, v) for v in values)


def zipmap(pairs: list[tuple[bytes, bytes]]) -> bytes:
    out = bytearray([len(pairs) if len(pairs) < 254 else 254])

    def zl(n: int) -> bytes:
        return bytes([n]) if n < 254 else b"\xfe" + struct.pack("<I", n)
    for k, v in pairs:
        out += zl(len(k)) + k + zl(len(v)) + b"\x00" + v
    return bytes(out) + b"\xff"


def score_str(s: float) -> bytes:
    txt = repr(float(s)).encode() if s != int(s) else str(int(s)).encode()
    return bytes([len(txt)]) + txt


# -- the file ------------------------------------------------------------------------------------
class RdbWriter:
    def __init__(self, version: int) -> None:
        self.version = version
        self.out = bytearray(b"REDIS%04d" % version)

    def op(self, code: int, payload: bytes = b"") -> None:
        self.out += bytes([code]) + payload

    def aux(self, k: bytes, v: bytes) -> None:
        self.op(0xFA, string(k) + string(v))

    def select(self, db: int) -> None:
        self.op(0xFE, length(db))

    def resizedb(self, keys: int, expires: int) -> None:
        self.op(0xFB, length(keys) + length(expires))

    def slot_info(self, slot: int, keys: int, expires: int) -> None:
        self.op(0xF4, length(slot) + length(keys) + length(expires))

    def function2(self, code: bytes) -> None:
        self.op(0xF5, string(code))

    def module_aux(self, module_id: int, payload: bytes) -> None:
        self.op(0xF7, length(module_id) + length(2) + length(2) + payload)

    def key(self, rtype: int, key: bytes, payload: bytes, *, expire_ms: int | None = None,
            expire_s: int | None = None, idle: int | None = None,
            freq: int | None = None) -> None:
        if expire_s is not None:
            self.op(0xFD, struct.pack("<i", expire_s))
        if expire_ms is not None:
            self.op(0xFC, struct.pack("<q", expire_ms))
        if idle is not None:
            self.op(0xF8, length(idle))
        if freq is not None:
            self.op(0xF9, bytes([freq]))
        self.out += bytes([rtype]) + string(key) + payload

    def finish(self) -> bytes:
        self.out += b"\xff"
        if self.version >= 5:
            self.out += struct.pack("<Q", crc64(bytes(self.out)))
        return bytes(self.out)


def module_value(module_id: int, ops: list[tuple[int, object]]) -> bytes:
    """A module v2 value: [(opcode, value)], ended by the EOF opcode."""
    out = bytearray(length(module_id))
    for op, v in ops:
        out += length(op)
        if op in (1, 2):
            out += length(int(v))  # type: ignore[arg-type]
        elif op == 3:
            out += struct.pack("<f", v)
        elif op == 4:
            out += struct.pack("<d", v)
        else:
            out += string(v)  # type: ignore[arg-type]
    return bytes(out + length(0))
