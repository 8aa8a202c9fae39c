"""Ruby `Marshal.dump` (format 4.8) parsed from bytes: keys and simple values, nothing loaded.

Rails' redis-session-store and redis-rack/redis-actionpack store ``Marshal.dump(session_hash)``.
Values come back typed with Ruby's class names: ``NilClass``, ``TrueClass``, ``FalseClass``,
``Integer``, ``Float``, ``String`` (UTF-8 text, or base64 with ``"encoding": "base64"`` for binary),
``Symbol``, ``Array``, ``Hash`` (string/symbol-keyed -> object, else a list of pairs), and for
objects, structs and user-marshalled data the class name with their instance variables or raw
payload (base64). No class is ever looked up or instantiated. Every length is checked against
the bytes left; depth, element counts and total work are bounded.

An object link (``@n``, Ruby's "the same object again") to a scalar (String, Float, Bignum,
Regexp, Class …) shows a copy of it while the repeated text stays under 4 x the input + 64 KiB;
a link to anything else, or past that budget, is ``{"type": "link", "value": n, "class": T}``.
So the output has no cycles (an ``I`` wrapper whose ivar links back to its own object once
made one) and never outgrows the input by more than that budget. Bignums wider than 14,000 bits
are hex text. Time is linear in the input; peak memory at most 400 bytes of Python objects per
input byte (measured worst 316: a Hash of ``0 => 0`` pairs, two bytes for three dicts) and at
most MAX_NODES nodes (~60 MB) whatever the input.
"""

from __future__ import annotations

import base64
from typing import Any, Final

from sessdiag.codecs import MAX_NODES, parse_whole, typed_int
from sessdiag.core.errors import DecodeError

MAX_DEPTH: Final = 256
DEFAULT_MAX_SIZE: Final = 16 * 1024 * 1024
MAGIC: Final = b"\x04\x08"


