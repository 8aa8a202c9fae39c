"""Go `encoding/gob` streams decoded from bytes, bounded and without executing anything.

beego (v1.12.x) stores a session as ``session.EncodeGob(map[interface{}]interface{})``: one
gob stream with a type definition for the map (id 65, key and elem = interface) and one value
message. Interface values carry the name the type was registered under (``string``, ``int64``,
``time.Time``, ``main.User`` ...), then type definitions as needed, then the value.

The wire format follows Go's ``src/encoding/gob`` (doc.go, decode.go, decoder.go, type.go).
The one non-obvious part is message framing: type definitions for a value inside an interface
may be flushed as separate messages in the middle of the enclosing value, so, like Go's
``decodeTypeSequence``, a type sequence inside an interface reads the next message when the
current one is used up, and the enclosing value then continues in that new message.

Output is JSON-ready. A *typed* value is ``{"type": T, "value": V}``:

- T inside an interface is the registered name from the wire. Elsewhere (struct fields, map
  keys/elems, slice elems) it is the static type as far as gob preserves it: gob sends every
  signed integer as ``int``, every unsigned one as ``uint`` and both float widths as float64, so
  those come out as ``int64``/``uint64``/``float64``/``complex128``; slices, arrays and maps get
  structural names (``[]string``, ``[2]int64``, ``map[string]interface {}``); structs and
  GobEncoder types get ``CommonType.Name`` (e.g. ``User``), or ``struct { ... }`` if the wire
  name is empty (gob leaves it empty for a struct first seen as a map or array element).
- V: integers exact; floats as numbers, with ``"NaN"``, ``"+Inf"``, ``"-Inf"`` as strings;
  complex as ``[re, im]``; ``[]uint8`` and opaque GobEncoder/BinaryMarshaler payloads as base64;
  ``time.Time`` (and a static GobEncoder named ``Time`` whose payload parses as one) as
  RFC 3339 with offset and trimmed nanoseconds, like Go's ``time.RFC3339Nano``; structs and
  maps keyed by string as objects of typed values; slices/arrays of bool, numbers and strings
  as plain lists, other slices/arrays as lists of typed values; other maps as lists of
  ``{"key": typed, "value": typed}``; a nil interface as ``{"type": "nil", "value": None}``.
- Struct fields gob omitted (zero values) are filled in as Go's decoder would leave them: zero
  numbers, ``""``, ``[]``, ``{}``, nil interface, zero ``time.Time``. A struct or array field
  that is absent can only have been a nil pointer (gob always sends those kinds), so it comes
  out as ``None``.
- Strings that are not valid UTF-8 are kept losslessly: the typed value becomes
  ``{"type": T, "value": <base64 of the raw bytes>, "invalid_utf8": True}``. In a plain list such
  an element is that typed dict instead of a str; a string-keyed map with such a key is
  returned in the entries-list form.

Limits, all enforced while parsing: input size (``max_size``), nesting depth 256, every length
checked against the bytes actually left before anything is sliced, element counts bounded by
the bytes left (each element takes at least one byte), and a budget of output values
(``max_work``, default ``min(MAX_NODES, 100_000 + 2 * len(data))``, MAX_NODES = 250,000) that
also covers zero-filled struct fields, the one place where output can outgrow the input; it
bounds both time (linear in the input, about a second at most) and memory: peak at most
~250 bytes of Python objects per output value, so <= 600 x the input + 48 MiB and never more
than ~64 MB whatever the input (tools/fuzz/targets.py checks it). Any malformed input raises
``DecodeError(reason, offset)``; exceeding the budget does too ("work budget exhausted").

``strict=True`` (the default) also rejects what Go's decoder silently skips: bytes left over
in a message after the value, and for ``decode_session`` anything after the session value
(beego itself decodes only the first value and would ignore such trailing bytes).
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from typing import Any, Final, NoReturn

from sessdiag.codecs import MAX_NODES
from sessdiag.core.errors import DecodeError

__all__ = [
    "DEFAULT_MAX_SIZE",
    "EMPTY_SESSION",
    "MAX_DEPTH",
    "decode_session",
    "decode_stream",
    "is_empty_session",
]

EMPTY_SESSION: Final[bytes] = bytes.fromhex("0eff81040102ff820001100110000004ff820000")
MAX_DEPTH: Final[int] = 256
DEFAULT_MAX_SIZE: Final[int] = 64 * 1024 * 1024

# Go refuses interface type names longer than this (decode.go, decodeInterface).
_MAX_NAME_LEN: Final = 1024
# Synthesized type names beyond these bounds fall back to the wire name, so hostile type graphs
# (map[T]T chains double the name at every level) stay cheap.
_MAX_TYPE_NAME_LEN: Final = 512
_MAX_TYPE_NAME_DEPTH: Final = 64
_FIRST_USER_ID: Final = 65
_MAX_WORK_CAP: Final = MAX_NODES
_MAX_TYPE_ID: Final = (1 << 31) - 1  # typeId is an int32 in Go

# Kinds. 1..8 double as the predefined gob type ids.
_BOOL, _INT, _UINT, _FLOAT, _BYTES, _STRING, _COMPLEX, _IFACE = range(1, 9)
_ARRAY, _SLICE, _STRUCT, _MAP, _GOB_ENC, _BIN_MARSHAL, _TEXT_MARSHAL = range(9, 16)
_PLAIN_KINDS: Final = frozenset({_BOOL, _INT, _UINT, _FLOAT, _STRING, _COMPLEX})
_OPAQUE_KINDS: Final = frozenset({_GOB_ENC, _BIN_MARSHAL, _TEXT_MARSHAL})
# wireType field number -> kind (field order of gob's wireType struct).
_WIRE_KINDS: Final = (_ARRAY, _SLICE, _STRUCT, _MAP, _GOB_ENC, _BIN_MARSHAL, _TEXT_MARSHAL)

_DOUBLE: Final = struct.Struct(">d")
_UNIX_TO_INTERNAL_DAYS: Final = 719162  # days from 0001-01-01 to 1970-01-01
_ZERO_TIME: Final = "0001-01-01T00:00:00Z"


class _Type:
    """One gob type: a predefined basic type or a received wireType."""

    __slots__ = ("elem", "fields", "id", "key", "kind", "length", "name")

    def __init__(
        self,
        tid: int,
        kind: int,
        name: str = "",
        *,
        elem: int = 0,
        key: int = 0,
        length: int = 0,
        fields: tuple[tuple[str, int], ...] = (),
    ) -> None:
        self.id = tid
        self.kind = kind
        self.name = name
        self.elem = elem
        self.key = key
        self.length = length
        self.fields = fields


_BASIC_NAMES: Final = {
    _BOOL: "bool",
    _INT: "int64",
    _UINT: "uint64",
    _FLOAT: "float64",
    _BYTES: "[]uint8",
    _STRING: "string",
    _COMPLEX: "complex128",
    _IFACE: "interface {}",
}
_BUILTINS: Final = {k: _Type(k, k, n) for k, n in _BASIC_NAMES.items()}
_IFACE_TYPE: Final = _BUILTINS[_IFACE]


class _Raw:
    """A string value that is not valid UTF-8, kept as its bytes."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw


