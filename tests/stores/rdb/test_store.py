"""The dump backend: sessions in every encoding a version wrote, expiry as of the dump's time,
corrupt records counted, the target fields of the contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdb_vectors import W, path

from sessdiag.stores import ScanSettings, open_store, target_kind
from sessdiag.stores.rdb.errors import RdbError

GOB_EMPTY = bytes.fromhex("0eff81040102ff820001100110000004ff820000")
SID = "0123456789abcdef0123456789abcdef"


def _scan(p: Path | str, **kw: object) -> dict:
    store = open_store(str(p))
    try:
        return store.scan(ScanSettings(**kw))  # type: ignore[arg-type]
    finally:
        store.close()


def _groups(rep: dict) -> dict:
    return {(g["profile"], g["namespace"]): g for g in rep["groups"]}


def test_a_dump_is_its_own_kind_of_target():
    assert target_kind(str(path("v12"))) == "rdb"
    assert target_kind("-") == "rdb"


@pytest.mark.parametrize("name", ["v4", "v9", "v10", "v12", "real-6.2.14", "real-7.0.15"])
def test_sessions_in_every_encoding_are_found(name: str):
    rep = _scan(path(name))
    g = _groups(rep)
    assert g[("beego-redis", "")]["sessions"] == 1 and g[("beego-redis", "")]["empty"] == 1
    spring = {ns for (p, ns) in g if p.startswith("spring-session")}
    want = {"spring:session"}
    if name in ("v10", "v12"):
        want.add("myapp")  # a listpack hash (RDB 10)
    if name == "v12":
        want |= {"lpex", "lpexrc", "meta", "metarc"}  # hashes with field expiry (RDB 12)
    assert spring == want
    for ns in want:
        s = g[("spring-session-simple", ns)]
        assert s["sessions"] == 1 and s["undecodable"] == 0 and s["age_source"] == "recorded"
    t = rep["target"]
    assert t["kind"] == "rdb" and t["rdb_version"] == int(rep["dump"]["rdb_version"])
    assert t["as_of_source"] in ("ctime aux field", "file mtime (the dump has no ctime)")


def _beego_dump(tmp_path: Path, expire_ms: int, ctime: int | None = None) -> Path:
    w = W.RdbWriter(10)
    if ctime is not None:
        w.aux(b"ctime", str(ctime).encode())
    w.select(0)
    w.key(0, SID.encode(), W.string(GOB_EMPTY), expire_ms=expire_ms)
    w.key(0, b"other", W.string(b"x"))
    p = tmp_path / "dump.rdb"
    p.write_bytes(w.finish())
    return p


def test_a_key_past_its_expiry_at_as_of_is_counted_expired(tmp_path: Path):
    t = 1_790_000_000
    p = _beego_dump(tmp_path, (t + 600) * 1000, ctime=t)
    before = _scan(p)  # as of ctime: 10 minutes left
    g = _groups(before)[("beego-redis", "")]
    assert (g["sessions"], g["expired"], before["dump"]["keys_past_expiry"]) == (1, 0, 0)
    assert before["target"]["as_of"] == "2026-09-21T14:13:20Z"
    assert before["target"]["as_of_source"] == "ctime aux field"
    after = _scan(p, as_of=t + 3600)
    g = _groups(after)[("beego-redis", "")]
    assert (g["sessions"], g["expired"], after["dump"]["keys_past_expiry"]) == (1, 1, 1)
    assert after["target"]["as_of_source"] == "--as-of"
    assert g["examples"]["expired"] == ["01234567…"]


def test_without_ctime_the_file_mtime_is_the_time(tmp_path: Path):
    import os

    p = _beego_dump(tmp_path, 1_790_000_600_000)
    os.utime(p, (1_790_000_000, 1_790_000_000))
    rep = _scan(p)
    assert rep["target"]["as_of"] == "2026-09-21T14:13:20Z"
    assert rep["target"]["as_of_source"].startswith("file mtime")


def test_a_corrupt_session_value_is_counted_and_the_scan_goes_on(tmp_path: Path):
    w = W.RdbWriter(10)
    bad = bytearray(W.listpack([b"creationTime", b"1"]))
    bad[6] = 0xFE
    w.key(16, b"spring:session:sessions:6b1b5d3c-2f0e-4b35-9a4c-0d7c5e0a9f11",
          W.string(bytes(bad)))
    w.key(0, SID.encode(), W.string(GOB_EMPTY))
    p = tmp_path / "dump.rdb"
    p.write_bytes(w.finish())
    rep = _scan(p)
    assert rep["keyspace"]["other_by_type"] == {"corrupt": 1}
    assert rep["dump"]["corrupt_records"] == 1
    assert any("does not add up" in x for x in rep["warnings"])
    assert _groups(rep)[("beego-redis", "")]["sessions"] == 1


def test_a_truncated_dump_is_one_error(tmp_path: Path):
    data = path("real-7.0.15").read_bytes()
    p = tmp_path / "cut.rdb"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(RdbError, match=r"cut.rdb: the dump ends inside a record \(at byte"):
        _scan(p)


def test_memory_estimates_follow_the_encoding():
    from sessdiag.stores.rdb.memory import size_class

    assert [size_class(n) for n in (1, 8, 9, 17, 128, 129, 160, 161, 1025)] == [
        8, 8, 16, 32, 128, 160, 160, 192, 1280]


@pytest.mark.parametrize("enc", ["raw", "lzf"])
def test_a_session_found_by_its_value_is_read_whole_after_the_sniff(tmp_path: Path, enc: str):
    """A key no pattern names is sniffed from its first 256 bytes (an LZF string is expanded
    no further); once the head names a framework, the session is read as the live scan reads
    it: its bytes counted, its payload decoded."""
    payload = b'{"cookie":{"originalMaxAge":null,"httpOnly":true,"path":"/"},"user":"' + \
        b"a" * 900 + b'"}'
    w = W.RdbWriter(10)
    w.key(0, b"myapp-sess-7f3a", W.string(payload, enc))
    p = tmp_path / "dump.rdb"
    p.write_bytes(w.finish())
    g = _groups(_scan(p, now=1_790_000_000))[("connect-redis", "")]
    assert (g["sessions"], g["bytes"], g["undecodable"]) == (1, len(payload), 0)
    assert g["examples"]["detected_by_value"] == ["myapp-se…"]


def test_a_sniffed_string_whose_tail_does_not_expand_is_counted(tmp_path: Path):
    head = b'{"cookie":{"path":"/"},"user":"' + b"a" * 300
    comp = W.lzf_literal(head) + b"\xe0\xff\x00"  # a back-reference before the start
    w = W.RdbWriter(10)
    w.key(0, b"myapp-sess-7f3a", b"\xc3" + W.length(len(comp)) + W.length(len(head) + 1000)
          + comp)
    w.key(0, SID.encode(), W.string(GOB_EMPTY))
    p = tmp_path / "dump.rdb"
    p.write_bytes(w.finish())
    rep = _scan(p)
    assert rep["keyspace"]["other_by_type"] == {"corrupt": 1}
    assert rep["dump"]["corrupt_records"] == 1
    assert _groups(rep)[("beego-redis", "")]["sessions"] == 1


def test_the_dump_reads_as_much_of_a_value_as_the_live_scan_asks_for():
    from sessdiag.stores.rdb import parser
    from sessdiag.stores.redis import scanner

    assert (parser.HEAD_BYTES, parser.SNIFF_BYTES) == (scanner.MAX_VALUE, scanner.SNIFF_BYTES)


def test_the_lookup_index_is_sorted_in_merged_runs():
    from array import array

    from sessdiag.stores.rdb.lookup import sort_index

    words = array("Q", [((i * 2654435761) % (1 << 40)) << 24 | i for i in range(1000)])
    assert list(sort_index(words, run=64)) == sorted(words)
    assert list(sort_index(array("Q"), run=64)) == []


def test_a_plain_scan_keeps_no_lookup_index(tmp_path: Path):
    """Only access-log lookups need the 8 bytes a session: without logs, none are kept."""
    from sessdiag.scanning import run_scan

    p = _beego_dump(tmp_path, 1_790_000_600_000, ctime=1_790_000_000)
    store = open_store(str(p))
    try:
        store.scan(ScanSettings())
        assert store.index is not None and len(store.index) == 1
    finally:
        store.close()
    store = open_store(str(p))
    try:
        store.scan(ScanSettings(lookup=False))
        assert store.index is None
        assert store.lookup(None, "beegosessionID") is None
    finally:
        store.close()
    assert run_scan(str(p), ScanSettings())["sessions"] == 1


def test_corrupt_records_are_counted_in_bounded_memory(tmp_path: Path):
    """Each broken listpack names its own byte offset: past 100 reasons, the rest are counted
    together (a dump broken throughout must not grow a reason per record)."""
    from sessdiag.stores.rdb.keyspace import CORRUPT_REASONS

    w = W.RdbWriter(10)
    for i in range(CORRUPT_REASONS + 20):
        bad = bytearray(W.listpack([b"a" * (i + 1), b"1"]))
        bad[-3] = 0xFE  # the last entry's encoding byte: at a different offset each time
        w.key(16, b"spring:session:sessions:6b1b5d3c-2f0e-4b35-9a4c-%012d" % i,
              W.string(bytes(bad)))
    p = tmp_path / "dump.rdb"
    p.write_bytes(w.finish())
    from sessdiag.stores.rdb.scan import scan_dump
    from sessdiag.stores.rdb.source import DumpSource

    rep, scanner = scan_dump(DumpSource(str(p)), ScanSettings())
    assert len(scanner.corrupt) == CORRUPT_REASONS + 1
    assert scanner.corrupt["other reasons"] == 20
    assert rep["dump"]["corrupt_records"] == CORRUPT_REASONS + 20
    assert rep["keyspace"]["other_by_type"] == {"corrupt": CORRUPT_REASONS + 20}
    assert len(said := [w for w in rep["warnings"] if "does not add up" in w]) == 1
    assert "at byte" in said[0]
