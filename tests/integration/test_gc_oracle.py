"""gc-estimate against beego's GC itself (tools/gcoracle, built with Go when present).

At this scale (a few thousand files, a GC of ~0.05-1 s) the exact claims are the counts:
the estimate's files/dirs/expired must equal what beego's walk visited and deleted. The
time claim is loose on purpose: a sub-second GC on a shared 2-core VM swings by 2x with the
neighbours' I/O; benchmarks/gc_estimate.py holds the ±25 % claim on 50k-1M-file trees.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

import pytest

from sessdiag.fixtures import FixtureSpec, make_tree

ORACLE_PY = Path(__file__).resolve().parents[2] / "tools" / "gcoracle" / "oracle.py"
_spec = importlib.util.spec_from_file_location("gcoracle_helper", ORACLE_PY)
assert _spec is not None and _spec.loader is not None
oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oracle)

pytestmark = pytest.mark.skipif(oracle.go_available() is None,
                                reason="go is not installed (Debian: golang-go)")
LIFE = 30 * 86400


@pytest.fixture(scope="module")
def exe(tmp_path_factory):
    return oracle.build_oracle(str(tmp_path_factory.mktemp("gcoracle-bin")))


def _tree(root: Path, n: int, seed: int, **extra) -> dict:
    spec = dict(sessions=n, seed=seed, max_lifetime=LIFE, expired_fraction=0.5,
                empty_fraction=1.0, age_max=60 * 86400, **extra)
    return make_tree(str(root), FixtureSpec.from_mapping(spec))


def _estimate(cli, root, *extra) -> dict:
    res = cli("gc-estimate", root, "--json", "--max-lifetime", str(LIFE), "--seed", "1", *extra)
    assert res.code == 0, res.err
    return res.json()


def test_counts_match_beegos_walk_exactly(cli, exe, tmp_path):
    root = tmp_path / "store"
    _tree(root, 3000, 11, foreign=6, symlinks=2, misplaced=2, fifos=1)
    old = int(time.time()) - LIFE - 3600
    os.makedirs(root / "e" / "f" / "empty-old-dir")
    os.utime(root / "e" / "f" / "empty-old-dir", (old, old))
    stale = root / "a" / "a" / "deep"
    stale.mkdir()
    (stale / "old.bin").write_bytes(b"x")
    os.utime(stale / "old.bin", (old, old))
    link = next(p for p in root.rglob("*") if p.is_symlink())
    os.utime(link, (old, old), follow_symlinks=False)

    est = _estimate(cli, root)
    dry = oracle.run_oracle(exe, str(root), LIFE, dry_run=True)
    assert dry["files_walked"] == est["files"]
    assert dry["dirs_walked"] == est["dirs"]
    assert dry["expired_seen"] == est["expired"]
    real = oracle.run_oracle(exe, str(root), LIFE)
    assert real["deleted"] == est["expired"]
    assert real["files_walked"] == est["files"] and not real["aborted"]
    # beego's GC deletes any old non-directory (foreign file, the link, not its target),
    # never a directory.
    assert not (stale / "old.bin").exists()
    assert not os.path.lexists(link)
    assert (root / "e" / "f" / "empty-old-dir").is_dir()
    # The estimate saw them coming.
    assert est["old_non_sessions"] >= 2
    assert any("non-session entries older" in f for f in est["findings"])
    # Every request waited for the whole GC.
    assert real["first_request_wait_s"] >= real["gc_wall_s"] * 0.9 - 0.002
    after = _estimate(cli, root, "--no-probe")
    assert after["expired"] == 0 and after["files"] == est["files"] - est["expired"]


def test_estimate_is_in_the_oracles_range_at_small_scale(cli, exe, tmp_path):
    root = tmp_path / "store"
    _tree(root, 6000, 12)
    os.sync()
    est = _estimate(cli, root)
    info = json.dumps({"estimate": est["seconds"], "breakdown": est["breakdown"]})
    # The walk alone (a dry run deletes nothing, ~40 ms here) from the measured lstat and
    # listing costs: within a factor 3 (a 40 ms CPU-bound walk on a shared 2-core VM).
    walk = est["seconds"] - est["breakdown"]["unlink_s"]
    dry = oracle.run_oracle(exe, str(root), LIFE, dry_run=True)
    assert 1 / 3 <= walk / dry["gc_wall_s"] <= 3, (dry["gc_wall_s"], info)
    # With the removals (~0.3-1 s), priced at real beego's calibrated 150 µs: a sub-second
    # probe of unlinks can land in a neighbour's burst of deletes and read 10x (seen while
    # another benchmark deleted 500k files), so the probe's unlink cost is the benchmark's
    # business (±25 % at 50k+ files); here the model within a factor 4.
    calibrated = _estimate(cli, root, "--no-unlink-probe")
    real = oracle.run_oracle(exe, str(root), LIFE)
    assert real["deleted"] == est["expired"] == calibrated["expired"] == 3000
    assert 0.25 <= calibrated["seconds"] / real["gc_wall_s"] <= 4, (real["gc_wall_s"], info)


def test_symlinked_root_gc_walks_nothing_and_deletes_the_old_link(cli, exe, tmp_path):
    root = tmp_path / "store"
    _tree(root, 200, 13)
    link = tmp_path / "savepath"
    os.symlink(root, link)
    old = int(time.time()) - LIFE - 3600
    os.utime(link, (old, old), follow_symlinks=False)
    est = _estimate(cli, link, "--no-unlink-probe")
    assert est["walks_nothing"] is True
    real = oracle.run_oracle(exe, str(link), LIFE)
    assert real["files_walked"] == 1 and real["dirs_walked"] == 0  # the link itself
    assert real["deleted"] == 1
    assert not os.path.lexists(link)
    assert sum(1 for _ in root.rglob("*") if _.is_file()) == 200  # sessions never expire
