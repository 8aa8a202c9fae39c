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
