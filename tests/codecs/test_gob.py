"""sessdiag.codecs.gob against real beego sessions, Go-generated vectors and hostile input.

Expectations come from outside the decoder: the beego-real manifest was produced by beego
v1.12.3 itself, and fixtures/gob/manifest.json by tools/gobgen (Go reflection over the encoded
values). Quirks of those manifests are absorbed here, in the comparison helpers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import shutil
import struct
import subprocess
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessdiag.codecs.gob import (
    EMPTY_SESSION,
    MAX_DEPTH,
    decode_session,
    decode_stream,
    is_empty_session,
)
from sessdiag.core.errors import DecodeError

REPO = Path(__file__).resolve().parents[2]
GOB_DIR = REPO / "fixtures" / "gob"


# Written by real beego v1.12.3 (fixtures/beego-real/README.md says how).
BEEGO_REAL = REPO / "fixtures" / "beego-real"


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        pytest.fail(f"fixture manifest missing: {path}", pytrace=False)
    return json.loads(path.read_text(encoding="utf-8"))


# -- gob crafting helpers (the encoding rules of Go's encoding/gob doc.go) ---------------------


def enc_uint(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([256 - len(raw)]) + raw


def enc_int(n: int) -> bytes:
    return enc_uint((~n << 1) | 1 if n < 0 else n << 1)


def enc_str(s: str | bytes) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return enc_uint(len(raw)) + raw


def message(body: bytes) -> bytes:
    return enc_uint(len(body)) + body


def slice_type(tid: int, elem: int) -> bytes:
    """Message defining tid as a slice of elem (wireType.SliceT)."""
    wire = b"\x02\x01\x02" + enc_int(tid) + b"\x00\x01" + enc_int(elem) + b"\x00\x00"
    return message(enc_int(-tid) + wire)


def struct_type(tid: int, name: str, fields: list[tuple[str, int]]) -> bytes:
    """Message defining tid as a struct (wireType.StructT)."""
    common = b"\x01" + enc_str(name) + b"\x01" + enc_int(tid) + b"\x00"
    body = b"".join(b"\x01" + enc_str(f) + b"\x01" + enc_int(t) + b"\x00" for f, t in fields)
    wire = b"\x03\x01" + common + b"\x01" + enc_uint(len(fields)) + body + b"\x00\x00"
    return message(enc_int(-tid) + wire)


MAP_TYPE = EMPTY_SESSION[:15]  # the message defining id 65 = map[interface{}]interface{}


def iface(name: str, tid: int, value: bytes, *, singleton: bool = True) -> bytes:
    """An interface value whose concrete type is already defined."""
    body = (b"\x00" if singleton else b"") + value
    return enc_str(name) + enc_int(tid) + enc_uint(len(body)) + body


def session(entries: list[tuple[bytes, bytes]], types: bytes = b"") -> bytes:
    body = enc_int(65) + b"\x00" + enc_uint(len(entries)) + b"".join(k + v for k, v in entries)
    return MAP_TYPE + types + message(body)


def skey(s: str) -> bytes:
    return iface("string", 6, enc_str(s))


# -- comparison --------------------------------------------------------------------------------


def _num_norm(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _num_norm(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_num_norm(v) for v in x]
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x


def _is_entries(xs: list[Any]) -> bool:
    return bool(xs) and all(isinstance(x, dict) and set(x) == {"key", "value"} for x in xs)


def _sort_key(x: Any) -> str:
    return json.dumps(_num_norm(x), sort_keys=True)


def assert_same(got: Any, want: Any, path: str = "$") -> None:
    """Structural equality; lists of map entries compare as multisets (Go map order)."""
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{path}: got {type(got).__name__}, want object"
        assert set(got) == set(want), f"{path}: members {sorted(got)} != {sorted(want)}"
        for k in want:
            assert_same(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list), f"{path}: got {type(got).__name__}, want list"
        assert len(got) == len(want), f"{path}: {len(got)} items, want {len(want)}"
        if _is_entries(want):
            got, want = sorted(got, key=_sort_key), sorted(want, key=_sort_key)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{path}[{i}]")
    elif want is None or isinstance(want, bool | str):
        assert type(got) is type(want) and got == want, f"{path}: {got!r} != {want!r}"
    elif isinstance(want, int):
        # Go's JSON prints a float with an integral value as an integer (0 for 0.0).
        assert isinstance(got, int | float) and not isinstance(got, bool), f"{path}: {got!r}"
        assert got == want, f"{path}: {got!r} != {want!r}"
        if isinstance(got, int):
            assert got == want
    elif isinstance(want, float):
        assert isinstance(got, float), f"{path}: got {got!r}, want float {want!r}"
        assert got == want and math.copysign(1, got) == math.copysign(1, want), (
            f"{path}: {got!r} != {want!r}"
        )
    else:  # pragma: no cover - manifests hold JSON only
        raise AssertionError(f"{path}: unexpected {want!r}")


def assert_json_ready(value: Any) -> None:
    json.dumps(value, allow_nan=False)


_GO_STRING_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)":"((?:[^"\\]|\\.)*)"')


def _from_real(tv: dict[str, Any]) -> dict[str, Any]:
    """A beego-real manifest typed value in the decoder's shape (manifest quirks undone)."""
    t = tv["type"]
    if "value_b64" in tv:  # []uint8 is given as value_b64/value_hex, not value
        return {"type": t, "value": tv["value_b64"]}
    if "bits_hex" in tv:  # exact float bits beat the JSON rendering (keeps -0.0)
        return {"type": t, "value": struct.unpack(">d", bytes.fromhex(tv["bits_hex"]))[0]}
    v = tv["value"]
    if t == "map[string]string" and isinstance(v, str):
        # Rendered with Go's %#v: map[string]string{"k1":"v1", "k2":"v2"}.
        pairs = _GO_STRING_PAIR.findall(v)
        assert v.startswith("map[string]string{") and len(pairs) == v.count('":"')
        return {
            "type": t,
            "value": {
                json.loads(f'"{k}"'): {"type": "string", "value": json.loads(f'"{s}"')}
                for k, s in pairs
            },
        }
    if isinstance(v, dict):
        return {"type": t, "value": {k: _from_real(x) for k, x in v.items()}}
    if isinstance(v, list) and v and all(isinstance(x, dict) and "type" in x for x in v):
        return {"type": t, "value": [_from_real(x) for x in v]}
    return {"type": t, "value": v}


