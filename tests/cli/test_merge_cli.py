"""`sessdiag merge` end to end, and `check` of a saved or merged report."""

from __future__ import annotations

import json

import pytest

from sessdiag.fixtures import FixtureSpec, make_tree

NOW = 1_790_000_000


@pytest.fixture
def parts(cli, tmp_path):
    root = tmp_path / "tree"
    make_tree(str(root), FixtureSpec.from_mapping({
        "sessions": 200, "seed": 5, "now": NOW, "expired_fraction": 0.4, "zero_byte": 3,
        "undecodable": 2, "foreign": 2, "symlinks": 1, "misplaced": 1}))
    out = []
    for k in (1, 2):
        path = tmp_path / f"part{k}.json"
        res = cli("scan", root, "--deep", "--now", NOW, "--max-lifetime", "1h",
                  "--partition", f"{k}/2", "--output", path, "--quiet")
        assert res.code == 0, res.err
        out.append(path)
    return root, out


def test_merge_writes_one_report_that_check_accepts(cli, parts, tmp_path) -> None:
    root, (p1, p2) = parts
    merged = tmp_path / "merged.json"
    res = cli("merge", p1, p2, "--json", "--output", merged)
    assert res.code == 0, res.err
    m = json.loads(res.out)
    assert m == json.loads(merged.read_text())
    assert m["target"]["kind"] == "merged" and len(m["target"]["parts"]) == 2
    whole = json.loads(cli("scan", root, "--deep", "--now", NOW, "--max-lifetime", "1h",
                           "--json").out)
    assert (m["sessions"], m["expired"], m["anomalies"]) == (
        whole["sessions"], whole["expired"], whole["anomalies"])
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"rules:\n  max_sessions: {whole['sessions'] - 1}\n")
    res = cli("check", merged, "--policy", policy, "--json")
    assert res.code == 1, res.err
    verdict = json.loads(res.out)
    assert verdict["targets"][0]["results"][0]["status"] == "fail"
    policy.write_text(f"rules:\n  max_sessions: {whole['sessions']}\n")
    assert cli("check", merged, "--policy", policy, "--quiet").code == 0
    assert cli("check", p1, "--policy", policy, "--quiet").code == 0  # a saved part, too
    # The human view names the merge.
    res = cli("merge", p1, p2)
    assert res.code == 0 and "merged from 2 reports" in res.out


@pytest.mark.parametrize("case", ["same part twice", "lifetime", "not a report"])
def test_refusals_are_one_line_exit_2(cli, parts, tmp_path, case) -> None:
    root, (p1, _p2) = parts
    if case == "same part twice":
        args = [p1, p1]
    elif case == "lifetime":
        other = tmp_path / "other.json"
        assert cli("scan", root, "--now", NOW, "--max-lifetime", "2h", "--partition", "2/2",
                   "--output", other, "--quiet").code == 0
        args = [p1, other]
    else:
        bad = tmp_path / "bad.json"
        bad.write_text("[1, 2]")
        args = [p1, bad]
    res = cli("merge", *args, "--json")
    assert res.code == 2 and res.out == ""
    assert len(res.err.strip().splitlines()) == 1 and res.err.startswith("sessdiag: error:")


def test_partitions_that_read_one_access_log_merge_to_the_whole_scan(cli, tmp_path) -> None:
    """The PHP capture's store and log, scanned whole and as 3 parts: each part looks up the
    log's ids in its own sessions only, and the merge keeps the log's findings."""
    import os
    import re
    from datetime import UTC, datetime
    from pathlib import Path

    logs = Path(__file__).resolve().parents[2] / "fixtures" / "logs" / "php"
    now = datetime(2026, 12, 3, 15, 0, tzinfo=UTC).timestamp()
    root = tmp_path / "php"
    root.mkdir()
    for name, size in json.loads((logs / "store.json").read_text())["files"].items():
        (root / name).write_bytes(b"a|i:1;".ljust(size, b" ") if size else b"")
        os.utime(root / name, (now - 3000, now - 3000))
    common = ["--access-log", logs / "access.log", "--now", now, "--max-lifetime", "1d",
              "--json"]

    def scan(*extra):  # type: ignore[no-untyped-def]
        res = cli("scan", root, *common, *extra)
        assert res.code == 0, res.err
        return res.json()

    whole = scan()
    paths = []
    for k in (1, 2, 3):
        part = scan("--partition", f"{k}/3")
        orphans = {c["client"]: c["store"]["orphans_in_store"] for c in part["clients"]
                   if c.get("store")}
        # a part holds only its own sessions, so its orphans in store are at most its sessions
        assert sum(orphans.values()) <= part["sessions"]
        paths.append(tmp_path / f"p{k}.json")
        paths[-1].write_text(json.dumps(part))
    res = cli("merge", *paths, "--json")
    assert res.code == 0, res.err
    m = res.json()
    for key in ("sessions", "clients", "routes", "user_agents", "races", "access_log"):
        assert m[key] == whole[key], key
    assert any(c["store"]["orphans_in_store"] for c in whole["clients"] if c.get("store"))

    def same_disk(lines: list[str]) -> list[str]:  # free inodes move between the scans
        return [re.sub(r"free inodes last [\d,]+ days", "free inodes last N days", x)
                for x in lines]

    assert any(x.startswith("client ") for x in whole["findings"])
    assert same_disk(m["findings"]) == same_disk(whole["findings"])
