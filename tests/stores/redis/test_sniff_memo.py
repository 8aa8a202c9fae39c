"""The remembered value sniffing of unnamed keys equals running every framework's sniffer."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sessdiag import frameworks
from sessdiag.codecs.gob import EMPTY_SESSION
from sessdiag.stores.redis import profiles as P
from sessdiag.stores.redis import scanner as S

# Heads of every format a sniffer looks for, and of none
HEADS = [b"", b"v" * 40, b"hello", b"12345", b"a:2:{s:1:", b"user|s:5:", b"x|y",
         b"\x80\x04\x95\x12", b"\x80\x02}q\x00", b"\x81\xaa_permanent", b"\xde\x00\x01",
         b"\x04\x08{\x06", b'{"cookie":{"path":"/"}}', b'{"a":1}', b"[1,2]", EMPTY_SESSION,
         b"\x0e\xff\x81\x04\x01\x02\xff\x82\x00", b"\x0e\xff\x81\x03", b"\xac\xed\x00\x05t",
         b"\x0e"]
PARTS = [b"sess", b"SESS", b"Session", b"django", b"DJANGO", b"cache", b":", b"item", b"1",
         b"rack", b"flask", b"_", b"\xff"]
keys = st.lists(st.sampled_from(PARTS), max_size=6).map(b"".join)
heads = st.one_of(st.sampled_from(HEADS), st.binary(max_size=24),
                  st.tuples(st.sampled_from(HEADS), st.binary(max_size=8)).map(b"".join))


def test_every_redis_sniffer_declares_its_key_words():
    assert frameworks.SNIFF_KEY["words"] is not None
    for fw in frameworks.REGISTRY.values():
        if fw.sniff_value is not None and fw.medium == "redis":
            assert fw.sniff_key_words is not None, fw.name


@settings(max_examples=400, deadline=None)
@given(key=keys, head=heads)
def test_a_sniffer_reads_the_key_only_through_its_words(key: bytes, head: bytes):
    low = key.lower()
    fmt = P.sniff(head)
    for fw in frameworks.REGISTRY.values():
        if fw.sniff_value is None or fw.medium != "redis":
            continue
        assert fw.sniff_key_words is not None
        held = b" ".join(w for w in fw.sniff_key_words if w in low)
        assert fw.sniff_value(low, head, fmt) == fw.sniff_value(held, head, fmt), fw.name


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(keys, heads), min_size=1, max_size=30))
def test_remembered_answers_are_the_sniffers(seq: list[tuple[bytes, bytes]]):
    # the same heads again under other names: answered from the memo
    for key, head in seq + [(k + b"x", h) for k, h in seq] + [(b"a" + k, h) for k, h in seq]:
        assert S._sniff_profile(key, head) == S._sniff_all(key, head)


def test_heads_named_by_their_key_words_are_told_apart():
    pickle = b"\x80\x04\x95\x12"
    assert S._sniff_profile(b"cache:1", pickle) is None
    assert S._sniff_profile(b"app:sess:1", pickle) == "flask-session"
    assert S._sniff_profile(b"django:sess:1", pickle) == "django-cache"
    assert S._sniff_profile(b"cache:2", pickle) is None


# Spring hash values of every kind: JDK numbers, strings, objects (one that does not decode),
# JSON, garbage, long ones (remembered) and short ones
_JAVA = Path(__file__).resolve().parents[3] / "fixtures" / "java"
SPRING_VALUES = [(_JAVA / n).read_bytes() for n in ("long_creation_time.ser", "integer_1800.ser",
                                                     "user_object.ser", "string_principal.ser",
                                                     "hashmap_uid.ser")]
SPRING_VALUES += [SPRING_VALUES[2][:200], b'"alice"', b"1800", b"", b"\xac\xed\x00\x05",
                  b"x" * 300, b'{"a":' + b"1" * 200 + b"}"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from([b"creationTime", b"sessionAttr:u", b"x"]),
                                   st.sampled_from(SPRING_VALUES)), max_size=5),
                max_size=6))
def test_remembered_spring_decodes_answer_as_decoding_does(hashes):
    """NodeScanner.spring_decodes (values remembered) fails where P.decode_spring_hash
    fails, for the same reason, hash after hash."""
    from sessdiag.core.errors import DecodeError
    from sessdiag.stores.rdb.keyspace import DumpScanner

    sc = DumpScanner("x", S.ScanParams(now=0.0, age_edges=(60,)), 0)
    for pairs in hashes:
        h = [x for pair in pairs for x in pair]
        try:
            P.decode_spring_hash(h)
            want = None
        except DecodeError as exc:
            want = exc.reason
        assert sc.spring_decodes(h) == want
