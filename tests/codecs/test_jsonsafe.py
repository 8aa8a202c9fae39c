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