def _decode_all(data: bytes) -> None:
    """Every entry point on arbitrary bytes: a JSON-ready result or a clean DecodeError."""
    fns: list[Callable[[bytes], Any]] = [decode_session, decode_stream]
    for fn in fns:
        try:
            assert_json_ready(fn(data))
        except DecodeError as e:
            assert not e.reason.startswith("internal"), e
            assert 0 <= e.offset <= len(data), e
    assert isinstance(is_empty_session(data), bool)


# -- 1. real beego v1.12.3 sessions ------------------------------------------------------------

REAL_MANIFEST = _load(BEEGO_REAL / "manifest.json") if BEEGO_REAL.is_dir() else {"sessions": []}
REAL_SESSIONS = REAL_MANIFEST["sessions"]


def test_real_fixtures_present() -> None:
    assert BEEGO_REAL.is_dir(), f"beego-real fixtures not found at {BEEGO_REAL}"
    assert len(REAL_SESSIONS) >= 20


@pytest.mark.parametrize(
    "case", REAL_SESSIONS, ids=[f"{s['provider']}-{s['name']}" for s in REAL_SESSIONS]
)
def test_real_beego_session(case: dict[str, Any]) -> None:
    data = (BEEGO_REAL / case["path"]).read_bytes()
    assert len(data) == case["size"]
    assert hashlib.sha256(data).hexdigest() == case["sha256"]
    got = decode_session(data)
    assert_json_ready(got)
    assert len(got) == case["num_keys"]
    want = [{"key": _from_real(e["key"]), "value": _from_real(e["value"])} for e in case["entries"]]
    assert_same(got, want)
    # The manifest also names the wire type of each interface value: they must be ours.
    for w in case["entries"]:
        match = [g for g in got if g["key"]["value"] == w["key"]["value"]]
        assert [g["value"]["type"] for g in match] == [w["value_gob_type_name"]]
        assert match[0]["key"]["type"] == w["key_gob_type_name"]
    assert is_empty_session(data) == (case["num_keys"] == 0)


