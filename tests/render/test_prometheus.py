"""Prometheus textfile output: labels stay UTF-8 and one line each."""

from __future__ import annotations

import os

from sessdiag.fixtures import FixtureSpec, make_tree
from sessdiag.render.prometheus import Metrics


def test_labels_escape_undecodable_and_control_characters():
    m = Metrics()
    m.add("sessdiag_sessions", "Sessions.", 3, store=os.fsdecode(b"/srv/\xff") + "\x1b\n")
    text = m.render()
    text.encode("utf-8")
    assert 'sessdiag_sessions{store="/srv/\\xff\\x1b\\n"} 3' in text.splitlines()


def test_scan_prom_for_a_store_with_an_undecodable_name(cli, tmp_path):
    store = tmp_path / os.fsdecode(b"st\xffore")
    make_tree(str(store), FixtureSpec.from_mapping(dict(sessions=10, seed=1)))
    prom = tmp_path / "m.prom"
    res = cli("scan", store, "--prom", prom, "--quiet", "--max-lifetime", "1d")
    assert res.code == 0, res.err
    text = prom.read_bytes().decode("utf-8")
    assert "st\\xffore" in text
