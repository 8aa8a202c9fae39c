"""Parse-only decoders of session payloads: bounded, and never executing anything.

What every decoder here promises (checked by tests/codecs/test_fuzz.py and tools/fuzz/run.py):
any input gives a typed value or a `DecodeError` (nothing else escapes, the interpreter never
crashes); time is linear in the input; peak memory is a small multiple of the input plus a
constant (each module states its bound), whatever lengths or counts the input declares; nesting
up to at least 128 levels is accepted; the output is plain JSON data: no cycles, no float NaN,
and integers too long for Python's `str()` (4,300 digits) are given as hex text.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from sessdiag.core.errors import DecodeError

# Past ~4,300 decimal digits int -> str raises (and costs quadratic time before that): any
# integer wider than this many bits is shown as hex text, {"type": T, "value": "0x…",
# "encoding": "hex"}. 14,000 bits ≈ 4,214 digits.
MAX_INT_BITS: Final = 14_000
# Values (typed nodes) one decode may produce. A typed node costs ~250 bytes of Python objects,
# so this caps any decode at ~60 MB whatever the input; session values are far smaller.
MAX_NODES: Final = 250_000


class Cursor(Protocol):
    i: int

    def value(self, depth: int) -> Any: ...


def parse_whole(p: Cursor, size: int) -> Any:
    """One value from the cursor, which must consume all `size` bytes."""
    try:
        v = p.value(0)
    except RecursionError as exc:
        raise DecodeError("nesting too deep", p.i) from exc
    if p.i != size:
        raise DecodeError("trailing bytes", p.i)
    return v


def typed_int(type_name: str, v: int) -> dict[str, Any]:
    """An integer as a typed value: a JSON number, or hex text when it is too long for one."""
    if v.bit_length() <= MAX_INT_BITS:
        return {"type": type_name, "value": v}
    return {"type": type_name, "value": ("-" if v < 0 else "") + hex(abs(v)),
            "encoding": "hex"}
