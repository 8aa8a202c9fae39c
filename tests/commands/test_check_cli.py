"""`sessdiag check` as CI runs it: exit codes, JUnit XML, Prometheus textfile."""

from __future__ import annotations

from pathlib import Path

import pytest
import xmlschema
from prometheus_client.parser import text_string_to_metric_families

from sessdiag.fixtures import FixtureSpec, make_tree

REPO = Path(__file__).resolve().parents[2]
NOW = 1_790_000_000
PASSING = """\
rules:
  max_sessions: 1000
  max_expired_fraction: 0.5
  max_anomalies: {symlinks: 0}
"""
FAILING = """\
rules:
  max_sessions: 100
  max_empty_fraction: 0.5
  max_gc_stall_seconds: 0.0001
"""


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "tmp"
    make_tree(str(root), FixtureSpec.from_mapping(dict(sessions=400, seed=1, now=NOW,
                                                       max_lifetime="30d", empty_fraction=0.9,
                                                       expired_fraction=0.2)))
    return root


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_pass_exits_0(cli, store, tmp_path):
    res = cli("check", store, "--policy", _write(tmp_path, "p.yaml", PASSING),
              "--max-lifetime", "30d", "--now", NOW)
    assert res.code == 0, res.err + res.out
    assert "all rules hold" in res.out


def test_fail_exits_1_and_names_every_rule(cli, store, tmp_path):
    res = cli("check", store, "--policy", _write(tmp_path, "p.yaml", FAILING),
              "--max-lifetime", "30d", "--json", "--now", NOW)
    assert res.code == 1
    out = res.json()
    assert out["schema"] == "sessdiag.check/1" and out["ok"] is False
    failed = {r["rule"]: r for r in out["targets"][0]["results"] if r["status"] == "fail"}
    assert set(failed) == {"max_sessions", "max_empty_fraction", "max_gc_stall_seconds"}
    assert failed["max_sessions"]["measured"] == 400
    assert failed["max_sessions"]["allowed"] == 100


def test_junit_validates_and_prometheus_parses(cli, store, tmp_path):
    junit = tmp_path / "junit.xml"
    prom = tmp_path / "sessdiag.prom"
    res = cli("check", store, "--policy", _write(tmp_path, "p.yaml", FAILING), "--junit", junit,
              "--prom", prom, "--max-lifetime", "30d", "--now", NOW, "--quiet")
    assert res.code == 1
    schema = xmlschema.XMLSchema(str(REPO / "tests" / "data" / "junit.xsd"))
    schema.validate(str(junit))
    doc = schema.to_dict(str(junit))
    suite = doc["testsuite"][0]
    assert suite["@tests"] == 3 and suite["@failures"] == 3
    families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    assert families["sessdiag_sessions"].samples[0].value == 400
    assert families["sessdiag_sessions"].samples[0].labels == {"store": str(store)}
    oks = {s.labels["rule"]: s.value for s in families["sessdiag_check_rule_ok"].samples}
    assert oks == {"max_sessions": 0, "max_empty_fraction": 0, "max_gc_stall_seconds": 0}
    series = [(f.name, tuple(sorted(s.labels.items())))
              for f in families.values() for s in f.samples]
    assert len(series) == len(set(series)), "duplicate series"


def test_policy_targets_without_argument(cli, store, tmp_path):
    other = tmp_path / "other"
    make_tree(str(other), FixtureSpec.from_mapping(dict(sessions=50, seed=2, now=NOW)))
    pol = _write(tmp_path, "p.yaml", f"rules:\n  max_sessions: 100\ntargets:\n  - {store}\n"
                                     f"  - target: {other}\n    rules: {{max_sessions: 10}}\n")
    out = cli("check", "--policy", pol, "--json", "--now", NOW).json()
    assert [t["ok"] for t in out["targets"]] == [False, False]
    assert out["violations"] == 2


def test_invalid_policy_is_exit_2_with_line(cli, store, tmp_path):
    res = cli("check", store, "--policy", _write(tmp_path, "bad.yaml",
                                                  "rules:\n  max_sessions: 1\n  max_fun: 2\n"))
    assert res.code == 2
    assert "bad.yaml:3:" in res.err and "max_fun" in res.err
    assert res.err.count("\n") == 1 and res.out == ""


def test_scan_prom_is_written_atomically(cli, store, tmp_path):
    prom = tmp_path / "scan.prom"
    res = cli("scan", store, "--prom", prom, "--quiet", "--max-lifetime", "30d")
    assert res.code == 0 and res.out == ""
    names = {f.name for f in text_string_to_metric_families(prom.read_text())}
    assert {"sessdiag_sessions", "sessdiag_gc_estimate_seconds",
            "sessdiag_scan_duration_seconds", "sessdiag_anomalies"} <= names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".sessdiag-")]