def test_real_time_values_carry_offset_and_nanos() -> None:
    zoned = next(s for s in REAL_SESSIONS if s["name"] == "time_zone")
    got = decode_session((BEEGO_REAL / zoned["path"]).read_bytes())
    assert got[0]["value"] == {"type": "time.Time", "value": "2024-03-15T20:34:56.123456789+08:00"}


# -- 2. Go-generated vectors -------------------------------------------------------------------

GO_MANIFEST = _load(GOB_DIR / "manifest.json")
GO_CASES = GO_MANIFEST["cases"]
GO_BY_NAME = {c["name"]: c for c in GO_CASES}


def _go_bytes(name: str) -> bytes:
    return (GOB_DIR / GO_BY_NAME[name]["file"]).read_bytes()


@pytest.mark.parametrize("case", GO_CASES, ids=[c["name"] for c in GO_CASES])
def test_go_vector(case: dict[str, Any]) -> None:
    data = (GOB_DIR / case["file"]).read_bytes()
    assert len(data) == case["size"]
    assert hashlib.sha256(data).hexdigest() == case["sha256"]
    got = decode_session(data)
    assert_json_ready(got)
    assert len(got) == case["num_keys"]
    assert_same(got, case["expected"])


@pytest.mark.skipif(shutil.which("go") is None, reason="Go toolchain (golang-go) not installed")
def test_gobgen_still_agrees_with_the_decoder(tmp_path: Path) -> None:
    # Rerun the generator: fresh bytes (new map orders) against its fresh expectations, so
    # neither the committed vectors nor the generator can drift from the decoder unnoticed.
    env = dict(os.environ)
    if "HOME" not in env and "GOCACHE" not in env:
        env["GOCACHE"] = str(tmp_path / "gocache")
    subprocess.run(
        ["go", "run", "tools/gobgen/main.go", "-out", str(tmp_path)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    fresh = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert [c["name"] for c in fresh["cases"]] == [c["name"] for c in GO_CASES]
    for case in fresh["cases"]:
        got = decode_session((tmp_path / case["file"]).read_bytes())
        assert_same(got, case["expected"], case["name"])


def test_go_vectors_cover_the_brief() -> None:
    names = set(GO_BY_NAME)
    for required in [
        "int8_min", "uint64_max", "float64_nan", "float64_negzero", "float32", "bool_true",
        "string_invalid_utf8", "bytes_empty", "bytes_large", "time_utc", "time_minus0330",
        "time_zero", "slice_int", "array_int", "iface_slice_nested", "map_string_iface_nested",
        "map_int_string", "map_string_string", "struct_user", "struct_embedded", "struct_empty",
        "struct_pointer_field", "key_int", "key_int64", "deep_130", "casdoor_login",
    ]:  # fmt: skip
        assert required in names, required
    assert GO_BY_NAME["bytes_large"]["size"] >= 100 * 1024
    assert len(GO_CASES) >= 100


def test_go_negative_zero_keeps_its_sign() -> None:
    # JSON loses the sign of -0 in the manifest, so check it against the bits directly.
    (entry,) = decode_session(_go_bytes("float64_negzero"))
    v = entry["value"]["value"]
    assert v == 0.0 and math.copysign(1.0, v) == -1.0


def test_go_float_specials_are_strings() -> None:
    for name, want in [
        ("float64_nan", "NaN"),
        ("float64_posinf", "+Inf"),
        ("float64_neginf", "-Inf"),
    ]:
        (entry,) = decode_session(_go_bytes(name))
        assert entry["value"] == {"type": "float64", "value": want}


def test_go_struct_zero_fields_are_filled() -> None:
    (entry,) = decode_session(_go_bytes("struct_user_sparse"))
    user = entry["value"]["value"]
    assert user["Name"] == {"type": "string", "value": "Zed"}
    assert user["Age"] == {"type": "int64", "value": 0}
    assert user["Home"] == {"type": "Address", "value": None}  # nil pointer
    assert user["Created"] == {"type": "time.Time", "value": "0001-01-01T00:00:00Z"}
    assert "secret" not in user
    # Zero-filled mutable values are fresh objects, never shared between results.
    user["Tags"]["value"].append("x")
    (again,) = decode_session(_go_bytes("struct_user_sparse"))
    assert again["value"]["value"]["Tags"]["value"] == []


def test_invalid_utf8_kept_as_base64() -> None:
    (entry,) = decode_session(_go_bytes("string_invalid_utf8"))
    v = entry["value"]
    assert v["invalid_utf8"] is True
    assert base64.b64decode(v["value"]) == b"ok\xff\xfe\xc3("


# -- 3. hostile input --------------------------------------------------------------------------

SMALL_VECTORS = sorted(
    (c["name"] for c in GO_CASES if c["size"] <= 1200), key=lambda n: GO_BY_NAME[n]["size"]
)
FUZZ_SEEDS = [_go_bytes(n) for n in SMALL_VECTORS]
HUGE_VARINTS = [
    b"\xf8" + b"\xff" * 8,  # 2^64-1
    b"\xf8\x10" + b"\x00" * 7,  # 2^60
    b"\xfc\x7f\xff\xff\xff",  # 2^31-1
    b"\x80",  # a count byte gob never uses
    b"\xf7" + b"\x01" * 9,  # nine-byte integer, out of range
]

FUZZ = settings(
    max_examples=300,
    deadline=500,  # ms per example: decoding must never run long
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)


@FUZZ
@given(st.binary(max_size=512))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_all(data)


@FUZZ
@given(st.binary(max_size=256))
def test_fuzz_random_after_valid_header(tail: bytes) -> None:
    # Past the map definition the decoder is in its value and interface paths.
    _decode_all(MAP_TYPE + tail)
    _decode_all(MAP_TYPE + message(enc_int(65) + b"\x00" + tail))


@FUZZ
@given(st.sampled_from(FUZZ_SEEDS), st.data())
def test_fuzz_mutated_vectors(seed: bytes, data: st.DataObject) -> None:
    buf = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "varint", "byte"]))
        at = data.draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[at] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "insert":
            buf[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del buf[at : at + data.draw(st.integers(1, 4))]
        elif op == "varint":
            buf[at : at + data.draw(st.integers(0, 2))] = data.draw(st.sampled_from(HUGE_VARINTS))
        elif buf:
            buf[at] = data.draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF, 0xF8]))
    _decode_all(bytes(buf))


