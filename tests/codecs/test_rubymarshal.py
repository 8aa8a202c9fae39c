"""Ruby Marshal: the captured Rails sessions (fixtures/redis/rails.json), hostile bytes."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessdiag.codecs import rubymarshal
from sessdiag.core.errors import DecodeError

CAPTURE = Path(__file__).resolve().parents[2] / "fixtures" / "redis" / "rails.json"
KEYS = json.loads(CAPTURE.read_text())["keys"]


def test_captured_rails_sessions() -> None:
    sessions = [rubymarshal.decode_session(bytes.fromhex(k["value_hex"])) for k in KEYS]
    full = next(s for s in sessions if len(s) > 3)
    d = {e["key"]["value"]: e["value"] for e in full}
    assert d["user_id"] == {"type": "Integer", "value": 100}
    assert d["_csrf_token"] == {"type": "String", "value": "t0"}
    assert d["ratio"] == {"type": "Float", "value": 1.5}
    assert d["admin"]["value"] is True and d["nothing"]["value"] is None
    assert d["sym"] == {"type": "Symbol", "value": "ok"} and d["big"]["value"] == 2**70
    warden = d["warden.user.user.key"]["value"]
    assert warden[0]["value"][0]["value"] == 100 and warden[1]["value"] == "salt"
    assert d["flash"]["value"]["flashes"]["value"]["notice"]["value"] == "hi"
    csrf_only = [s for s in sessions if [e["key"]["value"] for e in s] == ["_csrf_token"]]
    assert len(csrf_only) == 3


@pytest.mark.parametrize("raw", [
    b"\x04\x08[\x04\xff\xff\xff\x7f", b'\x04\x08"\x04\xff\xff\xff\x7f', b"\x04\x08{\x7f",
    b"\x04\x08@\x05", b"\x04\x08;\x00", b"\x04\x07{\x00", b"\x04\x08", b"\x04\x08o:\x06X\x7f",
])
def test_hostile(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        rubymarshal.decode(raw)


def test_objects_are_not_loaded() -> None:
    # o:ERB @src "system('id')": shown as data, never evaluated.
    raw = b'\x04\x08o:\x08ERB\x06:\t@srcI"\x11system(\'id\')\x06:\x06ET'
    v = rubymarshal.decode(raw)
    assert v["type"] == "ERB" and v["value"]["@src"]["value"] == "system('id')"


def test_depth() -> None:
    with pytest.raises(DecodeError, match="deep"):
        rubymarshal.decode(b"\x04\x08" + b"[\x06" * 1000 + b"0")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(raw: bytes) -> None:
    with contextlib.suppress(DecodeError):
        rubymarshal.decode(b"\x04\x08" + raw)


def test_ivar_linking_back_to_its_own_object_is_no_cycle() -> None:
    # Issue 19: I [ ] {:a => @0}: the ivar is the array itself; the output contained itself
    # and inspect exited 70 (json: circular reference).
    v = rubymarshal.decode(bytes.fromhex("0408495b00063a06614000"))
    assert v == {"type": "Array", "value": [],
                 "ivars": {"a": {"type": "link", "value": 0, "class": "Array"}}}
    json.dumps(v)


def test_links_to_containers_are_links_to_scalars_copies() -> None:
    # [s, s, a, a] with s = "hi" (object 1) and a = [] (object 2): Ruby writes @1 and @2.
    raw = b'\x04\x08[\tI"\x07hi\x06:\x06ET@\x06[\x00@\x07'
    v = rubymarshal.decode(raw)["value"]
    assert v[0] == v[1] == {"type": "String", "value": "hi"}
    assert v[1] is not v[0]
    assert v[2] == {"type": "Array", "value": []}
    assert v[3] == {"type": "link", "value": 2, "class": "Array"}


def test_string_links_cannot_blow_up_the_output() -> None:
    s = b"x" * 60_000
    n = 20_000
    body = b'"\x02' + len(s).to_bytes(2, "little") + s + b"@\x06" * (n - 1)
    raw = b"\x04\x08[\x02" + n.to_bytes(2, "little") + body
    out = json.dumps(rubymarshal.decode(raw))
    assert len(out) < 16 * len(raw)  # 1.2 GB when every link was the string again


def test_bignum_past_the_str_limit_is_hex_text() -> None:
    words = 3000
    raw = b"\x04\x08l-\x02" + words.to_bytes(2, "little") + b"\x00" * (2 * words - 1) + b"\x01"
    v = rubymarshal.decode(raw)
    assert v == {"type": "Integer", "value": "-0x1" + "0" * (4 * words - 2), "encoding": "hex"}
    json.dumps(v)


def test_counts_past_the_node_budget_fail_at_once() -> None:
    n = rubymarshal.MAX_NODES + 1
    raw = b"\x04\x08[\x03" + n.to_bytes(3, "little") + b"0" * n
    with pytest.raises(DecodeError, match="budget"):
        rubymarshal.decode(raw)


def test_symbol_wrappers_nest_within_the_depth_limit() -> None:
    with pytest.raises(DecodeError, match="deep"):
        rubymarshal.decode(b"\x04\x08o" + b"I" * 5000 + b":\x06X\x00")
