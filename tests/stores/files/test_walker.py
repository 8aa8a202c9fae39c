"""The walker's edge cases: huge directories, hostile names, symlinked shards."""

from __future__ import annotations

import os
from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from sessdiag.census import DEFAULT_AGE_EDGES
from sessdiag.fixtures import BEEGO_EMPTY, FixtureSpec, make_tree
from sessdiag.stores.files import fsops, walker
from sessdiag.stores.files.layout import beego_layout, php_layout
from sessdiag.stores.files.walker import ScanParams, count_hours, plan_units, run_units

NOW = 1_790_000_000


def _run(root, layout, jobs=1, mode="processes"):
    p = ScanParams(root=str(root), layout=layout, now=NOW, max_lifetime=1440,
                   age_edges=DEFAULT_AGE_EDGES, root_dev=os.stat(root).st_dev, seed=3)
    top, units = plan_units(p)
    return top.merge(run_units(p, units, jobs=jobs, mode=mode, check=None), p.sample_k)


def test_streamed_batches_give_the_same_census(tmp_path, monkeypatch):
    spec = FixtureSpec.from_mapping(dict(profile="php-files", sessions=500, seed=1, now=NOW,
                                         max_lifetime=1440, expired_fraction=0.3,
                                         empty_fraction=0.5, foreign=4, symlinks=3))
    exp = make_tree(str(tmp_path / "p"), spec)
    listed = _run(tmp_path / "p", php_layout(0))
    monkeypatch.setattr(fsops, "STREAM_DIR_BYTES", -1)
    monkeypatch.setattr(fsops, "STREAM_BATCH", 7)
    streamed = _run(tmp_path / "p", php_layout(0))
    for c in (listed, streamed):
        assert (c.sessions, c.expired, c.empty) == (exp["sessions"], exp["expired"], exp["empty"])
        assert (c.foreign, c.symlinks) == (4, 3)
    assert listed.hist == streamed.hist
    assert listed.empty_hours == streamed.empty_hours
    assert (listed.oldest, listed.newest) == (streamed.oldest, streamed.newest)


def test_name_with_newline_is_foreign_and_batch_still_exact(tmp_path):
    root = tmp_path / "t"
    exp = make_tree(str(root), FixtureSpec.from_mapping(dict(sessions=300, seed=4, now=NOW,
                                                             max_lifetime=1440)))
    shard = root / "a" / "b"
    hostile = "ab" + "0" * 14 + "\n" + "ab" + "1" * 30
    (shard / hostile).write_bytes(BEEGO_EMPTY)
    c = _run(root, beego_layout())
    assert c.sessions == exp["sessions"]
    assert c.foreign == 1


def test_symlinked_shard_is_not_followed(tmp_path):
    root = tmp_path / "t"
    exp = make_tree(str(root), FixtureSpec.from_mapping(dict(sessions=200, seed=5, now=NOW,
                                                             max_lifetime=1440)))
    outside = tmp_path / "outside"
    outside.mkdir()
    for i in range(5):
        (outside / f"ff{i:030d}").write_bytes(BEEGO_EMPTY)
    moved = root / "f" / "f"
    inside = sorted(os.listdir(moved))
    os.rename(moved, tmp_path / "old-ff")
    os.symlink(outside, moved)
    c = _run(root, beego_layout(), jobs=2)
    assert c.sessions == exp["sessions"] - len(inside)
    assert c.symlinks == 1
    assert "f/f" in c.examples["symlinks"]


def test_threads_and_processes_agree(tmp_path):
    exp = make_tree(str(tmp_path / "t"), FixtureSpec.from_mapping(
        dict(sessions=1000, seed=6, now=NOW, max_lifetime=1440, expired_fraction=0.5,
             foreign=3, misplaced=2)))
    a = _run(tmp_path / "t", beego_layout(), jobs=3, mode="threads")
    b = _run(tmp_path / "t", beego_layout(), jobs=2, mode="processes")
    for c in (a, b):
        assert (c.sessions, c.expired, c.misplaced, c.foreign) == (
            exp["sessions"], exp["expired"], 2, 3)
        assert len(c.sample) == 1000
    assert a.hist == b.hist and a.shards == b.shards


def test_count_hours_counts_per_hour_unsorted():
    hours: dict[int, int] = {1: 5}
    count_hours(hours, array("d", [7199.9, 3600.0, 36000.2, 3600.5, 7200.0, 3599.99]))
    assert hours == {0: 1, 1: 5 + 3, 2: 1, 10: 1}


