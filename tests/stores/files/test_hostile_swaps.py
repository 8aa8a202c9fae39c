"""A shard directory swapped for a symlink while scan or prune runs, at a chosen instant.

The attack: the shard `7/` is moved out of the store (same filesystem, so its inode, and any
identity check against it, is unchanged) and a symlink `7 -> that place` put where it was.
Followed, the symlink would make sessdiag count, and prune delete, files outside the store.

No timing: tests/stores/files/hook_driver.py performs the swap synchronously when sessdiag
itself is about to open the directory `7`, or when prune creates its journal to start the act
pass, i.e. between plan and act.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hook_driver import run_hooked

from sessdiag.fixtures import FixtureSpec, make_tree


def _files(top: Path) -> int:
    return sum(len(f) for _d, _s, f in os.walk(top))


@pytest.fixture
def swap_run(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 400-session beego store; run(on, *args) runs sessdiag with the swap armed."""
    root = tmp_path / "store"
    make_tree(str(root), FixtureSpec.from_mapping({
        "sessions": 400, "expired_fraction": 0.5, "max_lifetime": 3600, "seed": 2}))
    away = tmp_path / "outside-7"
    log = tmp_path / "swap.log"
    in_shard = _files(root / "7")
    assert in_shard > 0 and _files(root) == 400

    def run(on: dict[str, str], *args: str) -> tuple[int, dict, str]:
        if on["on"] == "open-dir":
            on = {**on, "name": "7"}
        cp = run_hooked(on, [["swap", str(root / "7"), str(away)]], log, *args)
        assert (root / "7").is_symlink()  # the swap did happen
        return cp.returncode, json.loads(cp.stdout) if cp.stdout else {}, cp.stderr

    return root, away, in_shard, run


def test_scan_does_not_follow_a_shard_swapped_for_a_symlink(swap_run) -> None:  # type: ignore[no-untyped-def]
    root, away, in_shard, run = swap_run
    code, r, err = run({"on": "open-dir"}, "scan", str(root), "--max-lifetime", "1h", "--json")
    assert code in (0, 1), err
    # The shard's sessions now live outside the store: they are not the store's.
    assert r["sessions"] == 400 - in_shard
    assert _files(away) == in_shard


def test_prune_plan_does_not_follow_a_shard_swapped_for_a_symlink(swap_run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, away, in_shard, run = swap_run
    code, r, err = run({"on": "open-dir"}, "prune", str(root), "--max-age", "1h", "--apply",
                       "--json", "--lock", str(tmp_path / "prune.lock"))
    assert code in (0, 1), err
    assert r["sessions"] == 400 - in_shard  # the plan never looked through the symlink
    assert r["candidates"] == r["deleted"]
    assert r["anomalies"]["raced"] >= 1  # the swapped shard is reported, not silently lost
    assert _files(away) == in_shard  # nothing outside the store was touched
    assert _files(root) == 400 - in_shard - r["deleted"]


def test_prune_act_does_not_follow_a_shard_swapped_between_plan_and_act(swap_run,
                                                                        tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, away, in_shard, run = swap_run
    journal = tmp_path / "journal.jsonl"
    code, r, err = run({"on": "create", "path": str(journal)}, "prune", str(root),
                       "--max-age", "1h", "--apply", "--json", "--journal", str(journal),
                       "--lock", str(tmp_path / "prune.lock"))
    assert code in (0, 1), err
    assert r["sessions"] == 400  # the plan saw the real shard
    assert _files(away) == in_shard  # and the act pass deleted nothing through the symlink
    assert r["deleted"] < r["candidates"] and r["anomalies"]["raced"] >= 1
    assert _files(root) == 400 - in_shard - r["deleted"]


def test_deep_scan_does_not_read_a_session_file_swapped_for_a_symlink(tmp_path: Path) -> None:
    """The session file itself moved out of the store (same inode) and replaced by a symlink
    to it just before sessdiag opens it to decode it: it must not be read through the link."""
    root = tmp_path / "store"
    make_tree(str(root), FixtureSpec.from_mapping({
        "sessions": 40, "expired_fraction": 0.0, "empty_fraction": 1.0, "max_lifetime": 3600,
        "seed": 6}))
    victim = sorted(p for p in root.rglob("*") if p.is_file())[0]
    away = tmp_path / "moved-session"
    cp = run_hooked({"on": "open-file", "name": victim.name},
                    [["swap", str(victim), str(away)]], tmp_path / "hook.log",
                    "scan", str(root), "--max-lifetime", "1h", "--deep", "--json")
    assert cp.returncode in (0, 1), cp.stderr
    assert victim.is_symlink() and away.is_file()
    r = json.loads(cp.stdout)
    # 40 were listed; the 39 still in the store were decoded as beego's empty session, the
    # one now outside it was not (read through the link it would make 40).
    assert r["sessions"] == 40 and r["empty"] == 39
