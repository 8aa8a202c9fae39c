"""msgpack: the bytes Flask-Session ≥ 0.7 writes (msgspec), every type, hostile lengths."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessdiag.codecs import msgpack
from sessdiag.core.errors import DecodeError


def plain(t):  # type: ignore[no-untyped-def]
    v = t["value"]
    if t["type"] == "array":
        return [plain(x) for x in v]
    if t["type"] == "map":
        return {k: plain(x) for k, x in v.items()}
    return v


def test_flask_session_empty() -> None:
    raw = bytes.fromhex("81aa5f7065726d616e656e74c3")  # Flask-Session's msgpack, verified
    assert msgpack.decode_session(raw) == [
        {"key": {"type": "str", "value": "_permanent"}, "value": {"type": "bool", "value": True}}]


def test_all_types() -> None:
    raw = bytes.fromhex(
        "8f"  # fixmap 15
        "a161" "7f" "a162" "e0" "a163" "cc ff" "a164" "cd ffff" "a165" "ce ffffffff"
        "a166" "cf ffffffffffffffff" "a167" "d0 80" "a168" "d3 8000000000000000"
        "a169" "ca 3fc00000" "a16a" "cb 3ff8000000000000" "a16b" "c0" "a16c" "c2"
        "a16d" "c4 02 00ff" "a16e" "92 01 a178" "a16f" "d6 ff 00000001".replace(" ", ""))
    v = plain(msgpack.decode(raw))
    assert v == {"a": 127, "b": -32, "c": 255, "d": 65535, "e": 2**32 - 1, "f": 2**64 - 1,
                 "g": -128, "h": -(2**63), "i": 1.5, "j": 1.5, "k": None, "l": False,
                 "m": "AP8=", "n": [1, "x"], "o": "1970-01-01T00:00:01Z"}


def test_msgspec_roundtrip() -> None:
    msgspec = pytest.importorskip("msgspec")  # comes with flask-session (test extra)
    d = {"user_id": "alice", "n": 5, "roles": ["a", "b"], "deep": {"x": [1.25, None, True]},
         "bin": b"\x01\x02", "_permanent": True}
    out = {e["key"]["value"]: e["value"] for e in msgpack.decode_session(
        msgspec.msgpack.encode(d))}
    assert plain(out["user_id"]) == "alice" and plain(out["deep"]) == {"x": [1.25, None, True]}
    assert out["bin"] == {"type": "bin", "value": "AQI="}


@pytest.mark.parametrize("raw", [
    b"\xdb\xff\xff\xff\xff", b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff",
    b"\xc6\xff\xff\xff\xff",
    b"\x92\x01", b"\xc1", b"\x81\xa1a", b"\x01\x02", b"",
])
def test_hostile(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        msgpack.decode(raw)


def test_depth_bounded() -> None:
    with pytest.raises(DecodeError, match="deep"):
        msgpack.decode(b"\x91" * 1000 + b"\xc0")
    assert msgpack.decode(b"\x91" * 130 + b"\xc0")["type"] == "array"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(raw: bytes) -> None:
    with contextlib.suppress(DecodeError):
        msgpack.decode(raw)


def _peak(fn, *args):  # type: ignore[no-untyped-def]
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(DecodeError, match="budget"):
            fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_issue19_counts_past_the_node_budget_fail_before_reading() -> None:
    # 2 MB of empty arrays under one array32 (3.6 s and 537 MB) and a 1 M-entry map (1.5 s):
    # the declared counts are checked against the node budget before any element is read.
    n = 2 * 1024 * 1024 - 5
    assert _peak(msgpack.decode, b"\xdd" + n.to_bytes(4, "big") + b"\x90" * n) < 1_000_000
    m = 1_000_000
    assert _peak(msgpack.decode, b"\xdf" + m.to_bytes(4, "big") + b"\x00\xc0" * m) < 1_000_000


def test_a_wide_tree_of_small_arrays_stops_at_the_node_budget() -> None:
    # Fixarrays of 15, five levels: 813,616 nodes in 813,616 bytes, no count over the budget.
    level = b"\x90"
    for _ in range(5):
        level = b"\x9f" + level * 15
    with pytest.raises(DecodeError, match="budget"):
        msgpack.decode(level)
