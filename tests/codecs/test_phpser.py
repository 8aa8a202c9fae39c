"""PHP session payloads: real PHP 8.2 writes (fixtures/php, fixtures/redis/php-redis.json), PHP's
own number grammar, the nesting limit at and one past it, and hostile lengths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sessdiag.codecs import phpser
from sessdiag.core.errors import DecodeError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PHP = FIXTURES / "php"


def entries(data: bytes) -> dict:
    return {e["key"]["value"]: e["value"] for e in phpser.decode_session(data)}


@pytest.mark.parametrize("handler", ["php", "php_serialize"])
def test_real_php_session_encode(handler: str) -> None:
    d = entries((PHP / f"{handler}.sess").read_bytes())
    assert d["uid"] == {"type": "int", "value": 42}
    assert d["neg"] == {"type": "int", "value": -7}
    assert d["name"] == {"type": "string", "value": "Zoë"}
    assert d["pi"] == {"type": "float", "value": 3.25}
    assert d["inf"] == {"type": "float", "value": "inf"}
    assert d["ok"] == {"type": "bool", "value": True}
    assert d["none"] == {"type": "null", "value": None}
    lst = d["list"]["value"]
    assert [x["key"]["value"] for x in lst] == [0, 1, 2]
    assert lst[2]["value"]["value"][1]["value"]["value"] == {"deep": {"type": "int", "value": 1}}
    user = d["user"]
    assert user["type"] == "User"
    # PHP marks protected/private properties with NUL bytes: kept, as PHP wrote them.
    assert user["value"]["\x00*\x00role"] == {"type": "string", "value": "admin"}
    assert user["value"]["\x00User\x00id"] == {"type": "int", "value": 7}
    assert d["suit"] == {"type": "enum", "value": "Suit:Hearts"}
    assert d["blob"] == {"type": "Blob", "value": "cmF3AGRhdGE="}  # base64 of "raw\0data"
    assert d["bin"] == {"type": "string", "value": "//4=", "encoding": "base64"}
    assert d["b"]["type"] == "reference" and d["r2"]["type"] == "reference"


def test_captured_phpredis_sessions() -> None:
    keys = json.loads((FIXTURES / "redis" / "php-redis.json").read_text())["keys"]
    decoded = [phpser.decode_session(bytes.fromhex(k["value_hex"])) for k in keys
               if k["type"] == "string"]
    assert any(e["key"]["value"] == "uid" and e["value"]["value"] == 9
               for s in decoded for e in s)
    assert [] in decoded  # the empty session PHP writes as b""


@pytest.mark.parametrize(("raw", "value"), [
    (b"i:5;", 5), (b"i:+5;", 5), (b"i:-5;", -5), (b"i:0;", 0), (b"i:-0;", 0),
])
def test_php_integer_grammar_accepts(raw: bytes, value: int) -> None:
    assert phpser.decode_serialized(raw) == {"type": "int", "value": value}


@pytest.mark.parametrize("raw", [
    b"i:-+5;", b"i:+-5;", b"i:--1;", b"i:++1;", b"i:;", b"i:-;", b"i:5-;", b"i: 5;",
    b's:--1:"a";', b's:+1:"a";', b's:-1:"a";', b"a:-1:{}", b"a:+0:{}",
    b'C:4:"Blob":-1:{}', b'O:+1:"X":0:{}', b"b:+1;", b"b:2;", b"i:1234567890123456789012345;",
])
def test_php_number_grammar_refuses(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        phpser.decode_serialized(raw)


def test_issue19_reproducers_are_undecodable() -> None:
    # Each once escaped as ValueError from int() (exit 70 from scan --deep and inspect).
    for raw in (b"x|i:-+5;", b'x|s:--1:"a";'):
        with pytest.raises(DecodeError, match="bad"):
            phpser.decode_session(raw)


def nested(levels: int) -> bytes:
    return b"x|" + b"a:1:{i:0;" * (levels - 1) + b"a:0:{}" + b"}" * (levels - 1)


def test_nesting_at_the_limit_and_one_past() -> None:
    assert phpser.MAX_DEPTH == 256
    v = phpser.decode_session(nested(256))[0]["value"]
    levels = 0
    while v["type"] == "array":
        levels += 1
        v = v["value"][0]["value"] if v["value"] else {"type": "end"}
    assert levels == 256
    with pytest.raises(DecodeError, match="nesting too deep"):
        phpser.decode_session(nested(257))
    # What PHP itself wrote, at and one past the limit.
    assert phpser.decode_session((PHP / "nested_256.sess").read_bytes())
    with pytest.raises(DecodeError, match="nesting too deep"):
        phpser.decode_session((PHP / "nested_257.sess").read_bytes())


def test_objects_count_as_nesting() -> None:
    def objects(n: int) -> bytes:
        return b"x|" + b'O:1:"X":1:{s:1:"p";' * n + b"N;" + b"}" * n

    with pytest.raises(DecodeError, match="nesting too deep"):
        phpser.decode_session(objects(257))
    assert phpser.decode_session(objects(256))


@pytest.mark.parametrize("raw", [
    b'x|s:999999999:"a";', b"x|a:999999999:{}", b'x|C:1:"X":99999999:{}',
    b"x|d:" + b"1" * 65 + b";", b"x|d:abc;", b"x|", b"x", b"|i:1;", b"x|i:1;trailing",
    b"x|Q:1;", b"x|a:1:{N;N;}",
    b'x|a:1:{a:0:{}i:1;}', b"x|b:1", b"x|N", b"x|s:1:\"ab\";",
])
def test_hostile_and_malformed(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        phpser.decode_session(raw)


def test_empty_and_key_forms() -> None:
    assert phpser.decode_session(b"") == []
    assert phpser.is_empty_session(b"")
    assert not phpser.is_empty_session(b"a|i:1;")
    # php_serialize with integer keys keeps the key/value pairs.
    assert phpser.decode_session(b"a:1:{i:3;s:1:\"v\";}") == [
        {"key": {"type": "int", "value": 3}, "value": {"type": "string", "value": "v"}}]
    assert phpser.decode_serialized(b"d:NAN;") == {"type": "float", "value": "nan"}


def test_binary_keys_stay_typed() -> None:
    # "//4=" is what the binary key \xff\xfe looks like in base64: not the text key "//4=".
    v = phpser.decode_serialized(b'a:2:{s:2:"\xff\xfe";i:1;s:4:"//4=";i:2;}')
    assert v["value"] == [
        {"key": {"type": "string", "value": "//4=", "encoding": "base64"},
         "value": {"type": "int", "value": 1}},
        {"key": {"type": "string", "value": "//4="}, "value": {"type": "int", "value": 2}}]


def test_counts_past_the_value_budget_fail_before_reading() -> None:
    n = phpser.MAX_ITEMS // 2 + 1  # key + value per element
    raw = b"x|a:%d:{" % n + b"i:0;N;" * n + b"}"
    with pytest.raises(DecodeError, match="too many elements") as e:
        phpser.decode_session(raw)
    assert e.value.offset < 20  # at the header, not after reading 750,000 values
