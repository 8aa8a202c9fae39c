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