@pytest.mark.parametrize(
    "name", ["string_ascii", "struct_user", "map_string_iface_nested", "struct_marshalers"]
)
def test_every_truncation_is_a_decode_error(name: str) -> None:
    data = _go_bytes(name)
    for cut in range(1, len(data)):
        with pytest.raises(DecodeError) as info:
            decode_session(data[:cut])
        assert not info.value.reason.startswith("internal")
        assert 0 <= info.value.offset <= cut
    assert decode_session(data[:0]) == []


def _hostile_lengths() -> dict[str, bytes]:
    huge = b"\xf8\x10" + b"\x00" * 7  # 2^60
    return {
        "message": huge + b"\x00" * 16,
        "string": session([(skey("k"), enc_str("string") + enc_int(6) + b"\x05\x00" + huge)]),
        "bytes": session([(skey("k"), enc_str("[]uint8") + enc_int(5) + b"\x05\x00" + huge)]),
        "name": session([(huge + b"abc", skey("v"))]),
        "map_count": MAP_TYPE + message(enc_int(65) + b"\x00" + huge),
        "slice_count": session(
            [(skey("k"), enc_str("[]string") + enc_int(66) + b"\x05\x00" + huge)],
            slice_type(66, 6),
        ),
        "struct_fields": MAP_TYPE + message(enc_int(-66) + b"\x03\x01\x00\x01" + huge),
    }


