"""Exact numbers: trees with known contents, every contract field checked."""

from __future__ import annotations

import os

import pytest

from sessdiag.census import DEFAULT_AGE_EDGES
from sessdiag.fixtures import FixtureSpec, make_tree
from sessdiag.report import file_scan_report
from sessdiag.stores.files.scan import scan_file_store

NOW = 1_790_000_000


def _scan(root, *, life, deep=False, jobs=2, workers=None, sample=1000, profile=None):
    result = scan_file_store(str(root), profile=profile, max_lifetime=life,
                             age_edges=DEFAULT_AGE_EDGES, jobs=jobs, worker_model=workers,
                             deep=deep, sample_k=sample, seed=1, now=NOW)
    return file_scan_report(result)


def _assert_matches(report: dict, exp: dict, *, deep: bool) -> None:
    for key in ("sessions", "bytes", "allocated_bytes", "expired", "expired_fraction", "empty",
                "age_histogram", "max_lifetime_s"):
        assert report[key] == exp[key], key
    an = report["anomalies"]
    assert an["symlinks"] == exp["anomalies"]["symlinks"]
    assert an["foreign"] == exp["anomalies"]["foreign"]
    assert an["misplaced"] == exp["anomalies"]["misplaced"]
    assert an["zero_byte"] == exp["zero_byte"]
    assert an["unreadable"] == 0
    if deep:
        assert an["undecodable"] == exp["undecodable"]
    else:
        assert an["undecodable"] <= exp["undecodable"]
    assert sum(b["count"] for b in report["age_histogram"]) == report["sessions"]
    assert report["age_histogram"][-1]["upper_s"] is None
    g = report["groups"][0]
    assert (g["sessions"], g["bytes"], g["expired"], g["empty"]) == (
        exp["sessions"], exp["bytes"], exp["expired"], exp["empty"])


BEEGO_SPEC = dict(profile="beego-file", sessions=2000, seed=5, now=NOW, max_lifetime=30 * 86400,
                  expired_fraction=0.3, age_max=120 * 86400, empty_fraction=0.8, zero_byte=7,
                  undecodable=0, symlinks=3, foreign=5, misplaced=4, fifos=1)


@pytest.mark.parametrize("deep", [False, True])
@pytest.mark.parametrize(("jobs", "workers"), [(1, None), (2, "processes"), (4, "threads")])
def test_beego_tree_exact(tmp_path, deep, jobs, workers):
    exp = make_tree(str(tmp_path / "t"), FixtureSpec.from_mapping(BEEGO_SPEC))
    r = _scan(tmp_path / "t", life=30 * 86400, deep=deep, jobs=jobs, workers=workers)
    _assert_matches(r, exp, deep=deep)
    assert r["target"]["profile"] == "beego-file"
    assert r["payload_check"]["method"] == ("deep" if deep else "sample")
    # 16 + 256 shard dirs plus the root.
    assert r["dirs"] == 273
    assert r["gc_estimate"]["files"] >= r["sessions"]


def test_beego_undecodable_counted_exactly_with_deep(tmp_path):
    spec = dict(BEEGO_SPEC, undecodable=11, sessions=600)
    exp = make_tree(str(tmp_path / "t"), FixtureSpec.from_mapping(spec))
    r = _scan(tmp_path / "t", life=30 * 86400, deep=True)
    _assert_matches(r, exp, deep=True)
    assert r["anomalies"]["undecodable"] == 11
    assert r["payload_check"]["decoded"] == exp["sessions"]


def test_sample_covering_everything_equals_deep(tmp_path):
    spec = dict(BEEGO_SPEC, undecodable=9, sessions=300)
    exp = make_tree(str(tmp_path / "t"), FixtureSpec.from_mapping(spec))
    r = _scan(tmp_path / "t", life=30 * 86400, sample=10_000)
    assert r["payload_check"]["decoded"] == exp["sessions"]
    assert r["anomalies"]["undecodable"] == 9


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize("deep", [False, True])
def test_php_tree_exact(tmp_path, depth, deep):
    spec = dict(profile="php-files", sessions=400, seed=depth, now=NOW, max_lifetime=1440,
                expired_fraction=0.25, empty_fraction=0.5, undecodable=3, symlinks=2,
                foreign=3, misplaced=2, php_depth=depth)
    exp = make_tree(str(tmp_path / "p"), FixtureSpec.from_mapping(spec))
    r = _scan(tmp_path / "p", life=1440, deep=deep)
    assert r["target"]["profile"] == "php-files"
    assert f"{depth};" in r["target"]["layout"] if depth else "sess_<id>" in r["target"]["layout"]
    _assert_matches(r, exp, deep=deep)
    assert r["gc_estimate"] is None


