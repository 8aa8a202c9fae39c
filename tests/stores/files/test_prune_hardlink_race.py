"""A hard link made to a planned session between prune's plan and its act pass.

A second link means someone else also holds the file (a backup tool's hard-link snapshot, an
attacker who wants prune to delete through it): prune must leave it, and say why.

On a filesystem with a real change time, `link(2)` moves the file's ctime, so prune's
"changed since the plan" check already skips it; the dedicated hard-link re-check is what
protects where the ctime does not move. The store is therefore served through
tools/slowfs with `ctime="mtime"`, as filesystems without a real change time report it
(some SMB servers, FUSE backends over object stores), and with no attribute caching, so
the link count is seen at once. The links are made by tests/stores/files/hook_driver.py
when prune creates its journal, i.e. after the plan and before the first deletion.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

import pytest
from hook_driver import run_hooked

from sessdiag.fixtures import FixtureSpec, make_tree

SLOWFS = Path(__file__).resolve().parents[3] / "tools" / "slowfs" / "slowfs.py"
_spec = importlib.util.spec_from_file_location("slowfs", SLOWFS)
assert _spec is not None and _spec.loader is not None
slowfs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(slowfs)

_why = slowfs.fuse_available()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"slowfs cannot mount here: {_why}")


def _expired_in(shard: Path) -> list[Path]:
    cutoff = time.time() - 3600
    return sorted(p for p in shard.rglob("*") if p.is_file() and p.stat().st_mtime < cutoff)


@pytest.mark.parametrize("mode", [[], ["--direct-unlink"]], ids=["stage", "direct"])
def test_a_hard_link_made_between_plan_and_act_keeps_the_file(tmp_path: Path,
                                                              mode: list[str]) -> None:
    source = tmp_path / "source"
    make_tree(str(source), FixtureSpec.from_mapping({
        "sessions": 120, "expired_fraction": 0.5, "max_lifetime": 3600, "seed": 4}))
    linked = _expired_in(source / "7")
    assert linked  # the seed puts expired sessions in shard 7
    elsewhere = tmp_path / "snapshot"
    elsewhere.mkdir()
    journal = tmp_path / "journal.jsonl"
    actions = [["link", str(p), str(elsewhere / p.name)] for p in linked]
    with slowfs.mount_slowfs(source, tmp_path / "mnt", delay_ms=0, attr_timeout=0,
                             entry_timeout=0, ctime="mtime"):
        before = os.lstat(tmp_path / "mnt" / linked[0].relative_to(source)).st_ctime_ns
        cp = run_hooked({"on": "create", "path": str(journal)}, actions, tmp_path / "hook.log",
                        "prune", str(tmp_path / "mnt"), "--max-age", "1h", "--apply", "--json",
                        "--journal", str(journal), "--lock", str(tmp_path / "prune.lock"), *mode)
        assert all(p.exists() for p in linked)  # every linked session is still in the store
        seen = os.lstat(tmp_path / "mnt" / linked[0].relative_to(source))
        assert (seen.st_nlink, seen.st_ctime_ns) == (2, before)  # the premise: ctime unmoved
    assert cp.returncode in (0, 1), cp.stderr
    r = json.loads(cp.stdout)
    assert r["candidates"] == 60
    assert r["deleted"] == 60 - len(linked)
    assert r["anomalies"]["hardlinks"] == len(linked)  # and the report says why
    assert r["skipped_other"] == len(linked)
