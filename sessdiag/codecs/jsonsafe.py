"""JSON with limits: size and nesting are checked before the stdlib parser runs.

Values come back typed like every decoder here: ``string``, ``int``, ``float``, ``bool``,
``null``, ``array``, ``object``; an object carrying Jackson's ``"@class"`` (Spring Session's
``GenericJackson2JsonRedisSerializer``) takes that class as its type, and Jackson's wrapper
arrays ``["java.util.ArrayList", [...]]`` / ``["java.lang.Long", 5]`` are unwrapped.

JSON may escape lone surrogates (``"\\ud800"``), which no UTF-8 output can hold: such a string
comes back as base64 of its UTF-8 (surrogatepass) bytes with ``"encoding": "base64"``, and an
object with such a key as a list of ``{"key", "value"}``. Integers past Python's 4,300-digit
limit are refused by the parser (DecodeError). Cost: the pre-check (depth, and at most
MAX_NODES containers) and the stdlib parser are linear; the typed form stops at MAX_NODES
nodes. Peak memory: the parsed value (<= ~16 bytes per input byte once containers are capped)
plus at most MAX_NODES typed dicts: <= 200 bytes per input byte (``[0,0,…]``: two bytes per
element, one typed dict each; measured 100) and ~60 MB + 16 x the input whatever the input.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any, Final

from sessdiag.codecs import MAX_NODES
from sessdiag.core.errors import DecodeError

MAX_DEPTH: Final = 256
DEFAULT_MAX_SIZE: Final = 16 * 1024 * 1024
_STRUCT = re.compile(rb'[\[\]{}"\\]')
_JAVA_CLASS = re.compile(r"^(java|javax|org|com|net|io)\.[A-Za-z0-9_.$]+$")


def check_depth(data: bytes, limit: int = MAX_DEPTH) -> None:
    """Nesting of brackets outside strings, without recursion; DecodeError beyond `limit` or
    past MAX_NODES containers (each costs the parser a list or dict before typing starts)."""
    depth = 0
    containers = 0
    in_str = False
    esc = False
    for m in _STRUCT.finditer(data):
        c = m.group()
        if in_str:
            if esc:
                esc = False
                continue
            if c == b"\\":
                # An escape only matters when it directly precedes the next structural byte.
                esc = m.end() < len(data) and data[m.end():m.end() + 1] in (b'"', b"\\")
                continue
            if c == b'"':
                in_str = False
            continue
        if c == b'"':
            in_str = True
        elif c in (b"[", b"{"):
            depth += 1
            containers += 1
            if depth > limit:
                raise DecodeError("nesting too deep", m.start())
            if containers > MAX_NODES:
                raise DecodeError("too many elements", m.start())
        elif c in (b"]", b"}"):
            depth -= 1


def loads(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> Any:
    if len(data) > max_size:
        raise DecodeError(f"value larger than {max_size} bytes", 0)
    check_depth(data)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        pos = getattr(exc, "pos", 0) or 0
        raise DecodeError(f"bad JSON: {getattr(exc, 'msg', exc)}", pos) from exc


def typed(v: Any, depth: int = 0, budget: list[int] | None = None) -> dict:
    if budget is None:
        budget = [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise DecodeError("too many elements", 0)
    if depth > MAX_DEPTH:
        raise DecodeError("nesting too deep", 0)
    if v is None:
        return {"type": "null", "value": None}
    if isinstance(v, bool):
        return {"type": "bool", "value": v}
    if isinstance(v, int):
        return {"type": "int", "value": v}
    if isinstance(v, float):
        return {"type": "float", "value": v if v == v and abs(v) != float("inf") else str(v)}
    if isinstance(v, str):
        return _text(v)
    if isinstance(v, list):
        if (len(v) == 2 and isinstance(v[0], str) and _JAVA_CLASS.match(v[0])
                and not isinstance(v[1], dict)):
            return {**typed(v[1], depth + 1, budget), "type": v[0]}
        return {"type": "array", "value": [typed(x, depth + 1, budget) for x in v]}
    if isinstance(v, dict):
        cls = v.get("@class") if isinstance(v.get("@class"), str) else None
        if not _clean(cls or ""):
            cls = None
        if all(_clean(k) for k in v):
            return {"type": cls or "object",
                    "value": {k: typed(x, depth + 1, budget) for k, x in v.items()
                              if k != "@class"}}
        return {"type": cls or "object",
                "value": [{"key": _text(k), "value": typed(x, depth + 1, budget)}
                          for k, x in v.items() if k != "@class"]}
    return {"type": type(v).__name__, "value": str(v)}


def _clean(s: str) -> bool:
    """Encodable as UTF-8 (no lone surrogates)?"""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(s: str) -> dict:
    if _clean(s):
        return {"type": "string", "value": s}
    return {"type": "string", "encoding": "base64",
            "value": base64.b64encode(s.encode("utf-8", "surrogatepass")).decode("ascii")}


def decode(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> dict:
    return typed(loads(data, max_size=max_size))


def decode_session(data: bytes) -> list[dict]:
    """A JSON object -> [{"key": typed, "value": typed}]."""
    v = loads(data)
    if not isinstance(v, dict):
        raise DecodeError("JSON value is not an object", 0)
    budget = [MAX_NODES]
    return [{"key": _text(k), "value": typed(x, 0, budget)} for k, x in v.items()]
