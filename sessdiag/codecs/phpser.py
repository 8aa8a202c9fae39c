"""PHP's session encodings, parsed from bytes: never unserialize(), never instantiate objects.

Handlers: `php` (the default: `name|<serialized>` repeated), `php_serialize` (one serialized
array) and `php_binary` is not supported. Values come back typed like every decoder here:
{"type": "int"|"string"|"array"|"bool"|"float"|"null"|<class name>, "value": ...}.
Objects are shown as their class name and property dict; nothing runs.

Bounds: arrays and objects nest at most MAX_DEPTH (256) levels; every declared length and count
is checked against the bytes left before anything is read; integers and floats are at most 24
and 64 characters. Time is linear in the input (each byte is looked at a bounded number of
times: one `find` per token, which then consumes what it scanned). Peak memory is at most
about 150 bytes of Python objects per input byte (an element needs >= 6 input bytes, `i:0;N;`,
and costs ~630 bytes of typed dicts and lists; measured 104 B/byte) plus the input, and at most
MAX_NODES values (keys count) per decode: ~80 MB whatever the input.
"""

from __future__ import annotations

import base64
import math
import re

from sessdiag.codecs import MAX_NODES
from sessdiag.core.errors import DecodeError

MAX_DEPTH = 256
MAX_ITEMS = MAX_NODES  # values (keys count too) one decode may read
# PHP's own grammar (ext/standard/var_unserializer.re): `iv = [+-]? [0-9]+` for integers and
# `uiv = [0-9]+` for lengths and counts. One sign, then digits: `-+5` and `--1` are not numbers.
_SIGNED = re.compile(rb"[+-]?[0-9]+")
_UNSIGNED = re.compile(rb"[0-9]+")