@pytest.mark.parametrize("where", list(_hostile_lengths()))
def test_declared_length_2_pow_60_fails_fast_without_allocating(where: str) -> None:
    data = _hostile_lengths()[where]
    tracemalloc.start()
    started = time.perf_counter()
    try:
        # Caught by the length check itself, not later by the work budget.
        with pytest.raises(DecodeError, match="exceeds"):
            decode_session(data)
        with pytest.raises(DecodeError, match="exceeds"):
            decode_stream(data)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.perf_counter() - started < 0.5
    assert peak < 1 << 20


def test_zero_fill_bomb_hits_the_work_budget_quickly() -> None:
    # One struct type with 500 fields, then 2000 one-byte empty elements: a million zero-filled
    # fields from 7 KB. Sized so that without the budget it finishes (and this test fails)
    # rather than hangs; the same shape scaled up is what the budget exists for.
    fields = [(f"F{i}", 2) for i in range(500)]
    n = 2000
    value = enc_str("[]main.Big") + enc_int(67) + b"\x00" + b"\x00" + enc_uint(n) + b"\x00" * n
    data = session([(skey("k"), value)], struct_type(66, "Big", fields) + slice_type(67, 66))
    assert len(data) < 10_000
    started = time.perf_counter()
    with pytest.raises(DecodeError, match="work budget"):
        decode_session(data)
    assert time.perf_counter() - started < 0.5
    # The budget is the caller's to set: tight fails, generous decodes every zero field.
    with pytest.raises(DecodeError, match="work budget"):
        decode_session(data, max_work=10)
    (entry,) = decode_session(data, max_work=2_000_000)
    elems = entry["value"]["value"]
    assert len(elems) == n and elems[-1]["value"]["F499"] == {"type": "int64", "value": 0}


def test_max_size_is_enforced_before_parsing() -> None:
    with pytest.raises(DecodeError, match="exceeds"):
        decode_session(b"\x00" * 101, max_size=100)
    assert decode_session(_go_bytes("int"), max_size=1000)[0]["value"]["value"] == 42


# -- 4. nesting --------------------------------------------------------------------------------


def _nested_slices(levels: int) -> bytes:
    """A session whose value is []interface{} nested `levels` deep around a nil."""
    inner = b"\x00"  # nil interface
    for _ in range(levels):
        inner = iface("[]interface {}", 66, b"\x01" + inner)
    return session([(skey("deep"), inner)], slice_type(66, 8))


def _depth(tv: dict[str, Any]) -> int:
    d = 0
    while tv["type"] == "[]interface {}":
        (tv,) = tv["value"]
        d += 1
    return d


def test_go_130_level_nesting_decodes() -> None:
    (entry,) = decode_session(_go_bytes("deep_130"))
    tv = entry["value"]
    assert _depth(tv) == 130


def test_nesting_near_the_limit_decodes_even_from_a_deep_caller() -> None:
    data = _nested_slices(MAX_DEPTH - 6)

    def call_at_depth(frames: int) -> list[dict[str, Any]]:
        return decode_session(data) if frames == 0 else call_at_depth(frames - 1)

    (entry,) = call_at_depth(200)
    assert _depth(entry["value"]) == MAX_DEPTH - 6


def test_hostile_deep_nesting_is_a_decode_error() -> None:
    # 5 000 levels: far past the limit and Python's recursion limit. Building the input is
    # quadratic (each level wraps a length-prefixed copy), so deeper only slows the test.
    data = _nested_slices(5_000)
    started = time.perf_counter()
    with pytest.raises(DecodeError, match=f"nesting deeper than {MAX_DEPTH}"):
        decode_session(data)
    assert time.perf_counter() - started < 0.5


def test_deep_struct_type_recursion_is_bounded() -> None:
    # A recursive struct type (Node{Next Node}) nested beyond the limit.
    data_types = struct_type(66, "Node", [("Next", 66)])
    value = b"\x01" * 1000 + b"\x00" * 1001
    data = session([(skey("n"), iface("main.Node", 66, value, singleton=False))], data_types)
    with pytest.raises(DecodeError, match=f"nesting deeper than {MAX_DEPTH}"):
        decode_session(data)


