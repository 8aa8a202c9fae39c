"""Parse-only decoders of session payloads: bounded, and never executing anything.

What every decoder here promises (checked by tests/codecs/test_fuzz.py and tools/fuzz/run.py):
any input gives a typed value or a `DecodeError` (nothing else escapes, the interpreter never
crashes); time is linear in the input; peak memory is a small multiple of the input plus a
constant (each module states its bound), whatever lengths or counts the input declares; nesting
up to at least 128 levels is accepted; the output is plain JSON data: no cycles, no float NaN,
and integers too long for Python's `str()` (4,300 digits) are given as hex text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final, Protocol, TypeVar

from sessdiag.core.errors import DecodeError

# Past ~4,300 decimal digits int -> str raises (and costs quadratic time before that): any
# integer wider than this many bits is shown as hex text, {"type": T, "value": "0x…",
# "encoding": "hex"}. 14,000 bits ≈ 4,214 digits.
MAX_INT_BITS: Final = 14_000
# Values (typed nodes) one decode may produce. A typed node costs ~250 bytes of Python objects,
# so this caps any decode at ~60 MB whatever the input; session values are far smaller.
MAX_NODES: Final = 250_000


T = TypeVar("T")


def contained(decode: Callable[[bytes], T]) -> Callable[[bytes], T]:
    """`decode`, with any fault of its own turned into a `DecodeError`.

    Every decoder promises that only `DecodeError` escapes, and the fuzz harnesses hold it to
    that; this is the second line at the boundary where sessions are decoded. A decoder bug met
    in production then costs one undecodable session (its reason names the fault), never the
    whole read-only scan (exit 70).
    """

    @functools.wraps(decode)
    def guarded(data: bytes) -> T:
        try:
            return decode(data)
        except DecodeError:
            raise
        except Exception as exc:  # the point: nothing but DecodeError leaves
            raise DecodeError(f"decoder fault ({type(exc).__name__})", 0) from exc

    return guarded


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
