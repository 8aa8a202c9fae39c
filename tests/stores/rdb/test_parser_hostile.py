"""Hostile and broken dumps: one RdbError (exit 2) or a counted record error, never a crash,
never a declared length allocated before its bytes exist, time bounded by the bytes present."""

from __future__ import annotations

import contextlib
import io
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdb_vectors import W, path

from sessdiag.stores.rdb.errors import RdbError, RdbTruncated
from sessdiag.stores.rdb.parser import COUNT, FULL, HEAD, SKIP, SNIFF, SOME, Parser

REAL = path("real-7.0.15").read_bytes()
V12 = path("v12").read_bytes()


def _parse(data: bytes, want: int = FULL) -> list:
    from sessdiag.stores.rdb.reader import Reader

    seen: list = []
    p = Parser(Reader(io.BytesIO(data)), lambda db, k, t: want,
               lambda r: seen.append((r.key, r.error)))
    p.keep = frozenset({b"creationTime"})  # SOME: the other values stand in by their length
    p.run()
    return seen


def test_wrong_magic_and_short_files():
    for data in (b"", b"RED", b"NOTREDIS0010\xff", b"REDISabcd\xff"):
        with pytest.raises(RdbError, match="not a Redis dump"):
            _parse(data)


@pytest.mark.parametrize("version", [b"0000", b"0013", b"9999"])
def test_versions_from_the_future_or_none(version: bytes):
    with pytest.raises(RdbError, match=f"RDB version {int(version)} "):
        _parse(b"REDIS" + version + b"\xff")


@pytest.mark.parametrize("data", [REAL, V12], ids=["real-7.0", "v12"])
def test_every_cut_before_the_end_marker_is_truncation(data: bytes):
    eof = len(data) - 9  # the EOF opcode, then 8 checksum bytes
    for cut in range(9, eof, 7):
        with pytest.raises(RdbTruncated):
            _parse(data[:cut], SKIP if cut % 2 else FULL)
    _parse(data[:eof + 1])  # without its checksum: read, nothing missing


def test_a_gigabyte_declared_in_ten_bytes_allocates_nothing():
    key = W.string(b"k")
    hostile = [
        b"REDIS0010\x00" + key + b"\x80\x40\x00\x00\x00" + b"abcdefghij",  # 1 GiB string
        b"REDIS0010\x00" + key + b"\xc3\x05\x80\x40\x00\x00\x00" + b"\x00abcd",  # LZF 1 GiB
        b"REDIS0010\x04" + key + b"\x81" + (1 << 60).to_bytes(8, "big") + b"\x01a",  # 2^60 pairs
        b"REDIS0010\x12" + key + b"\x81" + (1 << 60).to_bytes(8, "big"),  # quicklist nodes
        b"REDIS0010\x04" + key + b"\x01" + W.string(b"f")  # a hash value: LZF 1 GiB
        + b"\xc3\x05\x80\x40\x00\x00\x00" + b"\x00abcd",
    ]
    for data in hostile:
        for want in (SKIP, HEAD, SNIFF, COUNT, SOME, FULL):
            tracemalloc.start()
            try:
                with pytest.raises(RdbError):
                    _parse(data, want)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            assert peak < 4 << 20, (data, want, peak)


def test_a_corrupt_blob_is_a_counted_record_error_and_the_dump_goes_on():
    w = W.RdbWriter(10)
    bad = bytearray(W.listpack([b"creationTime", b"1"]))
    bad[6] = 0xFE  # an encoding byte listpacks do not have
    w.key(16, b"ns:sessions:x", W.string(bytes(bad)))
    w.key(0, b"after", W.string(b"ok"))
    lzf_bad = b"\xc3" + W.length(3) + W.length(50) + b"\x1f\x00\x01"
    w.key(0, b"badlzf", lzf_bad)
    w.key(0, b"last", W.string(b"ok"))
    got = _parse(w.finish())
    assert [k for k, _ in got] == [b"ns:sessions:x", b"after", b"badlzf", b"last"]
    assert got[0][1] and got[2][1] and got[1][1] is None and got[3][1] is None


@pytest.mark.parametrize("want", [FULL, SOME, HEAD, SNIFF])
def test_a_corrupt_lzf_element_inside_a_container_is_a_counted_record_error(want: int):
    """An LZF string that does not expand, as a hash value, a list element, a set member or
    a string: consumed by its length, the record counted, the keys after it read."""
    bad = b"\xc3" + W.length(3) + W.length(50) + b"\x1f\x00\x01"  # a literal run past its end
    w = W.RdbWriter(10)
    w.key(4, b"hash", W.length(2) + W.string(b"creationTime") + bad + W.string(b"other") + bad)
    w.key(1, b"list", W.length(3) + W.string(b"a") + bad + W.string(b"c"))
    w.key(2, b"set", W.length(2) + bad + W.string(b"m"))
    w.key(0, b"string", bad)
    w.key(0, b"last", W.string(b"ok"))
    got = dict(_parse(w.finish(), want))
    assert list(got) == [b"hash", b"list", b"set", b"string", b"last"]
    assert got[b"last"] is None
    decoded = [k for k in (b"hash", b"list", b"set") if want in (FULL, SOME)] + [b"string"]
    for k in (b"hash", b"list", b"set", b"string"):
        assert (got[k] is not None) == (k in decoded), k  # skipped by length: nothing to see


def test_unknown_opcodes_and_types_are_errors_with_their_offset():
    with pytest.raises(RdbError, match="unknown value type 8"):
        _parse(b"REDIS0010\x08\x01k\x00")
    with pytest.raises(RdbError, match="opcode 243"):
        _parse(b"REDIS0010\xf3")
    with pytest.raises(RdbError, match="release-candidate"):
        _parse(b"REDIS0008\x06\x01k\x00")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_real_dumps_never_crash(data: st.DataObject):
    src = data.draw(st.sampled_from([REAL, V12]))
    buf = bytearray(src)
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(9, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        buf = buf[:data.draw(st.integers(0, len(buf)))]
    want = data.draw(st.sampled_from([SKIP, HEAD, SNIFF, COUNT, SOME, FULL]))
    with contextlib.suppress(RdbError):
        _parse(bytes(buf), want)