class _Parser:
    def __init__(self, data: bytes) -> None:
        self.d = data
        self.i = 0
        self.items = 0

    def fail(self, msg: str) -> DecodeError:
        return DecodeError(msg, self.i)

    def expect(self, ch: bytes) -> None:
        if self.d[self.i : self.i + 1] != ch:
            raise self.fail(f"expected {ch.decode()!r}")
        self.i += 1

    def until(self, ch: bytes) -> bytes:
        j = self.d.find(ch, self.i)
        if j < 0:
            raise self.fail(f"missing {ch.decode()!r}")
        out = self.d[self.i : j]
        self.i = j + 1
        return out

    def int_until(self, ch: bytes, signed: bool = True) -> int:
        raw = self.until(ch)
        if len(raw) > 24 or not (_SIGNED if signed else _UNSIGNED).fullmatch(raw):
            raise self.fail("bad integer" if signed else "bad length")
        return int(raw)

    def string_body(self) -> bytes:
        n = self.int_until(b":", signed=False)
        if n > len(self.d) - self.i - 2:
            raise self.fail("string length beyond the data")
        self.expect(b'"')
        s = self.d[self.i : self.i + n]
        self.i += n
        self.expect(b'"')
        return s

    def value(self, depth: int) -> dict:
        """One value inside `depth` enclosing arrays/objects."""
        self.items += 1
        if self.items > MAX_ITEMS:
            raise self.fail("too many elements")
        tag = self.d[self.i : self.i + 1]
        if not tag:
            raise self.fail("unexpected end of data")
        self.i += 1
        if tag == b"N":
            self.expect(b";")
            return {"type": "null", "value": None}
        self.expect(b":")
        if tag == b"b":
            raw = self.until(b";")
            if raw not in (b"0", b"1"):  # PHP: "b:" [01] ";"
                raise self.fail("bad bool")
            return {"type": "bool", "value": raw == b"1"}
        if tag == b"i":
            return {"type": "int", "value": self.int_until(b";")}
        if tag == b"d":
            raw = self.until(b";")
            if len(raw) > 64:
                raise self.fail("bad float")
            try:
                f = float(raw.decode("ascii"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise self.fail("bad float") from exc
            if math.isnan(f) or math.isinf(f):
                return {"type": "float", "value": str(f)}
            return {"type": "float", "value": f}
        if tag == b"s":
            s = self.string_body()
            self.expect(b";")
            return _string(s)
        if tag in (b"r", b"R"):
            return {"type": "reference", "value": self.int_until(b";")}
        if tag == b"a":
            return {"type": "array", "value": self.array_body(depth)}
        if tag == b"O":
            cls = self.string_body()
            self.expect(b":")
            props = self.array_body(depth)
            return {"type": cls.decode("utf-8", "replace"), "value": props}
        if tag == b"E":
            s = self.string_body()
            self.expect(b";")
            return {"type": "enum", "value": s.decode("utf-8", "replace")}
        if tag == b"C":
            cls = self.string_body()
            self.expect(b":")
            n = self.int_until(b":", signed=False)
            if n > len(self.d) - self.i - 2:
                raise self.fail("custom payload length beyond the data")
            self.expect(b"{")
            raw = self.d[self.i : self.i + n]
            self.i += n
            self.expect(b"}")
            return {"type": cls.decode("utf-8", "replace"),
                    "value": base64.b64encode(raw).decode("ascii")}
        raise DecodeError(f"unknown type tag {tag!r}", self.i - 1)

    def array_body(self, depth: int) -> dict | list:
        # An array (or object) at `depth` is nesting level depth + 1.
        if depth >= MAX_DEPTH:
            raise self.fail("nesting too deep")
        n = self.int_until(b":", signed=False)
        # Each element needs at least 4 bytes ("i:0;" key + "N;" value); bound before looping.
        if n * 4 > len(self.d) - self.i:
            raise self.fail("element count beyond the data")
        if self.items + 2 * n > MAX_ITEMS:  # refused before reading: key + value per element
            raise self.fail("too many elements")
        self.expect(b"{")
        pairs = []
        for _ in range(n):
            k = self.value(depth + 1)
            if k["type"] not in ("int", "string"):
                raise self.fail("array key must be int or string")
            pairs.append((k, self.value(depth + 1)))
        self.expect(b"}")
        # Binary keys are base64 text: kept as typed pairs, never mistaken for text keys.
        if all(k["type"] == "string" and "encoding" not in k for k, _ in pairs):
            return {str(k["value"]): v for k, v in pairs}
        return [{"key": k, "value": v} for k, v in pairs]


def _string(s: bytes) -> dict:
    try:
        return {"type": "string", "value": s.decode("utf-8")}
    except UnicodeDecodeError:
        return {"type": "string", "value": base64.b64encode(s).decode("ascii"),
                "encoding": "base64"}


def decode_serialized(data: bytes) -> dict:
    """One `serialize()` value."""
    p = _Parser(data)
    v = p.value(0)
    if p.i != len(data):
        raise p.fail("trailing bytes")
    return v


def decode_session(data: bytes) -> list[dict]:
    """A PHP session payload -> [{"key": typed, "value": typed}]. b"" -> [].

    Tries the default `php` handler (`name|value` pairs), then `php_serialize`.
    """
    if not data:
        return []
    if data[:2] == b"a:":
        try:
            v = decode_serialized(data)
        except DecodeError:
            pass
        else:
            items = v["value"]
            if isinstance(items, dict):
                return [{"key": {"type": "string", "value": k}, "value": val}
                        for k, val in items.items()]
            return list(items)
    p = _Parser(data)
    out = []
    while p.i < len(data):
        bar = data.find(b"|", p.i)
        if bar < 0:
            raise p.fail("missing '|' after a session variable name")
        name = data[p.i : bar]
        if not name or b";" in name or b"}" in name:
            raise p.fail("bad session variable name")
        p.i = bar + 1
        out.append({"key": _string(name), "value": p.value(0)})
    return out


def is_empty_session(data: bytes) -> bool:
    return not decode_session(data)
