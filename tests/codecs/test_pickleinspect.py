"""Pickles inspected by opcode: real pickles of every protocol, and payloads that must not run."""

from __future__ import annotations

import collections
import contextlib
import datetime
import decimal
import json
import os
import pickle
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessdiag.codecs import pickleinspect as pi
from sessdiag.core.errors import DecodeError

# Verified locally: Flask-Session 0.5 and Django's bytes.
FLASK_EMPTY = bytes.fromhex("80049512000000000000007d948c0a5f7065726d616e656e749488732e")
DJANGO_AUTH = (b"\x80\x05\x95\x18\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\r_auth_user_id\x94"
               b"\x8c\x011\x94s.")


def plain(t):  # type: ignore[no-untyped-def]
    v = t["value"]
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, dict) and t["type"] == "dict":
        return {k: plain(x) for k, x in v.items()}
    return v


def test_framework_bytes() -> None:
    assert pi.decode_session(FLASK_EMPTY) == [
        {"key": {"type": "str", "value": "_permanent"}, "value": {"type": "bool", "value": True}}]
    assert pi.decode_session(DJANGO_AUTH)[0]["value"] == {"type": "str", "value": "1"}


@pytest.mark.parametrize("proto", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_protocol(proto: int) -> None:
    d = {"uid": 42, "neg": -7, "big": 2**80, "name": "bob", "f": 1.5, "none": None,
         "flags": [True, False], "t": (1, "a"), "b": b"\x00\xff", "nested": {"k": ["v"]},
         "set": {3}, "when": datetime.datetime(2024, 1, 2, 3, 4, 5, 6),
         "dec": decimal.Decimal("1.10"), "id": uuid.UUID(int=5),
         "od": collections.OrderedDict(a=1)}
    out = {e["key"]["value"]: e["value"] for e in pi.decode_session(pickle.dumps(d, proto))}
    assert plain(out["uid"]) == 42 and plain(out["neg"]) == -7 and plain(out["big"]) == 2**80
    assert plain(out["name"]) == "bob" and plain(out["f"]) == 1.5 and out["none"]["value"] is None
    assert plain(out["flags"]) == [True, False] and plain(out["t"]) == [1, "a"]
    assert plain(out["nested"]) == {"k": ["v"]} and out["set"]["type"] == "set"
    assert out["when"] == {"type": "datetime.datetime", "value": "2024-01-02T03:04:05.000006"}
    assert out["dec"]["type"] == "decimal.Decimal" and out["id"]["type"] == "uuid.UUID"


class Thing:
    def __init__(self) -> None:
        self.a = 1


def test_application_objects_shown_not_built() -> None:
    out = pi.decode_session(pickle.dumps({"t": Thing()}, 4))[0]["value"]
    assert out["type"] == f"{__name__}.Thing"
    assert out["value"]["state"]["value"]["a"]["value"] == 1


class Reduce:
    def __init__(self, fn, arg) -> None:  # type: ignore[no-untyped-def]
        self.fn, self.arg = fn, arg

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (self.fn, (self.arg,))


@pytest.mark.parametrize("proto", [0, 2, 4, 5])
def test_reduce_of_os_system_is_refused_and_never_runs(proto: int, tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "ran"
    payload = pickle.dumps({"x": Reduce(os.system, f"touch {marker}")}, proto)
    with pytest.raises(DecodeError, match=r"would call (posix|os)\.system"):
        pi.decode_session(payload)
    with pytest.raises(DecodeError):
        pi.decode(payload)
    assert not marker.exists()


@pytest.mark.parametrize("fn", [eval, exec, __import__, getattr])
def test_other_callables_refused(fn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DecodeError, match="would call builtins"):
        pi.decode_session(pickle.dumps({"x": Reduce(fn, "1")}, 4))


def test_malformed() -> None:
    for raw in (b"", b"\x80\x04", FLASK_EMPTY[:-1],
                b"\x80\x04\x8d" + (1 << 62).to_bytes(8, "little"),
                b"\x80\x04X\xff\xff\xff\x7fab.", b"\x80\x04h\x09.", b"\x80\x04s.",
                b"\x80\x04K\x01."):
        with pytest.raises(DecodeError):
            pi.decode_session(raw)


def test_memo_fan_out_is_bounded() -> None:
    # A list reused by memo 10^4 times at each of 3 levels: 10^12 nodes if expanded.
    inner = list(range(10_000))
    mid = [inner] * 10_000
    with pytest.raises(DecodeError, match="budget"):
        pi.decode(pickle.dumps([mid] * 10_000, 4))


def test_deep_nesting() -> None:
    # EMPTY_LIST x N then APPEND x N-1: lists nested N deep, built by hand (pickle.dumps
    # itself recurses too deep for this).
    n = 5000
    with pytest.raises(DecodeError, match="deep"):
        pi.decode(b"\x80\x02" + b"]" * n + b"a" * (n - 1) + b".")
    assert pi.decode(b"\x80\x02" + b"]" * 130 + b"a" * 129 + b".")["type"] == "list"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(raw: bytes) -> None:
    with contextlib.suppress(DecodeError):
        pi.decode(b"\x80\x04" + raw)


# --- issue 19: hostile pickles --------------------------------------------------------------

def test_tuple_key_150000_deep_is_undecodable_not_a_segfault() -> None:
    # Inserting it into a dict hashed it recursively in C: SIGSEGV killed the interpreter.
    raw = b"\x80\x04}N" + b"\x85" * 150_000 + b"Ns."
    with pytest.raises(DecodeError, match="nesting too deep"):
        pi.decode_session(raw)


def test_equal_deep_tuple_keys_are_never_compared() -> None:
    def two_keys(depth: int) -> bytes:
        t = b"N" + b"\x85" * depth
        return b"\x80\x04}(" + t + b"N" + t + b"Nu."

    # 1,000 deep: RecursionError from == used to escape and abort a whole Redis scan.
    with pytest.raises(DecodeError, match="nesting too deep"):
        pi.decode_session(two_keys(1000))
    # Shallow enough to show: both pairs kept, as the pickle holds them.
    entries = pi.decode_session(two_keys(100))
    assert len(entries) == 2 and entries[0]["key"]["type"] == "tuple"


def test_str_keys_repeated_last_wins_like_python() -> None:
    raw = b"\x80\x04}(\x8c\x01aK\x01\x8c\x01aK\x02u."
    assert pi.decode_session(raw) == [{"key": {"type": "str", "value": "a"},
                                       "value": {"type": "int", "value": 2}}]


def test_datetime_reduce_with_non_latin1_text() -> None:
    raw = bytes.fromhex("80048c086461746574696d658c086461746574696d65938c02c48085522e")
    v = pi.decode(raw)  # UnicodeEncodeError escaped here (exit 70 through a Redis scan)
    assert v == {"type": "datetime.datetime",
                 "value": {"args": {"type": "tuple", "value": [{"type": "str", "value": "Ā"}]}}}
    # A real Python 2 style latin-1 state still reads as a time.
    state = datetime.datetime(2026, 12, 3, 10, 0, 1, 5).__reduce__()[1][0].decode("latin-1")
    raw2 = (b"\x80\x02cdatetime\ndatetime\nX" + len(state.encode()).to_bytes(4, "little")
            + state.encode() + b"\x85R.")
    assert pi.decode(raw2) == {"type": "datetime.datetime", "value": "2026-12-03T10:00:01.000005"}


def test_append_onto_an_object_is_linear() -> None:
    # Each APPEND onto an object copied its list: 400 KB of input took 47 s. Compared with the
    # same number of APPENDs onto a plain list (CPU time of this process, best of 3), which
    # was always linear; quadratic made the ratio ~15 at this size.
    import time

    n = 100_000
    onto_obj = b"\x80\x04\x8c\x03app\x8c\x01C\x93)\x81" + b"Na" * n + b"."
    onto_list = b"\x80\x04]" + b"Na" * n + b"."

    def best(raw: bytes) -> float:
        times = []
        for _ in range(3):
            t = time.process_time()
            pi.decode(raw)
            times.append(time.process_time() - t)
        return min(times)

    assert best(onto_obj) < 3 * best(onto_list)
    assert len(pi.decode(onto_obj)["value"]["state"]["value"]) == n


def test_memo_fan_out_costs_in_proportion_to_the_input() -> None:
    import tracemalloc

    # [] memoized, then 199 levels of [prev, prev]: 2^199 nodes if expanded, 1.4 KB of input.
    raw = bytearray(b"\x80\x04]\x94")
    for i in range(1, 200):
        raw += b"(h" + bytes([i - 1]) + b"h" + bytes([i - 1]) + b"l\x94"
    raw += b"."
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError, match="budget"):
            pi.decode(bytes(raw))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000  # 401 MB with the old fixed 2,000,000-node budget


def test_long4_past_the_str_limit_is_hex_text() -> None:
    n = 4000
    raw = b"\x80\x04\x8b" + n.to_bytes(4, "little") + b"\x01" * n + b"."
    v = pi.decode(raw)
    assert v["type"] == "int" and v["encoding"] == "hex"
    assert int(v["value"], 16) == int.from_bytes(b"\x01" * n, "little")
    json.dumps(v)
    neg = pi.decode(b"\x80\x04\x8b" + n.to_bytes(4, "little") + bytes(n - 1) + b"\x80.")
    assert neg["value"] == "-0x8" + "0" * (2 * n - 1)
    assert pi.decode(pickle.dumps(-(2**200)))["value"] == -(2**200)  # small: a number


def test_lone_surrogates_and_self_reference() -> None:
    # BINUNICODE is decoded with surrogatepass: a lone surrogate would break UTF-8 output.
    raw = b"\x80\x04}X\x03\x00\x00\x00\xed\xa0\x80X\x03\x00\x00\x00\xed\xa0\x80s."
    [e] = pi.decode_session(raw)
    assert e["key"] == {"type": "str", "value": "7aCA", "encoding": "base64"}
    json.dumps(e, ensure_ascii=False).encode("utf-8")
    cyc: list = []
    cyc.append(cyc)
    v = pi.decode(pickle.dumps(cyc, 4))
    assert v == {"type": "list", "value": [{"type": "ref", "value": 0, "class": "list"}]}