_ZeroField = tuple[str, dict[str, Any], Callable[[], Any] | None]


def _zero_complex() -> list[float]:
    return [0.0, 0.0]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _wrap(name: str, v: Any) -> dict[str, Any]:
    if type(v) is _Raw:
        return {"type": name, "value": _b64(v.raw), "invalid_utf8": True}
    return {"type": name, "value": v}


def _float(u: int) -> float | str:
    # gob byte-reverses the IEEE bits so that the exponent goes first (doc.go).
    f: float = _DOUBLE.unpack(u.to_bytes(8, "little"))[0]
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    return f


def _civil(days: int) -> tuple[int, int, int]:
    """Proleptic Gregorian (year, month, day) from days since 1970-01-01, any year."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


def _format_time(p: bytes) -> str | None:
    """time.Time.MarshalBinary bytes -> Go's Format(time.RFC3339Nano); None if not valid."""
    if len(p) == 15 and p[0] == 1:
        extra = 0
    elif len(p) == 16 and p[0] == 2:
        # v2 carries the sub-minute part of the offset as an int8 (MarshalBinary writes
        # int8(offset % 60)); read it signed so negative odd offsets round-trip.
        extra = p[15] - 256 if p[15] > 127 else p[15]
    else:
        return None
    sec = int.from_bytes(p[1:9], "big", signed=True)
    nsec = int.from_bytes(p[9:13], "big", signed=True)
    if not 0 <= nsec < 1_000_000_000:
        return None
    offset = int.from_bytes(p[13:15], "big", signed=True) * 60 + extra
    if offset == -60:  # offsetMin -1 is how MarshalBinary marks UTC
        offset = 0
    days, rem = divmod(sec + offset, 86400)
    year, month, day = _civil(days - _UNIX_TO_INTERNAL_DAYS)
    ystr = f"-{-year:04d}" if year < 0 else f"{year:04d}"
    frac = f".{nsec:09d}".rstrip("0") if nsec else ""
    if offset == 0:
        zone = "Z"
    else:
        # Go derives the sign from the truncated minutes, so -30s prints as +00:00.
        minutes = -(-offset // 60) if offset < 0 else offset // 60
        sign = "-" if minutes < 0 else "+"
        minutes = abs(minutes)
        zone = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    hh, rem = divmod(rem, 3600)
    mm, ss = divmod(rem, 60)
    return f"{ystr}-{month:02d}-{day:02d}T{hh:02d}:{mm:02d}:{ss:02d}{frac}{zone}"


def _is_time_type(t: _Type) -> bool:
    # time.Time is a GobEncoder named "Time" on the wire; the package path is not sent, so a
    # static position can only go by that name (and by the payload parsing as a time).
    return t.name == "Time" and t.kind in (_GOB_ENC, _BIN_MARSHAL)


class _Decoder:
    """Decoder state over one gob stream: Go's single message buffer, as (pos, end)."""

    __slots__ = ("data", "end", "names", "pos", "size", "strict", "types", "work", "zeros")

    def __init__(self, data: bytes, *, strict: bool, max_work: int) -> None:
        self.data = data
        self.pos = 0
        self.end = 0  # end of the current message; pos == end means the buffer is empty
        self.size = len(data)
        self.strict = strict
        self.types: dict[int, _Type] = dict(_BUILTINS)
        self.work = max_work
        self.names: dict[int, str] = dict(_BASIC_NAMES)
        self.zeros: dict[int, list[_ZeroField]] = {}

    # -- primitives --------------------------------------------------------------------------

    def fail(self, reason: str) -> NoReturn:
        raise DecodeError(reason, self.pos)

    def charge(self, units: int) -> None:
        self.work -= units
        if self.work < 0:
            self.fail("work budget exhausted")

    def uint(self) -> int:
        pos = self.pos
        if pos >= self.end:
            self.fail("unexpected end of message")
        b = self.data[pos]
        if b < 0x80:
            self.pos = pos + 1
            return b
        n = 256 - b  # the count byte is the negated length of the big-endian value
        if n > 8:
            self.fail("integer byte count out of range")
        stop = pos + 1 + n
        if stop > self.end:
            self.fail("integer runs past end of message")
        self.pos = stop
        return int.from_bytes(self.data[pos + 1 : stop], "big")

    def int(self) -> int:
        u = self.uint()
        return ~(u >> 1) if u & 1 else u >> 1

    def span(self, what: str) -> bytes:
        n = self.uint()
        pos = self.pos
        if n > self.end - pos:
            self.fail(f"{what} length {n} exceeds the {self.end - pos} bytes left in message")
        self.pos = pos + n
        return self.data[pos : pos + n]

    def string(self) -> str | _Raw:
        raw = self.span("string")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return _Raw(raw)

    def name(self, what: str) -> str:
        raw = self.span(what)
        if len(raw) > _MAX_NAME_LEN:
            self.fail(f"{what} longer than {_MAX_NAME_LEN} bytes")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.fail(f"{what} is not valid UTF-8")

    def count(self, per_item: int) -> int:
        # Elements may continue in later messages (interface type definitions are flushed
        # mid-value), so the bound is the rest of the stream, not of the message.
        n = self.uint()
        if n * per_item > self.size - self.pos:
            self.fail(f"element count {n} exceeds the {self.size - self.pos} bytes left")
        self.charge(n * per_item)
        return n

    # -- framing and type definitions --------------------------------------------------------

    def next_message(self) -> None:
        pos = self.pos
        if pos >= self.size:
            self.fail("unexpected end of stream: message expected")
        self.end = self.size  # the length prefix sits between messages
        n = self.uint()
        if n == 0:
            self.fail("empty message")
        if n > self.size - self.pos:
            self.fail(f"message length {n} exceeds the {self.size - self.pos} bytes left")
        self.end = self.pos + n

    def type_sequence(self, in_interface: bool) -> int:
        """Read type definitions until a value's type id (Go's decodeTypeSequence)."""
        while True:
            if self.pos == self.end:
                self.next_message()
            tid = self.int()
            if tid >= 0:
                if tid > _MAX_TYPE_ID:
                    self.fail(f"type id {tid} out of range")
                return tid
            self.define(-tid)
            if self.pos < self.end:
                if not in_interface:
                    self.fail("extra data after type definition")
                # Inside an interface the definition is followed by the byte count of the
                # next delimited chunk; Go skips it too.
                self.uint()

    def define(self, tid: int) -> None:
        if tid < _FIRST_USER_ID or tid > _MAX_TYPE_ID:
            self.fail(f"type id {tid} cannot be defined")
        if tid in self.types:
            self.fail(f"duplicate definition of type id {tid}")
        self.charge(1)
        self.types[tid] = self.wire_type(tid)

    def type_ref(self) -> int:
        tid = self.int()
        if not (_BOOL <= tid <= _IFACE or _FIRST_USER_ID <= tid <= _MAX_TYPE_ID):
            self.fail(f"invalid component type id {tid}")
        return tid

    def common(self) -> tuple[str, int]:
        name, cid = "", 0
        fnum = -1
        while (delta := self.uint()) != 0:
            fnum += delta
            if fnum == 0:
                name = self.name("type name")
            elif fnum == 1:
                cid = self.int()
            else:
                self.fail("bad CommonType field")
        return name, cid

    def wire_type(self, tid: int) -> _Type:
        found: _Type | None = None
        fnum = -1
        while (delta := self.uint()) != 0:
            fnum += delta
            if fnum >= len(_WIRE_KINDS):
                self.fail("bad wireType field")
            if found is not None:
                self.fail("wireType defines more than one kind")
            found = self.wire_kind(tid, _WIRE_KINDS[fnum])
        if found is None:
            self.fail("wireType defines no kind")
        return found

    def wire_kind(self, tid: int, kind: int) -> _Type:
        name = ""
        elem = key = length = 0
        fields: tuple[tuple[str, int], ...] = ()
        fnum = -1
        while (delta := self.uint()) != 0:
            fnum += delta
            if fnum == 0:
                name, _ = self.common()
            elif kind == _ARRAY and fnum == 1:
                elem = self.type_ref()
            elif kind == _ARRAY and fnum == 2:
                length = self.int()
                if length < 0:
                    self.fail("negative array length")
            elif kind == _SLICE and fnum == 1:
                elem = self.type_ref()
            elif kind == _STRUCT and fnum == 1:
                fields = self.field_types()
            elif kind == _MAP and fnum == 1:
                key = self.type_ref()
            elif kind == _MAP and fnum == 2:
                elem = self.type_ref()
            else:
                self.fail("bad field in type definition")
        if kind in (_ARRAY, _SLICE, _MAP) and not elem:
            self.fail("type definition without element type")
        if kind == _MAP and not key:
            self.fail("map type definition without key type")
        return _Type(tid, kind, name, elem=elem, key=key, length=length, fields=fields)

    def field_types(self) -> tuple[tuple[str, int], ...]:
        n = self.count(1)
        out: list[tuple[str, int]] = []
        seen: set[str] = set()
        for _ in range(n):
            fname, ftid = "", 0
            fnum = -1
            while (delta := self.uint()) != 0:
                fnum += delta
                if fnum == 0:
                    fname = self.name("field name")
                elif fnum == 1:
                    ftid = self.type_ref()
                else:
                    self.fail("bad fieldType field")
            if not fname or not ftid:
                self.fail("struct field without name or type")
            if fname in seen:
                self.fail(f"duplicate struct field {fname!r}")
            seen.add(fname)
            out.append((fname, ftid))
        return tuple(out)

    def lookup(self, tid: int) -> _Type:
        t = self.types.get(tid)
        if t is None:
            self.fail(f"type id {tid} used but not defined")
        return t

    # -- names -------------------------------------------------------------------------------

    def tname(self, t: _Type) -> str:
        n = self.names.get(t.id)
        if n is None:
            n = self._build_name(t, set(), 0)
        return n

    def _build_name(self, t: _Type, visiting: set[int], depth: int) -> str:
        cached = self.names.get(t.id)
        if cached is not None:
            return cached
        kind = t.kind
        if kind <= _IFACE:
            return _BASIC_NAMES[kind]
        fallback = t.name or f"gob-type-{t.id}"
        if kind in _OPAQUE_KINDS and _is_time_type(t):
            self.names[t.id] = "time.Time"
            return "time.Time"
        if kind in _OPAQUE_KINDS or (kind == _STRUCT and t.name):
            self.names[t.id] = fallback
            return fallback
        if t.id in visiting or depth > _MAX_TYPE_NAME_DEPTH:
            return fallback
        visiting.add(t.id)
        undefined: list[int] = []
        try:

            def sub(tid: int) -> str:
                st = self.types.get(tid)
                if st is None:
                    undefined.append(tid)
                    return ""
                return self._build_name(st, visiting, depth + 1)

            if kind == _SLICE:
                name = "[]" + sub(t.elem)
            elif kind == _ARRAY:
                name = f"[{t.length}]" + sub(t.elem)
            elif kind == _MAP:
                name = f"map[{sub(t.key)}]{sub(t.elem)}"
            else:  # struct without a wire name: spell it like reflect does
                parts = "; ".join(f"{f} {sub(ft)}" for f, ft in t.fields[:64])
                name = f"struct {{ {parts} }}" if parts else "struct {}"
        finally:
            visiting.discard(t.id)
        if len(name) > _MAX_TYPE_NAME_LEN or undefined:
            name = fallback
        self.names[t.id] = name
        return name

    # -- values ------------------------------------------------------------------------------

    def typed(self, t: _Type, depth: int) -> dict[str, Any]:
        """A value at a position with static type t, as a typed dict."""
        kind = t.kind
        if kind == _IFACE:
            # Inlined rather than a method of its own: each Python frame per nesting level
            # counts against the interpreter's recursion limit.
            n = self.uint()
            if n == 0:
                return {"type": "nil", "value": None}
            iname = self._iface_name(n)
            ct = self.lookup(self.type_sequence(True))
            if ct.kind == _IFACE:
                self.fail("interface holds an interface type")
            self.uint()  # byte count of the value; Go ignores it (it can omit nested types)
            self.charge(1)
            if ct.kind != _STRUCT and self.uint() != 0:
                self.fail("non-zero delta for singleton")
            if ct.kind in _OPAQUE_KINDS:
                return self.opaque(ct, iname)
            return _wrap(iname, self.plain(ct, depth))
        if kind in _OPAQUE_KINDS:
            return self.opaque(t, None)
        v = self.plain(t, depth)
        name = self.names.get(t.id) or self.tname(t)
        if type(v) is _Raw:
            return _wrap(name, v)
        return {"type": name, "value": v}

    def _iface_name(self, n: int) -> str:
        pos = self.pos
        if n > self.end - pos:
            self.fail(f"interface type name length {n} exceeds the message")
        if n > _MAX_NAME_LEN:
            self.fail(f"interface type name longer than {_MAX_NAME_LEN} bytes")
        self.pos = pos + n
        try:
            return self.data[pos : pos + n].decode("utf-8")
        except UnicodeDecodeError:
            self.pos = pos
            self.fail("interface type name is not valid UTF-8")

    def plain(self, t: _Type, depth: int) -> Any:
        """The bare value V of a non-interface, non-opaque type."""
        kind = t.kind
        if kind == _STRING:
            return self.string()
        if kind == _INT:
            u = self.uint()
            return ~(u >> 1) if u & 1 else u >> 1
        if kind == _UINT:
            return self.uint()
        if kind == _BOOL:
            return self.uint() != 0
        if kind == _FLOAT:
            return _float(self.uint())
        if kind == _BYTES:
            return _b64(self.span("[]byte"))
        if kind == _COMPLEX:
            return [_float(self.uint()), _float(self.uint())]
        if depth >= MAX_DEPTH:
            self.fail(f"nesting deeper than {MAX_DEPTH}")
        depth += 1
        if kind in (_SLICE, _ARRAY):
            start = self.pos
            n = self.count(1)
            if kind == _ARRAY and n != t.length:
                self.pos = start
                self.fail(f"array length {n} does not match its type's {t.length}")
            et = self.lookup(t.elem)
            if et.kind in _PLAIN_KINDS:
                out = [self.plain(et, depth) for _ in range(n)]
                if et.kind == _STRING:
                    out = [_wrap("string", x) if type(x) is _Raw else x for x in out]
                return out
            return [self.typed(et, depth) for _ in range(n)]
        if kind == _MAP:
            n = self.count(2)
            kt = self.lookup(t.key)
            vt = self.lookup(t.elem)
            if kt.kind == _STRING:
                pairs = [(self.string(), self.typed(vt, depth)) for _ in range(n)]
                if all(type(k) is str for k, _ in pairs):
                    return dict(pairs)
                kname = self.tname(kt)
                return [{"key": _wrap(kname, k), "value": v} for k, v in pairs]
            return [
                {"key": self.typed(kt, depth), "value": self.typed(vt, depth)} for _ in range(n)
            ]
        if kind == _STRUCT:
            fields = t.fields
            nf = len(fields)
            self.charge(nf)
            got: dict[str, Any] = {}
            fnum = -1
            while (delta := self.uint()) != 0:
                fnum += delta
                if fnum >= nf:
                    self.fail(f"field number {fnum} out of range for {self.tname(t)}")
                fname, ftid = fields[fnum]
                got[fname] = self.typed(self.lookup(ftid), depth)
            if len(got) == nf:
                return got
            # Go leaves omitted (zero) fields at their zero value; so do we, in field order.
            out: dict[str, Any] = {}
            for fname, tmpl, fresh in self.zeros.get(t.id) or self.zero_fields(t):
                v = got.get(fname)
                if v is None:
                    v = tmpl.copy()
                    if fresh is not None:
                        v["value"] = fresh()
                out[fname] = v
            return out
        self.fail(f"cannot decode a value of kind {kind} here")

    def opaque(self, t: _Type, iname: str | None) -> dict[str, Any]:
        """GobEncoder / BinaryMarshaler / TextMarshaler payload: a counted byte string."""
        payload = self.span("GobEncoder payload")
        is_time = iname == "time.Time" if iname is not None else _is_time_type(t)
        if is_time and t.kind != _TEXT_MARSHAL:
            text = _format_time(payload)
            if text is not None:
                return {"type": "time.Time", "value": text}
            if iname is not None:
                self.fail("invalid time.Time payload")
        # A static "Time" whose payload is not a time keeps its wire name, not time.Time.
        name = iname if iname is not None else t.name or self.tname(t)
        if t.kind == _TEXT_MARSHAL:
            try:
                return {"type": name, "value": payload.decode("utf-8")}
            except UnicodeDecodeError:
                return _wrap(name, _Raw(payload))
        return {"type": name, "value": _b64(payload)}

    def zero_fields(self, t: _Type) -> list[_ZeroField]:
        """Per struct type, once: each field's typed zero value as a template to copy.

        The third item builds a fresh mutable value ([] or {}), so no two results share one.
        """
        cached = self.zeros.get(t.id)
        if cached is not None:
            return cached
        out: list[_ZeroField] = []
        for fname, ftid in t.fields:
            ft = self.lookup(ftid)
            kind = ft.kind
            fresh: Callable[[], Any] | None = None
            # None for a struct or array (gob always sends those, so absent means a nil
            # pointer) and for an opaque type other than time (its zero payload is unknown).
            v: Any = None
            if kind in (_INT, _UINT):
                v = 0
            elif kind == _FLOAT:
                v = 0.0
            elif kind in (_STRING, _BYTES):
                v = ""
            elif kind == _BOOL:
                v = False
            elif kind == _COMPLEX:
                fresh = _zero_complex
            elif kind == _SLICE:
                fresh = list
            elif kind == _MAP:
                fresh = dict if self.lookup(ft.key).kind == _STRING else list
            if kind == _IFACE:
                tmpl = {"type": "nil", "value": None}
            elif kind in _OPAQUE_KINDS and _is_time_type(ft):
                tmpl = {"type": "time.Time", "value": _ZERO_TIME}
            else:
                tmpl = {"type": self.tname(ft), "value": v}
            out.append((fname, tmpl, fresh))
        self.zeros[t.id] = out
        return out

    # -- top level ---------------------------------------------------------------------------

    def top_value(self, t: _Type) -> dict[str, Any]:
        if t.kind == _IFACE:
            self.fail("top-level value of interface type")
        # Non-struct values at top level are sent as a struct of one field (delta 0).
        if t.kind != _STRUCT and self.uint() != 0:
            self.fail("non-zero delta for singleton")
        return self.typed(t, 0)

    def end_of_value(self) -> None:
        if self.pos != self.end:
            if self.strict:
                self.fail(f"{self.end - self.pos} unread bytes at end of message")
            self.pos = self.end

    def stream(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while self.pos < self.size:
            out.append(self.top_value(self.lookup(self.type_sequence(False))))
            self.end_of_value()
        return out

    def session(self) -> list[dict[str, Any]]:
        t = self.lookup(self.type_sequence(False))
        if t.kind != _MAP or t.key != _IFACE or t.elem != _IFACE:
            self.fail(
                f"not a session: top-level type is {self.tname(t)}, "
                "want map[interface {}]interface {}"
            )
        if self.uint() != 0:
            self.fail("non-zero delta for singleton")
        n = self.count(2)
        entries = [
            {"key": self.typed(_IFACE_TYPE, 1), "value": self.typed(_IFACE_TYPE, 1)}
            for _ in range(n)
        ]
        self.end_of_value()
        if self.strict and self.pos != self.size:
            self.fail(f"{self.size - self.pos} bytes after the session value")
        return entries


# -- public API ------------------------------------------------------------------------------


def _prepare(data: bytes, max_size: int) -> bytes:
    if not isinstance(data, bytes):
        data = bytes(data)
    if len(data) > max_size:
        raise DecodeError(f"input of {len(data)} bytes exceeds the {max_size}-byte limit", 0)
    return data


def _work_limit(size: int, max_work: int | None) -> int:
    # One unit per output value. Each costs ~200 bytes of memory and ~0.5 us, so the cap keeps
    # any input under roughly 250 MB and half a second. Outside zero-filled struct fields every
    # value costs an input byte, so real sessions stay far below 2 units per byte.
    if max_work is not None:
        return max_work
    return min(_MAX_WORK_CAP, 100_000 + 2 * size)


def _run(dec: _Decoder, session: bool) -> list[dict[str, Any]]:
    try:
        return dec.session() if session else dec.stream()
    except DecodeError:
        raise
    except RecursionError:
        raise DecodeError("nesting too deep for the Python stack", dec.pos) from None
    except (LookupError, ValueError, TypeError, ArithmeticError, struct.error, MemoryError) as exc:
        # A safety net so callers only ever see DecodeError; tests assert it never fires.
        raise DecodeError(f"internal decoder error ({type(exc).__name__})", dec.pos) from exc


def decode_session(
    data: bytes,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    strict: bool = True,
    max_work: int | None = None,
) -> list[dict[str, Any]]:
    """beego session bytes -> [{"key": typed, "value": typed}, ...] in wire order. b"" -> [].

    A 0-byte file is an empty session to beego (it never decodes it). Anything that is not a
    gob stream holding one map[interface{}]interface{} raises DecodeError.
    """
    data = _prepare(data, max_size)
    if not data or data == EMPTY_SESSION:
        return []
    dec = _Decoder(data, strict=strict, max_work=_work_limit(len(data), max_work))
    return _run(dec, True)


def decode_stream(
    data: bytes,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    strict: bool = True,
    max_work: int | None = None,
) -> list[dict[str, Any]]:
    """Every top-level value of a gob stream, as typed values, in stream order."""
    data = _prepare(data, max_size)
    dec = _Decoder(data, strict=strict, max_work=_work_limit(len(data), max_work))
    return _run(dec, False)


def is_empty_session(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> bool:
    """True for b"" and for a valid session map with zero entries; False otherwise."""
    if not data or data == EMPTY_SESSION:
        return True
    try:
        return not decode_session(data, max_size=max_size)
    except DecodeError:
        return False