# -- 5. is_empty_session and the API -----------------------------------------------------------


def test_is_empty_session() -> None:
    assert is_empty_session(b"")
    assert is_empty_session(EMPTY_SESSION)
    assert not is_empty_session(_go_bytes("string_ascii"))
    assert not is_empty_session(b"\x00garbage")
    # An empty map spelled differently from the canonical 20 bytes (named map type).
    renamed = message(
        b"\xff\x81\x04\x01\x01\x01m\x01\xff\x82\x00\x01\x10\x01\x10\x00\x00"
    ) + message(b"\xff\x82\x00\x00")
    assert renamed != EMPTY_SESSION
    assert decode_session(renamed) == []
    assert is_empty_session(renamed)


def test_empty_inputs() -> None:
    assert decode_session(b"") == []
    assert decode_session(EMPTY_SESSION) == []
    assert decode_stream(b"") == []
    assert decode_stream(EMPTY_SESSION) == [{"type": "map[interface {}]interface {}", "value": []}]


def test_strict_rejects_trailing_bytes_lenient_matches_go() -> None:
    data = _go_bytes("string_ascii") + b"\x01\x02"
    with pytest.raises(DecodeError, match="after the session value"):
        decode_session(data)
    assert decode_session(data, strict=False) == decode_session(_go_bytes("string_ascii"))


def test_not_a_session_map() -> None:
    int_stream = message(b"\x04\x00\x06")  # Encode(int(3)), doc.go's example
    assert decode_stream(int_stream) == [{"type": "int64", "value": 3}]
    with pytest.raises(DecodeError, match="not a session"):
        decode_session(int_stream)


def test_stream_with_several_values() -> None:
    # doc.go's Point example: a type definition, then two values of the type.
    point = bytes.fromhex(
        "1fff810301010550 6f696e7401ff8200 0102010158010400 010159010400 0000"
        "07ff82012c014200 07ff82012c014200".replace(" ", "")
    )
    got = decode_stream(point)
    want = {"X": {"type": "int64", "value": 22}, "Y": {"type": "int64", "value": 33}}
    assert got == [{"type": "Point", "value": want}] * 2


def test_duplicate_type_definition_is_rejected() -> None:
    with pytest.raises(DecodeError, match="duplicate"):
        decode_stream(EMPTY_SESSION + EMPTY_SESSION)


def test_time_payload_versions() -> None:
    def time_session(payload: bytes) -> bytes:
        gobenc = message(b"\xff\x83\x05\x01\x01\x04Time\x01\xff\x84\x00\x00\x00")
        value = enc_str("time.Time") + enc_int(66) + b"\x00" + b"\x00" + enc_str(payload)
        return session([(skey("t"), value)], gobenc)

    sec = (63_845_000_000).to_bytes(8, "big")
    v2_neg = (
        b"\x02" + sec + (5).to_bytes(4, "big") + (-61).to_bytes(2, "big", signed=True) + b"\xe2"
    )
    (entry,) = decode_session(time_session(v2_neg))
    assert entry["value"]["value"].endswith(".000000005-01:01")
    utc = b"\x01" + sec + bytes(4) + b"\xff\xff"
    assert decode_session(time_session(utc))[0]["value"]["value"].endswith("Z")
    for bad in [
        b"",
        b"\x03" + bytes(14),
        b"\x01" + bytes(13),
        b"\x01" + sec + b"\xff" * 4 + bytes(2),
    ]:
        with pytest.raises(DecodeError, match="time"):
            decode_session(time_session(bad))


def test_map_with_invalid_utf8_key_uses_entries_form() -> None:
    (entry,) = decode_session(_go_bytes("map_string_string_invalid_key"))
    value = entry["value"]["value"]
    assert isinstance(value, list) and len(value) == 2
    keys = {e["key"]["value"]: e["key"].get("invalid_utf8", False) for e in value}
    assert keys == {"good": False, base64.b64encode(b"\xffbad").decode(): True}
