"""Parse-only decoders of session payloads: bounded, and never executing anything."""

from __future__ import annotations

from typing import Any, Protocol

from sessdiag.core.errors import DecodeError


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