def test_custom_buckets_and_lifetime(tmp_path):
    exp = make_tree(str(tmp_path / "t"), FixtureSpec.from_mapping(dict(BEEGO_SPEC, sessions=500)))
    res = scan_file_store(str(tmp_path / "t"), max_lifetime=86400, age_edges=(3600, 86400 * 60),
                          jobs=1, now=NOW)
    r = file_scan_report(res)
    assert [b["upper_s"] for b in r["age_histogram"]] == [3600, 86400 * 60, None]
    assert sum(b["count"] for b in r["age_histogram"]) == exp["sessions"]
    # Everything older than a day is expired at a 1-day lifetime; fixture ages are >= 0.5 s.
    assert r["expired"] == r["sessions"] - _younger_than(tmp_path / "t", NOW - 86400)


def _younger_than(root, cut) -> int:
    n = 0
    for d, _dirs, files in os.walk(root):
        for f in files:
            st = os.lstat(os.path.join(d, f))
            rel = os.path.relpath(os.path.join(d, f), root).split("/")
            if len(rel) == 3 and rel[2][:2] == rel[0] + rel[1] and len(rel[2]) == 32 \
                    and not os.path.islink(os.path.join(d, f)) and st.st_mtime >= cut:
                n += 1
    return n


def test_empty_timeline_counts_every_empty_session(tmp_path):
    exp = make_tree(str(tmp_path / "t"), FixtureSpec.from_mapping(dict(BEEGO_SPEC, sessions=800)))
    r = _scan(tmp_path / "t", life=30 * 86400)
    assert sum(x["count"] for x in r["empty_timeline"]) == exp["empty"]
    assert r["empty_rate"]["per_hour_mean"] > 0
    assert r["oldest"]["age_s"] > r["newest"]["age_s"]
    holding = {d for d, _, files in os.walk(tmp_path / "t")
               if any(len(f) == 32 and not os.path.islink(os.path.join(d, f)) for f in files)
               and len(os.path.relpath(d, tmp_path / "t")) == 3}
    assert r["shards"]["count"] == len(holding)
    assert r["shards"]["largest"]["sessions"] >= r["shards"]["mean"]


def test_findings_name_the_waste(tmp_path):
    make_tree(str(tmp_path / "t"), FixtureSpec.from_mapping(dict(BEEGO_SPEC, sessions=500,
                                                                 empty_fraction=0.99)))
    r = _scan(tmp_path / "t", life=30 * 86400)
    text = "\n".join(r["findings"])
    assert "empty sessions" in text
    assert "allocated for" in text
    assert "past the 30d lifetime" in text


@pytest.mark.parametrize(("profile", "depth"), [("beego-file", None), ("php-files", 0),
                                                ("php-files", 1), ("php-files", 3)])
def test_layout_sample_listed_concurrently_is_the_serial_one(tmp_path, profile, depth):
    # Latency-bound mounts list the sampled directories many at once (threads > 1): the
    # sample, and so the layout detected, must be the one a serial listing gives.
    from sessdiag.stores.files import layout as lay

    spec = dict(profile=profile, sessions=300, seed=3, now=NOW, max_lifetime=1440,
                foreign=2, misplaced=2)
    if depth is not None:
        spec["php_depth"] = depth
    make_tree(str(tmp_path / "t"), FixtureSpec.from_mapping(spec))
    top = lay._sample_names(str(tmp_path / "t"), 100_000)
    assert lay._tree_sample(top, 8) == lay._tree_sample(top, 1)
    assert lay.detect_layout(str(tmp_path / "t"), threads=8) \
        == lay.detect_layout(str(tmp_path / "t"))


def test_sample_reads_open_each_directory_once_in_bounded_groups():
    from sessdiag.stores.files.walker import _by_dirs

    rels = ["a/b/1", "a/b/2", "a/c/3", "x", "a/b/4", "d/e/5", "d/f/6"]
    assert list(_by_dirs(rels, 256)) == [rels]
    assert list(_by_dirs(rels, 2)) == [["a/b/1", "a/b/2", "a/c/3"], ["x", "a/b/4"],
                                       ["d/e/5", "d/f/6"]]
    assert [r for g in _by_dirs(rels, 1) for r in g] == rels


@pytest.mark.parametrize("most", [1, 3])
def test_sample_decoded_in_directory_groups_counts_the_same(tmp_path, monkeypatch, most):
    from sessdiag.frameworks import emptiness_check
    from sessdiag.stores.files import walker

    make_tree(str(tmp_path / "t"), FixtureSpec.from_mapping(dict(BEEGO_SPEC, sessions=300)))
    rels = sorted(os.path.relpath(os.path.join(d, f), tmp_path / "t")
                  for d, _s, files in os.walk(tmp_path / "t") for f in files)
    check = emptiness_check("beego-file")

    def decoded() -> dict:
        c = walker.Census(buckets=2)
        walker.decode_sample(str(tmp_path / "t"), rels, c, check)
        return {k: getattr(c, k) for k in ("decoded", "decoded_empty", "undecodable",
                                           "oversized", "payload_unreadable")} | {
            "reasons": dict(c.undecodable_reasons)}

    whole = decoded()
    assert whole["decoded"] > 0
    monkeypatch.setattr(walker, "SAMPLE_OPEN_DIRS", most)
    assert decoded() == whole
