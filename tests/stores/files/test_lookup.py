"""File stores answer cookie lookups and attribution by payload (stores/files/lookup.py),
fd-relative and never through a symlink, for the analysis layer that only counts."""

from __future__ import annotations

import os

from sessdiag import frameworks
from sessdiag.analysis.clients import attribute_by_payload
from sessdiag.fixtures import FixtureSpec, make_tree
from sessdiag.stores import ScanSettings, open_store
from sessdiag.stores.files.layout import beego_layout
from sessdiag.stores.files.lookup import FileStoreLookup

BEEGO_COOKIE = frameworks.sid_mapper("beego-file", "beegosessionID")


def test_file_lookup_finds_sessions_and_refuses_paths_and_symlinks(tmp_path):
    root = tmp_path / "tmp"
    make_tree(str(root), FixtureSpec.from_mapping({"sessions": 20, "seed": 3,
                                                   "now": 1_790_000_000}))
    sids = sorted(p.name for p in root.glob("*/*/*"))
    look = FileStoreLookup(str(root), beego_layout(), BEEGO_COOKIE)
    try:
        hit = look(sids[0].encode())
        st = os.lstat(root / sids[0][0] / sids[0][1] / sids[0])
        assert hit == (st.st_size, st.st_blocks * 512)
        assert look(b"0" * 32) is None  # well-formed, not in the store
        assert look(b"../../etc/passwd") is None
        assert look(b"%2e%2e%2f%2e%2e%2fetc") is None
        # a session file replaced by a symlink is not a session
        victim = root / sids[1][0] / sids[1][1] / sids[1]
        victim.unlink()
        victim.symlink_to("/etc/hostname")
        assert look(sids[1].encode()) is None
    finally:
        look.close()
    # a shard directory replaced by a symlink is never followed
    shard = root / sids[2][0] / sids[2][1]
    moved = tmp_path / "moved"
    shard.rename(moved)
    shard.symlink_to(moved)
    look = FileStoreLookup(str(root), beego_layout(), BEEGO_COOKIE)
    try:
        assert (moved / sids[2]).exists() and look(sids[2].encode()) is None
    finally:
        look.close()


def test_attribution_by_payload_attribute(tmp_path):
    root = tmp_path / "tmp"
    spec = {"sessions": 120, "seed": 5, "now": 1_790_000_000, "empty_fraction": 0.5,
            "zero_byte": 3, "payloads": ["string", "casdoor_login", "int"]}
    make_tree(str(root), FixtureSpec.from_mapping(spec))
    sizes = [p.stat().st_size for p in root.glob("*/*/*")]
    with_user = sum(1 for s in sizes if s in (64, 200))  # the payloads holding a username
    empty = sum(1 for s in sizes if s in (0, 20))
    store = open_store(str(root))
    report = store.scan(ScanSettings(now=1_790_000_000, jobs=1))
    attribute_by_payload(report, store, "username")
    rows = {r["client"]: r for r in report["clients"]}
    assert rows["username=built-in/admin"]["sessions"] == with_user
    un = rows["(unattributed)"]
    assert un["sessions"] == len(sizes) - with_user and un["orphans"] == empty
    assert report["clients"][0]["client"] == "(unattributed)"  # sorted by orphans
    assert sum(r["sessions"] for r in rows.values()) == report["sessions"]


def test_prefetched_lookups_answer_as_single_ones(tmp_path, monkeypatch):
    """The clients report looks every sampled id up at once (fanned out on a slow mount):
    the answers are those of one lookup at a time, symlinks and paths refused alike."""
    from sessdiag.stores.files import inflight

    root = tmp_path / "tmp"
    make_tree(str(root), FixtureSpec.from_mapping({"sessions": 60, "seed": 4,
                                                   "now": 1_790_000_000}))
    sids = sorted(p.name for p in root.glob("*/*/*"))
    victim = root / sids[1][0] / sids[1][1] / sids[1]
    victim.unlink()
    victim.symlink_to("/etc/hostname")
    raws = [s.encode() for s in sids] + [b"0" * 32, b"../../etc/passwd", sids[0].encode()]
    one = FileStoreLookup(str(root), beego_layout(), BEEGO_COOKIE)
    try:
        want = [one(r) for r in raws]
    finally:
        one.close()
    monkeypatch.setattr(inflight, "FANOUT_LATENCY_S", -1.0)  # every mount counts as slow
    many = FileStoreLookup(str(root), beego_layout(), BEEGO_COOKIE)
    try:
        many.prefetch(raws)
        assert many.engine.fanout
        assert [many(r) for r in raws] == want
    finally:
        many.close()
    assert want[1] is None and want[0] is not None


def test_fanned_out_attribution_counts_the_same(tmp_path, monkeypatch):
    from sessdiag.stores.files import inflight
    from sessdiag.stores.files.lookup import attribute_files

    root = tmp_path / "tmp"
    make_tree(str(root), FixtureSpec.from_mapping(
        {"sessions": 300, "seed": 6, "now": 1_790_000_000, "empty_fraction": 0.3,
         "zero_byte": 2, "payloads": ["string", "casdoor_login", "int"]}))
    decode = frameworks.get("beego-file").decoder()
    inline = attribute_files(str(root), beego_layout(), decode, "username", 300)
    monkeypatch.setattr(inflight, "FANOUT_LATENCY_S", -1.0)
    fanned = attribute_files(str(root), beego_layout(), decode, "username", 300)
    assert fanned == inline
    assert sum(r["sessions"] for r in inline) == 300
