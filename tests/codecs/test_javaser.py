"""Java serialization: JDK-written vectors (fixtures/java, tools/javagen), hostile inputs."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessdiag.codecs import javaser
from sessdiag.core.errors import DecodeError

JAVA = Path(__file__).resolve().parents[2] / "fixtures" / "java"
MANIFEST = json.loads((JAVA / "manifest.json").read_text())
OK = [v for v in MANIFEST if v["kind"] == "ok"]
HOSTILE = [v for v in MANIFEST if v["kind"] == "hostile"]


def data(v: dict) -> bytes:
    return (JAVA / v["file"]).read_bytes()


def plain(x):  # type: ignore[no-untyped-def]
    """Typed value -> plain JSON (for comparison with the manifest's expectations)."""
    if isinstance(x, dict) and set(x) >= {"type", "value"}:
        return plain(x["value"])
    if isinstance(x, list):
        return [plain(i) for i in x]
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    return x


def test_manifest_covers_the_grammar() -> None:
    assert len(OK) >= 30 and len(HOSTILE) >= 3
    assert all((JAVA / v["file"]).stat().st_size == v["size"] for v in MANIFEST)


@pytest.mark.parametrize("v", OK, ids=[v["name"] for v in OK])
def test_jdk_vectors_decode(v: dict) -> None:
    out = javaser.decode(data(v))
    assert out["type"] == v["type"]
    if v["expect"] is not None:
        assert plain(out) == v["expect"]
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize("v", HOSTILE, ids=[v["name"] for v in HOSTILE])
def test_hostile_vectors_refused(v: dict) -> None:
    with pytest.raises(DecodeError):
        javaser.decode(data(v))


def test_objects_fields_references_and_annotations() -> None:
    user = javaser.decode(data(next(v for v in OK if v["name"] == "user_object")))["value"]
    assert user["name"] == {"type": "java.lang.String", "value": "alice"}
    assert user["id"] == {"type": "long", "value": 7} and user["age"]["value"] == 42
    assert user["role"] == {"type": "com.example.User$Role", "value": "ADMIN"}
    assert [r["value"] for r in user["roles"]["value"]] == ["ROLE_USER"]
    manager = user["manager"]["value"]
    assert manager["name"]["value"] == "bob"
    assert manager["manager"]["type"] == "ref" and manager["manager"]["class"] == "com.example.User"
    custom = javaser.decode(data(next(v for v in OK if v["name"] == "custom_write_object")))
    assert custom["value"]["version"]["value"] == 7
    assert custom["value"]["@data"] == [{"type": "java.lang.String", "value": "extra"}]
    tm = javaser.decode(data(next(v for v in OK if v["name"] == "treemap_int_keys")))
    assert [(e["key"]["value"], e["value"]["value"]) for e in tm["value"]] == [(1, "one"),
                                                                             (2, "two")]


def test_fast_paths_match_the_parser() -> None:
    for name, n in (("long_creation_time", 1404360000000), ("integer_1800", 1800),
                    ("long_negative", -1), ("integer_negative", -1)):
        raw = data(next(v for v in OK if v["name"] == name))
        assert javaser.long_value(raw) == n
        p = javaser._Parser(raw, 10_000)
        p.i = 4
        assert p.obj(0)["value"] == n
    assert javaser.string_value(data(next(v for v in OK if v["name"] == "string_principal"))) \
        == "alice"
    assert javaser.long_value(b"nope") is None


@pytest.mark.parametrize("v", OK[:12] + [v for v in OK if v["name"] == "user_object"],
                         ids=lambda v: v["name"])
def test_every_truncation_is_undecodable(v: dict) -> None:
    raw = data(v)
    for cut in range(len(raw)):
        with pytest.raises(DecodeError):
            javaser.decode(raw[:cut])


def test_huge_declared_lengths() -> None:
    # TC_STRING declaring 65535 bytes, a long string declaring 2^62, an int[] of 2^31-1.
    for raw in (b"\xac\xed\x00\x05t\xff\xffab",
                b"\xac\xed\x00\x05|" + (1 << 62).to_bytes(8, "big") + b"x",
                b"\xac\xed\x00\x05ur\x00\x02[I\x00\x00\x00\x00\x00\x00\x00\x01\x02\x00\x00xp"
                b"\x7f\xff\xff\xff"):
        with pytest.raises(DecodeError, match="beyond the data"):
            javaser.decode(raw)


def test_not_java() -> None:
    with pytest.raises(DecodeError, match="magic"):
        javaser.decode(b"{}")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(tail: bytes) -> None:
    with contextlib.suppress(DecodeError):
        javaser.decode(javaser.MAGIC + tail)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_vectors_never_crash(d: st.DataObject) -> None:
    v = d.draw(st.sampled_from(OK))
    raw = bytearray(data(v))
    for _ in range(d.draw(st.integers(1, 4))):
        i = d.draw(st.integers(4, len(raw) - 1))
        raw[i] = d.draw(st.integers(0, 255))
    with contextlib.suppress(DecodeError):
        json.dumps(javaser.decode(bytes(raw)))


def test_array_class_named_just_bracket_is_undecodable() -> None:
    # Issue 19: IndexError on desc.name[1], which aborted a whole Redis scan --deep (exit 70).
    raw = bytes.fromhex("aced0005757200015b0000000000000000020000787000000000")
    with pytest.raises(DecodeError, match="array without an array class"):
        javaser.decode(raw)
    for name in (b"[", b"[Q", b"I"):
        raw = (b"\xac\xed\x00\x05ur" + len(name).to_bytes(2, "big") + name
               + bytes(8) + b"\x02\x00\x00xp" + bytes(4))
        with pytest.raises(DecodeError):
            javaser.decode(raw)


def test_many_resets_are_a_loop_not_a_recursion() -> None:
    raw = javaser.MAGIC + b"y" * 50_000 + b"t\x00\x01a"
    assert javaser.decode(raw) == {"type": "java.lang.String", "value": "a"}


def test_repeated_string_references_cannot_blow_up_the_output() -> None:
    # One 60 KB string, then an Object[] holding 20,000 references to it (5 bytes each):
    # shown in full every time, that is 1.2 GB of JSON from 160 KB of input.
    s = b"x" * 60_000
    n = 20_000
    raw = (javaser.MAGIC + b"ur\x00\x13[Ljava.lang.Object;" + bytes(8) + b"\x02\x00\x00xp"
           + n.to_bytes(4, "big") + b"|" + len(s).to_bytes(8, "big") + s
           + (b"q" + (javaser.BASE_HANDLE + 2).to_bytes(4, "big")) * (n - 1))
    v = javaser.decode(raw)
    out = json.dumps(v)
    assert len(out) < 16 * len(raw)  # in full: 7,500 x
    items = v["value"]
    assert len(items) == n
    assert items[1] == {"type": "java.lang.String", "value": s.decode()}  # repeated while cheap
    assert items[-1] == {"type": "ref", "value": javaser.BASE_HANDLE + 2,
                         "class": "java.lang.String"}


def test_work_budget_is_capped_by_max_nodes() -> None:
    # 300,000 one-byte nulls in an Object[]: 60 MB of typed dicts; refused at the cap.
    head = javaser.MAGIC + b"ur\x00\x13[Ljava.lang.Object;" + bytes(8) + b"\x02\x00\x00xp"
    n = 300_000
    with pytest.raises(DecodeError, match="work budget"):
        javaser.decode(head + n.to_bytes(4, "big") + b"p" * n)
    assert len(javaser.decode(head + (1000).to_bytes(4, "big") + b"p" * 1000)["value"]) == 1000


def test_a_char_that_is_half_a_surrogate_pair_is_named_by_its_code() -> None:
    # char[] {'A', 0xDAC1, 0xDC00}: a fuzzer found the lone surrogate broke UTF-8 output.
    data = bytes.fromhex("aced0005757200025b43b02666b0e25d84ac0200007870000000030041dac1dc00")
    out = javaser.decode(data)
    assert out == {"type": "[C", "value": ["A", "U+DAC1", "U+DC00"]}
    json.dumps(out, ensure_ascii=False).encode("utf-8")  # no lone surrogate left
