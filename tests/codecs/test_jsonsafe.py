"""JSON with limits, Jackson's typing as Spring Session's JSON serializer writes it."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessdiag.codecs import jsonsafe
from sessdiag.core.errors import DecodeError


def test_express_session_value() -> None:
    raw = (b'{"cookie":{"originalMaxAge":86400000,"expires":"2024-01-01T00:00:00.000Z",'
           b'"httpOnly":true,"path":"/"},"userId":42}')
    d = {e["key"]["value"]: e["value"] for e in jsonsafe.decode_session(raw)}
    assert d["userId"] == {"type": "int", "value": 42}
    assert d["cookie"]["value"]["httpOnly"] == {"type": "bool", "value": True}


def test_jackson_typing() -> None:
    v = jsonsafe.decode(b'{"@class":"com.example.Cart","items":["java.util.ArrayList",[1,2]],'
                        b'"n":["java.lang.Long",5]}')
    assert v["type"] == "com.example.Cart"
    assert v["value"]["items"] == {"type": "java.util.ArrayList", "value": [
        {"type": "int", "value": 1}, {"type": "int", "value": 2}]}
    assert v["value"]["n"] == {"type": "java.lang.Long", "value": 5}


def test_depth_limit_before_parsing() -> None:
    with pytest.raises(DecodeError, match="deep"):
        jsonsafe.loads(b"[" * 100_000 + b"]" * 100_000)
    assert jsonsafe.loads(b"[" * 130 + b"]" * 130)
    # Brackets inside strings do not count, escaped quotes do not end strings.
    assert jsonsafe.loads(b'{"a":"[[[[\\"[[[[","b":"\\\\"}') == {"a": '[[[["[[[[', "b": "\\"}


@pytest.mark.parametrize("raw", [b"", b"{", b'{"a":}', b"nul", b"\xff"])
def test_malformed(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        jsonsafe.decode(raw)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(raw: bytes) -> None:
    with contextlib.suppress(DecodeError):
        jsonsafe.decode(raw)


def test_lone_surrogate_escapes_come_back_as_base64() -> None:
    # json.loads turns "\ud800" into a str no UTF-8 output can hold: inspect --json died on it.
    import json

    raw = b'{"\\ud800": "\\udfff", "ok": ["java.lang.String", "\\udbff"], "t": "\\u00e9"}'
    entries = jsonsafe.decode_session(raw)
    assert entries[0] == {"key": {"type": "string", "encoding": "base64", "value": "7aCA"},
                          "value": {"type": "string", "encoding": "base64", "value": "7b+/"}}
    assert entries[1]["value"] == {"type": "java.lang.String", "encoding": "base64",
                                   "value": "7a+/"}
    assert entries[2]["value"] == {"type": "string", "value": "é"}
    nested = jsonsafe.decode(b'{"a": {"\\udc00": 1}}')
    assert nested["value"]["a"]["value"] == [
        {"key": {"type": "string", "encoding": "base64", "value": "7bCA"},
         "value": {"type": "int", "value": 1}}]
    json.dumps([entries, nested], ensure_ascii=False).encode("utf-8")


def test_node_budget() -> None:
    from sessdiag.codecs import MAX_NODES

    # Containers are counted before parsing; all other values while typing.
    with pytest.raises(DecodeError, match="too many elements") as e:
        jsonsafe.decode(b"[" + b"[]," * MAX_NODES + b"[]]")
    assert e.value.offset > 0
    with pytest.raises(DecodeError, match="too many elements"):
        jsonsafe.decode(b"[" + b"0," * MAX_NODES + b"0]")
    assert len(jsonsafe.decode(b"[" + b"0," * 1000 + b"0]")["value"]) == 1001
