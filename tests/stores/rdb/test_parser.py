"""The streaming RDB parser on every committed vector: versions 1–12, real and hand-built."""

from __future__ import annotations

import io

import pytest
from rdb_vectors import MANIFEST, W, expected, path, read_all

from sessdiag.stores.rdb.parser import COUNT, HEAD, SKIP, parse


@pytest.mark.parametrize("entry", MANIFEST, ids=[m["name"] for m in MANIFEST])
def test_every_key_and_value_as_the_manifest_says(entry: dict):
    info, got = read_all(path(entry["name"]))
    assert info.version == entry["version"]
    want = expected(entry)
    assert set(got) == set(want)
    for k, w in want.items():
        g = got[k]
        assert (g["type"], g["value"], g["expire_ms"]) == (w["type"], w["value"],
                                                           w["expire_ms"]), k
        assert g["error"] is None
    if entry["ctime"] is not None:
        assert int(info.aux["ctime"]) > 0


def test_versions_cover_one_to_twelve_and_two_real_servers():
    assert {m["version"] for m in MANIFEST} == set(range(1, 13))
    assert {m["writer"].split()[-1][:3] for m in MANIFEST if m["writer"].startswith("redis")} \
        == {"6.2", "7.0"}


@pytest.mark.parametrize("name", ["v12", "real-7.0.15", "real-6.2.14", "v2"])
def test_counts_and_heads_without_decoding_everything(name: str):
    _full_info, full = read_all(path(name))
    counts: dict = {}
    heads: dict = {}

    def on_count(rec):  # type: ignore[no-untyped-def]
        counts[(rec.db, rec.key.hex())] = rec.length

    def on_head(rec):  # type: ignore[no-untyped-def]
        heads[(rec.db, rec.key.hex())] = (rec.value, rec.length)

    with open(path(name), "rb") as f:
        parse(f, lambda db, k, t: COUNT, on_count)
    with open(path(name), "rb") as f:
        parse(f, lambda db, k, t: HEAD, on_head)
    for k, g in full.items():
        if g["type"] in ("set", "zset", "hash", "list"):
            assert counts[k] == g["length"], k
        if g["type"] == "string":
            assert heads[k][0].hex() == g["value"] and heads[k][1] == len(heads[k][0])


def test_skipping_reads_the_same_keys_and_metadata():
    seen = []
    with open(path("v12"), "rb") as f:
        info = parse(f, lambda db, k, t: SKIP, lambda r: seen.append((r.key, r.value)))
    assert all(v is None for _, v in seen)
    assert info.keys == {0: len(seen)}
    assert info.resize == {0: (20, 2)}
    assert info.functions == 1


def test_idle_and_module_records():
    _, got = read_all(path("v9"))
    assert got[(0, b"str:idle".hex())]["idle"] == 7200
    info, got = read_all(path("v9-modules"))
    assert info.module_aux == 1
    assert got[(0, b"module:value".hex())]["type"] == "module"


def test_head_keeps_only_the_first_64_kib_of_a_long_string():
    w = W.RdbWriter(10)
    w.key(0, b"big", W.string(b"x" * 200_000))
    got = []
    parse(io.BytesIO(w.finish()), lambda db, k, t: HEAD,
          lambda r: got.append((len(r.value), r.length, r.cut)))
    assert got == [(65536, 200_000, True)]


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_every_decode_level_reads_the_same_keys_whatever_the_chunk_size(chunk: int):
    """Records straddle buffer refills at every offset (the sniffed heads and stand-ins
    look at the next byte before reading a string: it may not be in the buffer yet)."""
    from sessdiag.stores.rdb.parser import FULL, SNIFF, SOME, Parser
    from sessdiag.stores.rdb.reader import Reader

    data = path("real-7.0.15").read_bytes()
    want = None
    for level in (FULL, SNIFF, SOME, HEAD, COUNT, SKIP):
        keys: list = []
        p = Parser(Reader(io.BytesIO(data), chunk=chunk), lambda db, k, t, w=level: w,
                   lambda r, keys=keys: keys.append((r.db, r.key, r.type)))
        p.keep = frozenset({b"f1"})
        p.run()
        want = want or keys
        assert keys == want, level
