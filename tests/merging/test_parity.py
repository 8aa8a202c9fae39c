"""The merge of N `--deep` partition reports is, field for field, one `--deep` scan.

Trees are generated with every anomaly kind (symlinks, foreign files and FIFOs, `.nfs` files,
a killed prune's staged sessions, misplaced ids, zero-byte and undecodable sessions, an
unreadable directory; not other_fs, which needs a mount), stray directories at the root
and inside shards, missing shard directories, beego and PHP layouts of every depth; N from 1
to 6. Only what one run measures of its machine differs, and is listed here: PER_RUN.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sessdiag.fixtures import FixtureSpec, make_tree
from sessdiag.merging import merge_reports

REPO = Path(__file__).resolve().parents[2]
NOW = 1_790_000_000
LIFE = 3600

# Measured per run, not per tree: how the scan ran, and the filesystem's use at that moment.
PER_RUN = {"scan": None, "walk": None,
           "filesystem": ("bytes_total", "bytes_used", "inodes_total", "inodes_used",
                          "inodes_available",
                          "store_inode_share_of_used", "store_inode_share_of_total",
                          "store_byte_share_of_used")}
# target: the merged report's is {"kind": "merged", "parts": …}; what it shares is compared.
TARGET_SHARED = ("location", "profile", "layout")


def _drop_dac_override() -> None:  # pragma: no cover - runs in the child before exec
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _scan_parts(root: str, profile: str, depth: int, n: int) -> list[dict]:
    res = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("scan_parts.py")), root, profile,
         str(depth), str(NOW), str(LIFE), str(n)],
        capture_output=True, text=True, timeout=120, check=False,
        preexec_fn=_drop_dac_override if os.geteuid() == 0 else None,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


trees = st.fixed_dictionaries({
    "layout": st.sampled_from([("beego-file", 0), ("php-files", 0), ("php-files", 1),
                               ("php-files", 2)]),
    "sessions": st.integers(0, 40),
    "expired_fraction": st.sampled_from([0.0, 0.3, 1.0]),
    "empty_fraction": st.sampled_from([0.0, 0.5, 1.0]),
    "zero_byte": st.integers(0, 2), "undecodable": st.integers(0, 2),
    "symlinks": st.integers(0, 3), "foreign": st.integers(0, 5), "fifos": st.integers(0, 2),
    "misplaced": st.integers(0, 2), "staged": st.integers(0, 2),
    "seed": st.integers(0, 2**16),
    # shape: stray directories at the root / in a shard, shard dirs removed, one locked dir
    "stray_root": st.booleans(), "stray_shard": st.booleans(),
    "drop_first_level": st.sets(st.sampled_from("0123456789abcdef"), max_size=6),
    "locked": st.sampled_from(["none", "shard", "stray"]),
    "n": st.integers(1, 6),
})


def _build(root: str, t: dict) -> None:
    profile, depth = t["layout"]
    special = min(t["zero_byte"] + t["undecodable"], t["sessions"])
    make_tree(root, FixtureSpec.from_mapping({
        "profile": profile, "php_depth": depth, "sessions": t["sessions"], "seed": t["seed"],
        "now": NOW, "max_lifetime": LIFE, "expired_fraction": t["expired_fraction"],
        "empty_fraction": t["empty_fraction"], "zero_byte": min(t["zero_byte"], special),
        "undecodable": special - min(t["zero_byte"], special), "symlinks": t["symlinks"],
        "foreign": t["foreign"], "fifos": t["fifos"], "misplaced": t["misplaced"]}))
    firsts = sorted(e.name for e in os.scandir(root) if e.is_dir() and len(e.name) == 1)
    for name in t["drop_first_level"]:
        d = os.path.join(root, name)
        if name in firsts and not any(files for _, _, files in os.walk(d)):
            shutil.rmtree(d)
    shards = sorted(dp for dp, _, _ in os.walk(root)
                    if os.path.relpath(dp, root).count("/") == (1 if profile == "beego-file"
                                                                 else depth - 1)
                    and dp != root)
    staged = sorted(os.path.join(dp, n) for dp, _, files in os.walk(root) for n in files
                    if n.startswith("sess_") or (len(n) == 32 and n.isalnum()))
    for i, path in enumerate(staged[:t["staged"]]):  # a killed prune's staged sessions
        d, name = os.path.split(path)
        if not os.path.islink(path):
            os.rename(path, os.path.join(d, f".sessdiag-{i:08x}-{name}"))
    if t["stray_root"]:
        os.makedirs(os.path.join(root, "stray", "deep"))
        Path(root, "stray", "deep", "old.log").write_text("x")
    if t["stray_shard"] and shards:
        os.makedirs(os.path.join(shards[0], "nested"))
        Path(shards[0], "nested", "x").write_text("x")
    if t["locked"] == "shard" and shards:
        os.chmod(shards[-1], 0)
    elif t["locked"] == "stray":
        os.makedirs(os.path.join(root, "locked"))
        Path(root, "locked", "f").write_text("x")
        os.chmod(os.path.join(root, "locked"), 0)


def _comparable(report: dict) -> dict:
    out = dict(report)
    for key, fields in PER_RUN.items():
        if fields is None:
            out.pop(key, None)
        elif isinstance(out.get(key), dict):
            out[key] = {k: v for k, v in out[key].items() if k not in fields}
    out["target"] = {k: report["target"].get(k) for k in TARGET_SHARED}
    return out


@settings(max_examples=25)
@given(trees)
def test_merged_partitions_equal_one_scan_of_the_whole(t: dict) -> None:
    with tempfile.TemporaryDirectory(prefix="sessdiag-parity-") as tmp:
        root = os.path.join(tmp, "tree")
        _build(root, t)
        try:
            whole, *parts = _scan_parts(root, *t["layout"], t["n"])
        finally:
            for dp, dirs, _ in os.walk(root):
                for d in dirs:
                    os.chmod(os.path.join(dp, d), 0o755)
    merged = merge_reports(parts, [f"part{k}.json" for k in range(1, t["n"] + 1)])
    assert [p["partition"]["index"] for p in merged["target"]["parts"]] == list(
        range(1, t["n"] + 1))
    expected, got = _comparable(whole), _comparable(merged)
    assert list(got) == list(expected)
    for key in expected:
        assert got[key] == expected[key], key
    if t["locked"] != "none":
        assert whole["anomalies"]["unreadable"] >= (1 if t["locked"] == "stray" else 0)
