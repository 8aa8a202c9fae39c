"""`prune --partition K/N`: the N partition prunes delete exactly what one prune deletes.

Two identical trees are made from one spec (same names, same mtimes); one is pruned whole,
the other as N partitions, and what is left in each is compared entry by entry. Trees carry
every anomaly prune meets: symlinks, foreign files and FIFOs (`.nfs` ones among them),
misplaced ids, zero-byte sessions, stray directories, a killed run's staged sessions.

Prune judges age by the real clock (it deletes for real; there is no --now). No session sits
near the cutoff: the fixture puts fresh sessions at least 60 s under the lifetime and expired
ones 60 s over it, and with --grace 60 the cutoff is at lifetime + 60 s. Time only makes the
expired older, so a verdict could only change if an example ran for two minutes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sessdiag.fixtures import FixtureSpec, make_tree
from sessdiag.stores.files.prune import PruneOptions, prune_file_store

LIFE = 3600

trees = st.fixed_dictionaries({
    "layout": st.sampled_from([("beego-file", 0), ("php-files", 0), ("php-files", 2)]),
    "sessions": st.integers(0, 40),
    "expired_fraction": st.sampled_from([0.0, 0.5, 1.0]),
    "symlinks": st.integers(0, 2), "foreign": st.integers(0, 4), "fifos": st.integers(0, 1),
    "misplaced": st.integers(0, 2), "zero_byte": st.integers(0, 2),
    "staged": st.integers(0, 3),
    "seed": st.integers(0, 2**16),
    "stray_root": st.booleans(),
    "drop_first_level": st.sets(st.sampled_from("0123456789abcdef"), max_size=6),
    "n": st.integers(1, 5),
})


def _make(root: str, t: dict, now: int) -> None:
    profile, depth = t["layout"]
    make_tree(root, FixtureSpec.from_mapping({
        "profile": profile, "php_depth": depth, "sessions": t["sessions"], "seed": t["seed"],
        "now": now, "max_lifetime": LIFE, "expired_fraction": t["expired_fraction"],
        "zero_byte": min(t["zero_byte"], t["sessions"]), "symlinks": t["symlinks"],
        "foreign": t["foreign"], "fifos": t["fifos"], "misplaced": t["misplaced"]}))
    for name in t["drop_first_level"]:
        d = os.path.join(root, name)
        if os.path.isdir(d) and not any(files for _, _, files in os.walk(d)):
            shutil.rmtree(d)
    # A killed run's staged sessions (.sessdiag-<8 hex>-<name>): finished or put back.
    sessions = sorted(os.path.join(dp, n) for dp, _, files in os.walk(root) for n in files
                      if os.path.isfile(os.path.join(dp, n)) and not os.path.islink(
                          os.path.join(dp, n)) and _is_session(n, profile))
    for i, path in enumerate(sessions[:t["staged"]]):
        d, name = os.path.split(path)
        os.rename(path, os.path.join(d, f".sessdiag-{i:08x}-{name}"))
    if t["stray_root"]:
        os.makedirs(os.path.join(root, "stray"))
        Path(root, "stray", "old.log").write_text("x")


def _is_session(name: str, profile: str) -> bool:
    if profile == "beego-file":
        return len(name) == 32 and all(c in "0123456789abcdef" for c in name)
    return name.startswith("sess_")


def _prune(root: str, t: dict, lock: str, partition: tuple[int, int] | None) -> dict:
    profile, depth = t["layout"]
    res = prune_file_store(PruneOptions(
        target=root, max_age=LIFE, grace=60, apply=True, force=True, profile=profile,
        php_depth=depth if profile == "php-files" else None, jobs=1, check_processes=False,
        lock_path=lock, seed=1, partition=partition))
    assert res.errors == 0
    return res.report


def _left(root: str) -> set[str]:
    return {os.path.relpath(os.path.join(dp, n), root)
            for dp, dirs, files in os.walk(root) for n in dirs + files}


@settings(max_examples=20)
@given(trees)
def test_partition_prunes_delete_what_one_prune_deletes(t: dict) -> None:
    now = int(time.time())
    with tempfile.TemporaryDirectory(prefix="sessdiag-pprune-") as tmp:
        whole, split = os.path.join(tmp, "whole"), os.path.join(tmp, "split")
        _make(whole, t, now)
        _make(split, t, now)
        assert _left(whole) == _left(split)
        one = _prune(whole, t, os.path.join(tmp, "whole.lock"), None)
        parts = [_prune(split, t, os.path.join(tmp, "split.lock"), (k, t["n"]))
                 for k in range(1, t["n"] + 1)]
        assert _left(split) == _left(whole)
        for key in ("sessions", "candidates", "deleted", "bytes_freed"):
            assert sum(p[key] for p in parts) == one[key], key
        assert [p["target"]["partition"]["index"] for p in parts] == list(
            range(1, t["n"] + 1))
