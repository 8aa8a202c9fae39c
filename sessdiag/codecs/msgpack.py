"""MessagePack decoded from bytes (own decoder, no dependency), bounded.

Flask-Session ≥ 0.7 stores sessions as msgspec msgpack by default. Values come back typed:
``nil``, ``bool``, ``int``, ``float``, ``str``, ``bin`` (base64), ``array``, ``map`` (a
string-keyed object, else a list of ``{"key", "value"}``), ``timestamp`` (ext -1, as RFC 3339)
and ``ext`` (type code + base64). Every declared length and count is checked against the bytes
left before anything is read; nesting and total elements are bounded.

Cost: every value consumes at least one input byte, and a container's declared count is
checked against both the bytes left and the node budget (MAX_NODES) before any element is
read, so time is linear in the input and a header announcing a million entries fails at once.
Peak memory: at most 400 bytes of Python objects per input byte (measured worst 311: a map of
``0: nil`` pairs, two bytes for three dicts) and at most MAX_NODES typed nodes (~60 MB)
whatever the input.
"""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime
from typing import Final

from sessdiag.codecs import MAX_NODES, parse_whole
from sessdiag.core.errors import DecodeError

MAX_DEPTH: Final = 256
DEFAULT_MAX_SIZE: Final = 16 * 1024 * 1024


class _P:
    __slots__ = ("d", "i", "work")

    def __init__(self, d: bytes) -> None:
        self.d = d
        self.i = 0
        self.work = 0

    def take(self, n: int) -> bytes:
        if n < 0 or n > len(self.d) - self.i:
            raise DecodeError(f"length {n} beyond the data", self.i)
        v = self.d[self.i : self.i + n]
        self.i += n
        return v

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def value(self, depth: int) -> dict:
        if depth > MAX_DEPTH:
            raise DecodeError("nesting too deep", self.i)
        self.work += 1
        if self.work > MAX_NODES:
            raise DecodeError("work budget exhausted", self.i)
        if self.i >= len(self.d):
            raise DecodeError("unexpected end of data", self.i)
        b = self.d[self.i]
        self.i += 1
        if b <= 0x7F:
            return {"type": "int", "value": b}
        if b >= 0xE0:
            return {"type": "int", "value": b - 0x100}
        if 0x80 <= b <= 0x8F:
            return self.map(b & 0x0F, depth)
        if 0x90 <= b <= 0x9F:
            return self.array(b & 0x0F, depth)
        if 0xA0 <= b <= 0xBF:
            return self.str(b & 0x1F)
        if b == 0xC0:
            return {"type": "nil", "value": None}
        if b == 0xC2:
            return {"type": "bool", "value": False}
        if b == 0xC3:
            return {"type": "bool", "value": True}
        if b in (0xC4, 0xC5, 0xC6):
            n = self.uint(1 << (b - 0xC4))
            return {"type": "bin", "value": base64.b64encode(self.take(n)).decode("ascii")}
        if b in (0xC7, 0xC8, 0xC9):
            n = self.uint(1 << (b - 0xC7))
            return self.ext(n)
        if b == 0xCA:
            return {"type": "float", "value": _num(struct.unpack(">f", self.take(4))[0])}
        if b == 0xCB:
            return {"type": "float", "value": _num(struct.unpack(">d", self.take(8))[0])}
        if 0xCC <= b <= 0xCF:
            return {"type": "int", "value": self.uint(1 << (b - 0xCC))}
        if 0xD0 <= b <= 0xD3:
            return {"type": "int",
                    "value": int.from_bytes(self.take(1 << (b - 0xD0)), "big", signed=True)}
        if 0xD4 <= b <= 0xD8:
            return self.ext(1 << (b - 0xD4))
        if 0xD9 <= b <= 0xDB:
            return self.str(self.uint(1 << (b - 0xD9)))
        if b in (0xDC, 0xDD):
            return self.array(self.uint(2 if b == 0xDC else 4), depth)
        if b in (0xDE, 0xDF):
            return self.map(self.uint(2 if b == 0xDE else 4), depth)
        raise DecodeError(f"reserved byte {b:#04x}", self.i - 1)

    def str(self, n: int) -> dict:
        raw = self.take(n)
        try:
            return {"type": "str", "value": raw.decode("utf-8")}
        except UnicodeDecodeError:
            return {"type": "str", "value": base64.b64encode(raw).decode("ascii"),
                    "encoding": "base64"}

    def ext(self, n: int) -> dict:
        code = int.from_bytes(self.take(1), "big", signed=True)
        raw = self.take(n)
        if code == -1 and n in (4, 8, 12):
            return {"type": "timestamp", "value": _timestamp(raw)}
        return {"type": "ext", "value": {"code": code,
                                         "data": base64.b64encode(raw).decode("ascii")}}

    def budget(self, nodes: int) -> None:
        if self.work + nodes > MAX_NODES:
            raise DecodeError("work budget exhausted", self.i)

    def array(self, n: int, depth: int) -> dict:
        if n > len(self.d) - self.i:  # each element takes at least one byte
            raise DecodeError("element count beyond the data", self.i)
        self.budget(n)
        return {"type": "array", "value": [self.value(depth + 1) for _ in range(n)]}

    def map(self, n: int, depth: int) -> dict:
        if 2 * n > len(self.d) - self.i:
            raise DecodeError("element count beyond the data", self.i)
        self.budget(2 * n)
        pairs = [(self.value(depth + 1), self.value(depth + 1)) for _ in range(n)]
        if all(k["type"] == "str" and "encoding" not in k for k, _ in pairs):
            return {"type": "map", "value": {k["value"]: v for k, v in pairs}}
        return {"type": "map", "value": [{"key": k, "value": v} for k, v in pairs]}


def _num(f: float) -> float | str:
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    return f


def _timestamp(raw: bytes) -> str:
    if len(raw) == 4:
        sec, ns = int.from_bytes(raw, "big"), 0
    elif len(raw) == 8:
        v = int.from_bytes(raw, "big")
        ns, sec = v >> 34, v & ((1 << 34) - 1)
    else:
        ns = int.from_bytes(raw[:4], "big")
        sec = int.from_bytes(raw[4:], "big", signed=True)
    try:
        t = datetime.fromtimestamp(sec, UTC).isoformat().replace("+00:00", "")
    except (OverflowError, OSError, ValueError):
        return f"{sec}s+{ns}ns"
    return t + (f".{ns:09d}".rstrip("0") if ns else "") + "Z"


def decode(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> dict:
    """One msgpack value -> typed value; trailing bytes are an error."""
    if len(data) > max_size:
        raise DecodeError(f"value larger than {max_size} bytes", 0)
    return parse_whole(_P(data), len(data))


def decode_session(data: bytes) -> list[dict]:
    """A msgpack map (Flask-Session ≥ 0.7) -> [{"key": typed, "value": typed}]."""
    v = decode(data)
    if v["type"] != "map":
        raise DecodeError("msgpack value is not a map", 0)
    items = v["value"]
    if isinstance(items, dict):
        return [{"key": {"type": "str", "value": k}, "value": x} for k, x in items.items()]
    return list(items)


def looks_like_map(data: bytes) -> bool:
    return bool(data) and (0x80 <= data[0] <= 0x8F or data[0] in (0xDE, 0xDF))