class _P:
    def __init__(self, d: bytes) -> None:
        self.d = d
        self.i = 2
        self.symbols: list[str] = []
        self.objects: list[Any] = []
        self.work = 0
        self.repeat_budget = 4 * len(d) + 65536

    def fail(self, msg: str) -> DecodeError:
        return DecodeError(msg, self.i)

    def byte(self) -> int:
        if self.i >= len(self.d):
            raise self.fail("unexpected end of data")
        b = self.d[self.i]
        self.i += 1
        return b

    def take(self, n: int) -> bytes:
        if n < 0 or n > len(self.d) - self.i:
            raise self.fail(f"length {n} beyond the data")
        v = self.d[self.i : self.i + n]
        self.i += n
        return v

    def long(self) -> int:
        c = self.byte()
        if c == 0:
            return 0
        c = c - 256 if c > 127 else c
        if 5 < c < 128:
            return c - 5
        if -129 < c < -5:
            return c + 5
        if c > 0:
            return int.from_bytes(self.take(c), "little")
        n = -c
        v = int.from_bytes(self.take(n), "little")
        return v - (1 << (8 * n))

    def count(self, per: int = 1) -> int:
        n = self.long()
        if n < 0 or n * per > len(self.d) - self.i:
            raise self.fail("element count beyond the data")
        return n

    def elements(self, per: int) -> int:
        """A count of values about to be read: refused at once past the node budget."""
        n = self.count(per)
        if self.work + n * per > MAX_NODES:
            raise self.fail("work budget exhausted")
        return n

    def raw_string(self) -> bytes:
        return self.take(self.count())

    def symbol(self, depth: int) -> str:
        t = self.byte()
        if t == ord(":"):
            s = self.raw_string().decode("utf-8", "replace")
            self.symbols.append(s)
            return s
        if t == ord(";"):
            n = self.long()
            if not 0 <= n < len(self.symbols):
                raise self.fail("bad symbol link")
            return self.symbols[n]
        if t == ord("I"):  # a symbol with an encoding ivar
            if depth > MAX_DEPTH:
                raise self.fail("nesting too deep")
            s = self.symbol(depth + 1)
            for _ in range(self.count(2)):
                self.symbol(depth)
                self.value(depth + 1)
            return s
        raise self.fail(f"expected a symbol, got {chr(t)!r}")

    def ivars(self, depth: int) -> dict:
        out = {}
        for _ in range(self.count(2)):
            k = self.symbol(depth)
            out[k] = self.value(depth + 1)
        return out

    def value(self, depth: int) -> dict:
        if depth > MAX_DEPTH:
            raise self.fail("nesting too deep")
        self.work += 1
        if self.work > MAX_NODES:
            raise self.fail("work budget exhausted")
        t = chr(self.byte())
        if t == "0":
            return {"type": "NilClass", "value": None}
        if t == "T":
            return {"type": "TrueClass", "value": True}
        if t == "F":
            return {"type": "FalseClass", "value": False}
        if t == "i":
            return {"type": "Integer", "value": self.long()}
        if t in (":", ";"):
            self.i -= 1
            return {"type": "Symbol", "value": self.symbol(depth)}
        if t == "@":
            n = self.long()
            if not 0 <= n < len(self.objects):
                raise self.fail("bad object link")
            return self.link(n)
        if t == "I":
            inner = self.value(depth + 1)
            iv = self.ivars(depth)
            if inner.get("type") == "String" and inner.get("encoding") == "binary" and (
                    "E" in iv or "encoding" in iv):
                raw = base64.b64decode(inner["value"])
                try:
                    inner["value"] = raw.decode("utf-8")
                    inner.pop("encoding")
                except UnicodeDecodeError:
                    inner["encoding"] = "base64"
            elif iv and inner.get("type") != "String":
                inner["ivars"] = iv
            return inner
        if t == "e":  # extended and user-class wrappers take no slot of their own
            mod = self.symbol(depth)
            inner = self.value(depth + 1)
            inner["extended"] = [*inner.get("extended", []), mod]  # never a shared list
            return inner
        if t == "C":
            cls = self.symbol(depth)
            inner = self.value(depth + 1)
            return {"type": cls, "value": inner.get("value")}
        slot = len(self.objects)
        self.objects.append(None)
        out = self._object(t, depth)
        self.objects[slot] = out
        return out

    def link(self, n: int) -> dict:
        target = self.objects[n]
        if target is None:  # still being read: the object contains itself
            return {"type": "link", "value": n}
        v = target.get("value")
        cost = len(v) if isinstance(v, str) else 8
        if isinstance(v, str | int | float | bool | type(None)) and cost <= self.repeat_budget:
            self.repeat_budget -= cost
            # A copy, never the object itself; its ivars and modules stay with the original.
            return {k: target[k] for k in ("type", "value", "encoding") if k in target}
        return {"type": "link", "value": n, "class": target.get("type")}

    def _object(self, t: str, depth: int) -> dict:
        if t == '"':
            raw = self.raw_string()
            return {"type": "String", "value": base64.b64encode(raw).decode("ascii"),
                    "encoding": "binary"}
        if t == "f":
            s = self.raw_string().decode("ascii", "replace")
            try:
                f = float(s.split("\x00")[0])
                return {"type": "Float", "value": f if f == f and abs(f) != float("inf")
                        else s}
            except ValueError:
                return {"type": "Float", "value": s}
        if t == "l":
            sign = chr(self.byte())
            n = self.count(2)
            v = int.from_bytes(self.take(2 * n), "little")
            return typed_int("Integer", -v if sign == "-" else v)
        if t == "[":
            n = self.elements(1)
            return {"type": "Array", "value": [self.value(depth + 1) for _ in range(n)]}
        if t in ("{", "}"):
            n = self.elements(2)
            pairs = [(self.value(depth + 1), self.value(depth + 1)) for _ in range(n)]
            if t == "}":
                self.value(depth + 1)  # default value
            return {"type": "Hash", "value": _hash(pairs)}
        if t in ("o", "S"):
            cls = self.symbol(depth)
            return {"type": cls, "value": self.ivars(depth)}
        if t in ("u",):
            cls = self.symbol(depth)
            raw = self.raw_string()
            return {"type": cls, "value": base64.b64encode(raw).decode("ascii")}
        if t == "U":
            cls = self.symbol(depth)
            inner = self.value(depth + 1)
            return {"type": cls, "value": inner.get("value")}
        if t in ("c", "m", "M"):
            name = self.raw_string().decode("utf-8", "replace")
            return {"type": "Class" if t == "c" else "Module", "value": name}
        if t == "/":
            src = self.raw_string()
            self.byte()
            return {"type": "Regexp", "value": src.decode("utf-8", "replace")}
        if t == "d":
            cls = self.symbol(depth)
            inner = self.value(depth + 1)
            return {"type": cls, "value": inner.get("value")}
        raise DecodeError(f"unknown type byte {t!r}", self.i - 1)


def _key_text(k: dict) -> str | None:
    if k.get("type") in ("String", "Symbol") and "encoding" not in k:
        return str(k["value"])
    return None


def _hash(pairs: list[tuple[dict, dict]]) -> dict | list:
    keys = [_key_text(k) for k, _ in pairs]
    if all(k is not None for k in keys) and len(set(keys)) == len(keys):
        return {k: v for k, (_, v) in zip(keys, pairs, strict=True)}  # type: ignore[misc]
    return [{"key": k, "value": v} for k, v in pairs]


def decode(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> dict:
    if len(data) > max_size:
        raise DecodeError(f"value larger than {max_size} bytes", 0)
    if data[:2] != MAGIC:
        raise DecodeError("not Ruby Marshal 4.8 (no 0408 magic)", 0)
    return parse_whole(_P(data), len(data))


def decode_session(data: bytes) -> list[dict]:
    """A marshalled session Hash -> [{"key": typed, "value": typed}]."""
    v = decode(data)
    if v["type"] not in ("Hash",) and not isinstance(v.get("value"), dict | list):
        raise DecodeError("Marshal value is not a Hash", 0)
    items = v["value"]
    if isinstance(items, dict):
        return [{"key": {"type": "String", "value": k}, "value": x} for k, x in items.items()]
    if isinstance(items, list) and all(isinstance(x, dict) and "key" in x for x in items):
        return items
    raise DecodeError("Marshal value is not a Hash", 0)
