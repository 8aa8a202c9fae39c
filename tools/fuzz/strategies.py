"""Hypothesis strategies for the decoder fuzz runs (tests/codecs/test_fuzz.py, run.py)."""

from __future__ import annotations

import targets
from hypothesis import strategies as st


@st.composite
def mutated(draw: st.DrawFn, name: str) -> bytes:
    """A real vector of this encoding, mutated the way coverage-guided fuzzers do."""
    pool = targets.seeds(name)
    data = bytearray(draw(st.sampled_from(pool)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.integers(0, 5))
        i = draw(st.integers(0, len(data)))
        if op == 0 and data and i < len(data):  # overwrite a byte, often with an edge value
            data[i] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, draw(st.integers(0, 255))]))
        elif op == 1:  # insert
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == 2:  # delete
            del data[i : i + draw(st.integers(1, 16))]
        elif op == 3 and data:  # duplicate a slice (nesting, repeated elements)
            j = draw(st.integers(i, min(len(data), i + 64)))
            data[i:i] = data[i:j] * draw(st.integers(1, 8))
        elif op == 4:  # splice in part of another seed
            other = draw(st.sampled_from(pool))
            a = draw(st.integers(0, len(other)))
            data[i:i] = other[a : a + draw(st.integers(1, 64))]
        else:  # truncate
            del data[i:]
    return bytes(data)
