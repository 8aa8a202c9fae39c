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


# --- one policy with every rule kind, both outcomes, on a generated file tree ---------------

FILE_LOOSE = {
    "max_sessions": 1000, "max_allocated_bytes": "64MiB", "max_bytes": "10MB",
    "max_expired_fraction": 0.5, "max_empty_fraction": 0.9, "max_orphan_rate_per_hour": 1000,
    "max_orphans_per_route_per_hour": 1000, "max_gc_stall_seconds": 30, "max_no_ttl_keys": 5,
    "allowed_namespaces": ["spring:session"],
    "max_anomalies": {"symlinks": 5, "undecodable": 5},
    "clients": {"max_orphans": 1000, "max_orphan_rate_per_hour": 1000, "max_sessions": 1000},
}
FILE_TIGHT = {
    "max_sessions": 10, "max_allocated_bytes": "1KiB", "max_bytes": "1kB",
    "max_expired_fraction": 0.01, "max_empty_fraction": 0.1, "max_orphan_rate_per_hour": 1,
    "max_orphans_per_route_per_hour": 1, "max_gc_stall_seconds": 0, "max_no_ttl_keys": 0,
    "allowed_namespaces": ["spring:session"],
    "max_anomalies": {"symlinks": 0, "undecodable": 0},
    "clients": {"max_orphans": 1, "max_orphan_rate_per_hour": 1, "max_sessions": 1},
}
FILE_MEASURES = {"max_sessions", "max_allocated_bytes", "max_bytes", "max_expired_fraction",
                 "max_empty_fraction", "max_orphan_rate_per_hour", "max_gc_stall_seconds",
                 "max_orphans_per_route_per_hour", "max_anomalies.symlinks",
                 "max_anomalies.undecodable", "clients.max_orphans",
                 "clients.max_orphan_rate_per_hour", "clients.max_sessions"}
REDIS_ONLY = {"max_no_ttl_keys", "allowed_namespaces"}


def _beego_log(root: Path, combined_log) -> tuple[Path, int]:  # type: ignore[no-untyped-def]
    """A machine client got every empty session and presented none; every other session
    was issued to a user who presented it once."""
    from sessdiag.fixtures import BEEGO_EMPTY

    rows = []
    empty = 0
    files = sorted(p for p in root.glob("?/?/*") if p.is_file() and not p.is_symlink())
    for i, p in enumerate(files):
        if p.read_bytes() in (b"", BEEGO_EMPTY):
            empty += 1
            rows.append((NOW - 3000 + i, "10.66.0.1", "/api/health", None, p.name))
        else:
            ip = f"10.1.{i // 250}.{i % 250 + 1}"
            rows.append((NOW - 3000 + i, ip, "/", None, p.name))
            rows.append((NOW - 2000 + i, ip, "/cart", p.name, None))
    return combined_log("beegosessionID", rows), empty


def test_every_rule_kind_both_outcomes_on_files(cli, tmp_path, every_rule_policy, combined_log):  # type: ignore[no-untyped-def]
    root = tmp_path / "tmp"
    exp = make_tree(str(root), FixtureSpec.from_mapping(dict(
        sessions=300, seed=5, now=NOW, max_lifetime="30d", empty_fraction=0.6,
        expired_fraction=0.2, symlinks=2, undecodable=1)))
    log, empty = _beego_log(root, combined_log)
    assert empty == exp["empty"] == 180 and exp["expired_fraction"] == 0.2

    def check(limits: dict) -> tuple[int, dict]:
        res = cli("check", root, "--policy", every_rule_policy(limits), "--access-log", log,
                  "--max-lifetime", "30d", "--now", NOW, "--json")
        (t,) = res.json()["targets"]
        return res.code, {r["rule"]: r for r in t["results"]}

    code, res = check(FILE_LOOSE)
    assert code == 0
    assert {k for k, r in res.items() if r["status"] == "pass"} == FILE_MEASURES
    assert {k for k, r in res.items() if r["status"] == "skipped"} == REDIS_ONLY

    code, res = check(FILE_TIGHT)
    assert code == 1
    assert {k for k, r in res.items() if r["status"] == "fail"} == FILE_MEASURES
    assert {k for k, r in res.items() if r["status"] == "skipped"} == REDIS_ONLY
    assert all(res[k]["measured"] is None for k in REDIS_ONLY)
    gc = res.pop("max_gc_stall_seconds")
    assert isinstance(gc["measured"], float) and gc["measured"] > 0  # a probe, not a constant
    assert {k: res[k]["measured"] for k in FILE_MEASURES - {"max_gc_stall_seconds"}} == {
        "max_sessions": 300,
        "max_allocated_bytes": exp["allocated_bytes"],
        "max_bytes": exp["bytes"],
        "max_expired_fraction": exp["expired_fraction"],
        "max_empty_fraction": 0.6,
        "max_orphan_rate_per_hour": 180.0,  # the clients' rate: 180 orphans in under an hour
        "max_orphans_per_route_per_hour": 180.0,  # all through one route
        "max_anomalies.symlinks": 2,
        "max_anomalies.undecodable": 1,
        "clients.max_orphans": 180,
        "clients.max_orphan_rate_per_hour": 180.0,
        "clients.max_sessions": 180,
    }


def test_quiet_check_names_the_violated_rules_on_stderr(cli, tmp_path):
    from sessdiag.fixtures import FixtureSpec, make_tree

    store = tmp_path / "store"
    make_tree(str(store), FixtureSpec.from_mapping(dict(sessions=20, seed=1)))
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  max_sessions: 5\n  max_expired_fraction: 1.0\n")
    res = cli("check", store, "--policy", policy, "--quiet", "--max-lifetime", "1d")
    assert res.code == 1
    assert res.out == ""
    assert "FAIL max_sessions" in res.err and "20" in res.err
    assert "max_expired_fraction" not in res.err  # only what failed: the cron mail's subject
    policy.write_text("rules:\n  max_sessions: 50\n")
    res = cli("check", store, "--policy", policy, "--quiet", "--max-lifetime", "1d")
    assert (res.code, res.out, res.err) == (0, "", "")
