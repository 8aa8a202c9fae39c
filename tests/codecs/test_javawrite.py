"""The JDK serialization writer, byte for byte against streams the JDK wrote (fixtures/java)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessdiag.codecs import javaser
from sessdiag.codecs.javawrite import jboolean, jint, jlong, jstring, jvalue, mutf8

JAVA = Path(__file__).resolve().parents[2] / "fixtures" / "java"
MANIFEST = {v["name"]: v for v in json.loads((JAVA / "manifest.json").read_text())}
WRITERS = {"java.lang.Long": jlong, "java.lang.Integer": jint, "java.lang.String": jstring,
           "java.lang.Boolean": jboolean}
VECTORS = [v for v in MANIFEST.values() if v["type"] in WRITERS]


def test_every_simple_vector_is_covered() -> None:
    names = {v["name"] for v in VECTORS}
    assert {"long_creation_time", "long_zero", "long_negative", "integer_1800",
            "integer_negative", "string_principal", "string_session_id", "string_empty",
            "string_unicode", "string_expires_member", "boolean_true"} == names


@pytest.mark.parametrize("vec", VECTORS, ids=lambda v: v["name"])
def test_byte_exact_with_the_jdk(vec: dict) -> None:
    written = WRITERS[vec["type"]](vec["expect"])
    assert written == (JAVA / vec["file"]).read_bytes()
    assert len(written) == vec["size"]


def test_modified_utf8() -> None:
    # NUL is C0 80 and a character beyond the BMP is two 3-byte surrogates (writeUTF).
    assert mutf8("\x00") == b"\xc0\x80"
    assert mutf8("😀") == b"\xed\xa0\xbd\xed\xb8\x80"
    assert mutf8("é世") == "é世".encode()


def test_long_string_and_false() -> None:
    big = "ü" * 40_000  # 80,000 bytes: TC_LONGSTRING with a 64-bit length
    data = jstring(big)
    assert data[4] == 0x7C and int.from_bytes(data[5:13], "big") == 80_000
    assert javaser.decode(data) == {"type": "java.lang.String", "value": big}
    assert jboolean(False) == (JAVA / MANIFEST["boolean_true"]["file"]).read_bytes()[:-1] + b"\0"
    assert javaser.decode(jboolean(False)) == {"type": "java.lang.Boolean", "value": False}


def test_jvalue_picks_the_boxed_type() -> None:
    assert javaser.decode(jvalue(True))["type"] == "java.lang.Boolean"
    assert javaser.decode(jvalue(7)) == {"type": "java.lang.Integer", "value": 7}
    assert javaser.decode(jvalue(1 << 40)) == {"type": "java.lang.Long", "value": 1 << 40}
    assert javaser.decode(jvalue("en_GB")) == {"type": "java.lang.String", "value": "en_GB"}
    with pytest.raises(ValueError):
        jint(1 << 31)
    with pytest.raises(ValueError):
        jlong(1 << 63)
    with pytest.raises(TypeError):
        jvalue(1.5)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.integers(-(1 << 63), (1 << 63) - 1),
       st.integers(-(1 << 31), (1 << 31) - 1))
def test_round_trip_through_the_reader(s: str, big: int, small: int) -> None:
    assert javaser.string_value(jstring(s)) == s
    assert javaser.long_value(jlong(big)) == big
    assert javaser.long_value(jint(small)) == small