def test_files_vanishing_mid_scan_are_counted_not_fatal(tmp_path, monkeypatch):
    root = tmp_path / "t"
    exp = make_tree(str(root), FixtureSpec.from_mapping(dict(sessions=300, seed=8, now=NOW,
                                                             max_lifetime=1440)))
    gone = set(sorted(os.listdir(root / "0" / "0"))[:2]) | {"sub"}
    os.mkdir(root / "0" / "0" / "sub")
    real_lstat = os.lstat

    def racing_lstat(name, *args, **kwargs):
        # Listed by readdir, then removed by beego's GC before our lstat.
        if name in gone:
            raise FileNotFoundError(2, "No such file or directory", name)
        return real_lstat(name, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", racing_lstat)
    c = _run(root, beego_layout(), jobs=1)
    assert c.sessions == exp["sessions"] - (len(gone) - 1)
    assert c.vanished == len(gone)


_HEXISH = "0123456789abcdefABx-_.\n é"


@settings(max_examples=300, deadline=None)
@given(names=st.lists(st.one_of(
    st.text(alphabet="0123456789abcdef", min_size=14, max_size=40).map(lambda s: "ab" + s),
    st.text(alphabet=_HEXISH, min_size=0, max_size=40)), min_size=1, max_size=30, unique=True),
    php=st.booleans())
def test_whole_listing_check_agrees_with_the_regex(tmp_path_factory, names, php):
    """The bytes.translate fast path must judge a listing exactly as the per-name regex."""
    layout = php_layout(2) if php else beego_layout()
    if php:
        names = ["sess_" + n for n in names]
    root = tmp_path_factory.mktemp("w")
    p = ScanParams(root=str(root), layout=layout, now=NOW, max_lifetime=1440,
                   age_edges=DEFAULT_AGE_EDGES, root_dev=os.stat(root).st_dev)
    w = walker._Walker(p, None, 0)
    try:
        got = w._non_sessions(list(names), "ab")
    finally:
        w.close()
    pre = layout.prefix
    want = {n for n in names if layout.name_re.fullmatch(n) is None
            or not n.startswith(pre + "ab")}
    assert got == want


def test_whole_listing_check_fast_path_and_its_fallback(tmp_path):
    p = ScanParams(root=str(tmp_path), layout=beego_layout(), now=NOW, max_lifetime=1440,
                   age_edges=DEFAULT_AGE_EDGES, root_dev=os.stat(tmp_path).st_dev)
    w = walker._Walker(p, None, 0)
    try:
        good = [f"ab{i:030x}" for i in range(500)]
        assert w._all_sessions("\n".join(good), good, "ab")
        assert w._non_sessions(good, "ab") == set()
        odd = [*good, "abXYZ" + "0" * 27, "ac" + "0" * 30, "ab" + "0" * 300]
        assert not w._all_sessions("\n".join(odd), odd, "ab")
        assert w._non_sessions(odd, "ab") == set(odd[-3:])
    finally:
        w.close()


def test_sample_is_uniform_over_files_and_walk_order(tmp_path):
    """The geometric-skip sampler must pick every file alike, early or late in the walk."""
    spec = FixtureSpec.from_mapping(dict(profile="php-files", sessions=400, seed=5, now=NOW,
                                         max_lifetime=1440, empty_fraction=1.0))
    root = tmp_path / "t"
    make_tree(str(root), spec)
    order = [n for n in os.listdir(root) if n.startswith("sess_")]  # the walker's order
    position = {n: i / (len(order) - 1) for i, n in enumerate(order)}
    counts: dict[str, int] = {}
    runs, k = 300, 40
    for seed in range(runs):
        p = ScanParams(root=str(root), layout=php_layout(0), now=NOW, max_lifetime=1440,
                       age_edges=DEFAULT_AGE_EDGES, root_dev=os.stat(root).st_dev, seed=seed,
                       sample_k=k)
        top, units = plan_units(p)
        c = top.merge(run_units(p, units, jobs=1, mode="threads", check=None), k)
        picked = [path for path, _size in c.sample_paths()]
        assert len(picked) == len(set(picked)) == k
        for path in picked:
            counts[path] = counts.get(path, 0) + 1
    expected = runs * k / len(order)  # 30 picks per file
    assert len(counts) == len(order)
    assert all(expected / 3 < v < 3 * expected for v in counts.values())
    # picks weighted by position in the listing: 0.5 when the order does not matter
    mean_pos = sum(position[x] * v for x, v in counts.items()) / sum(counts.values())
    assert 0.47 < mean_pos < 0.53
    # ... and the first tenth of the walk is picked as often as the last tenth
    first = sum(counts[n] for n in order[:40])
    last = sum(counts[n] for n in order[-40:])
    assert abs(first - last) < 0.2 * (first + last) / 2


def test_fanned_out_walk_gives_the_same_census(tmp_path):
    """The engine's fan-out path (a slow mount's) counts exactly what the inline path does."""
    from dataclasses import replace

    from sessdiag.stores.files.inflight import EngineSettings, WalkStats

    root = tmp_path / "t"
    make_tree(str(root), FixtureSpec.from_mapping(
        dict(sessions=1500, seed=8, now=NOW, max_lifetime=1440, expired_fraction=0.4,
             empty_fraction=0.5, foreign=3, misplaced=2, symlinks=2)))
    p = ScanParams(root=str(root), layout=beego_layout(), now=NOW, max_lifetime=1440,
                   age_edges=DEFAULT_AGE_EDGES, root_dev=os.stat(root).st_dev, seed=3)
    out = []
    for fanout, jobs, mode in (("never", 1, "processes"), ("always", 3, "threads"),
                               ("always", 2, "processes")):
        q = replace(p, engine=EngineSettings(fanout=fanout, max_inflight=5))
        walk = WalkStats()
        top, units = plan_units(q)
        c = top.merge(run_units(q, units, jobs=jobs, mode=mode, check=None, walk=walk),
                      q.sample_k)
        out.append((c.sessions, c.expired, c.empty, c.foreign, c.misplaced, c.symlinks,
                    c.hist, c.oldest, c.newest))
        assert walk.fanout == (fanout == "always")
        assert walk.inflight_max <= 5
        assert walk.ops + walk.untimed >= 1500
    assert out[0] == out[1] == out[2]
