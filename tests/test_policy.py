"""Policies: every rule kind, both outcomes; invalid files name the line and the key."""

from __future__ import annotations

import pytest

from sessdiag.core.errors import UsageError
from sessdiag.policy import evaluate, load_policy

REPORT = {
    "target": {"kind": "files", "location": "/srv/tmp", "profile": "beego-file"},
    "sessions": 1000, "bytes": 20000, "allocated_bytes": 4096000, "expired": 150,
    "expired_fraction": 0.15, "empty": 900,
    "anomalies": {"symlinks": 1, "foreign": 4, "misplaced": 0, "zero_byte": 2,
                  "undecodable": 0, "unreadable": 0},
    "gc_estimate": {"seconds": 12.5, "files": 1000, "dirs": 273},
    "groups": [{"profile": "beego-file", "namespace": "", "no_ttl": None}],
    "clients": [{"client": "10.0.0.7", "sessions": 800, "orphans": 790,
                 "orphan_rate_per_hour": 30.0},
                {"client": "10.0.0.8", "sessions": 20, "orphans": 1,
                 "orphan_rate_per_hour": 0.1}],
    "empty_rate": {"per_hour_mean": 5.0, "last_24h_per_hour": 6.0},
}
REDIS_REPORT = dict(REPORT, target={"kind": "redis", "location": "redis://h:6379/0"},
                    groups=[{"profile": "spring-session", "namespace": "spring:session",
                             "no_ttl": 2},
                            {"profile": "spring-session", "namespace": "myapp", "no_ttl": 0}],
                    # What a Redis scan writes: file-tree kinds are not applicable (None).
                    anomalies={"symlinks": None, "foreign": None, "misplaced": None,
                               "zero_byte": None, "undecodable": 0, "unreadable": None,
                               "bad_timestamps": 0},
                    gc_estimate=None)


def _policy(tmp_path, text: str):
    p = tmp_path / "policy.yaml"
    p.write_text(text)
    return load_policy(str(p))


def _by_rule(results):
    return {r.rule: r for r in results}


EVERY_RULE = """\
rules:
  max_sessions: {sessions}
  max_allocated_bytes: {alloc}
  max_expired_fraction: {expired}
  max_empty_fraction: {empty}
  max_orphan_rate_per_hour: {rate}
  max_gc_stall_seconds: {gc}
  max_no_ttl_keys: {nottl}
  allowed_namespaces: {ns}
  max_anomalies: {{symlinks: {sym}, foreign: 10}}
  clients: {{max_orphans: {orph}, max_orphan_rate_per_hour: 100}}
"""
LOOSE = dict(sessions=5000, alloc="1GiB", expired=0.5, empty=0.95, rate=100, gc=30, nottl=5,
             ns='["spring:session", "myapp"]', sym=3, orph=1000)
TIGHT = dict(sessions=999, alloc="4MB", expired=0.1, empty=0.5, rate=1, gc=10, nottl=0,
             ns='["spring:session"]', sym=0, orph=10)


@pytest.mark.parametrize("report", [REPORT, REDIS_REPORT], ids=["files", "redis"])
def test_every_rule_passes_when_loose(tmp_path, report):
    pol = _policy(tmp_path, EVERY_RULE.format(**LOOSE))
    results = evaluate(report, pol.rules)
    assert [r.rule for r in results if r.status == "fail"] == []
    measured = {r.rule for r in results if r.status == "pass"}
    assert {"max_sessions", "max_allocated_bytes", "clients.max_orphans"} <= measured
    # Directory-tree anomalies are measured on files only; a Redis store skips them.
    file_only = {"max_anomalies.symlinks", "max_anomalies.foreign"}
    if report is REPORT:
        assert file_only <= measured
    else:
        assert file_only <= {r.rule for r in results if r.status == "skipped"}


def test_every_rule_fails_when_tight_on_files(tmp_path):
    pol = _policy(tmp_path, EVERY_RULE.format(**TIGHT))
    res = _by_rule(evaluate(REPORT, pol.rules))
    for rule in ("max_sessions", "max_allocated_bytes", "max_expired_fraction",
                 "max_empty_fraction", "max_orphan_rate_per_hour", "max_gc_stall_seconds",
                 "max_anomalies.symlinks", "clients.max_orphans"):
        assert res[rule].status == "fail", rule
    assert res["max_sessions"].measured == 1000 and res["max_sessions"].allowed == 999
    assert res["max_allocated_bytes"].allowed == 4_000_000
    assert "10.0.0.7" in res["clients.max_orphans"].message
    # A file store has no TTLs and no namespaces: those rules are skipped, not passed.
    assert res["max_no_ttl_keys"].status == "skipped"
    assert res["allowed_namespaces"].status == "skipped"


def test_redis_rules_fail_when_tight(tmp_path):
    pol = _policy(tmp_path, EVERY_RULE.format(**TIGHT))
    res = _by_rule(evaluate(REDIS_REPORT, pol.rules))
    assert res["max_no_ttl_keys"].status == "fail" and res["max_no_ttl_keys"].measured == 2
    assert res["allowed_namespaces"].status == "fail"
    assert "'myapp'" in res["allowed_namespaces"].message
    assert res["max_gc_stall_seconds"].status == "skipped"
    assert res["max_anomalies.symlinks"].status == "skipped"
    assert res["max_anomalies.symlinks"].measured is None


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("rules:\n  max_sessions: 10\n  max_colour: 3\n", 3, "unknown rule 'max_colour'"),
        ("rules:\n  max_sessions: lots\n", 2, "max_sessions must be a non-negative integer"),
        ("rules:\n  max_expired_fraction: 1.5\n", 2, "between 0 and 1"),
        ("rules:\n  max_allocated_bytes: 2 gallons\n", 2, "a size"),
        ("rules:\n  max_anomalies:\n    gremlins: 1\n", 3, "unknown anomaly kind"),
        ("rules:\n  allowed_namespaces: spring\n", 2, "a list of namespace strings"),
        ("rules:\n  clients: {max_bananas: 1}\n", 2, "unknown client rule"),
        ("rulez:\n  max_sessions: 1\n", 1, "unknown key 'rulez'"),
        ("rules:\n  max_sessions: [1,\n", 3, "not valid YAML"),
        ("targets:\n  - target: /x\n    colour: red\n", 3, "unknown target key"),
    ],
)
def test_invalid_policies_name_file_line_key(tmp_path, text, line, needle):
    with pytest.raises(UsageError) as err:
        _policy(tmp_path, text)
    msg = str(err.value)
    assert f"policy.yaml:{line}:" in msg, msg
    assert needle in msg


def test_targets_with_own_rules(tmp_path):
    pol = _policy(tmp_path, "rules:\n  max_sessions: 10\ntargets:\n  - /a\n  - target: /b\n"
                            "    max_lifetime: 30d\n    rules: {max_sessions: 5000}\n")
    assert [t.target for t in pol.targets] == ["/a", "/b"]
    assert pol.targets[1].max_lifetime == 2592000
    assert pol.rules_for(pol.targets[0]) == {"max_sessions": 10}
    assert pol.rules_for(pol.targets[1]) == {"max_sessions": 5000}


def test_a_policy_that_is_not_utf8_is_bad_input_naming_the_file(cli, tmp_path):
    policy = tmp_path / "latin1.yaml"
    policy.write_bytes(b"rules:\n  # max_sessions for the caf\xe9 app\n  max_sessions: 10\n")
    res = cli("check", tmp_path, "--policy", policy)
    assert res.code == 2, res.err
    assert f"--policy {policy}:2: not UTF-8 text" in res.err
    assert "Traceback" not in res.err and res.err.count("\n") == 1


def test_rule_messages_write_numbers_as_the_views_do(tmp_path):
    pol = _policy(tmp_path, "rules:\n  max_sessions: 500\n  max_expired_fraction: 0.1\n")
    results = {r.rule: r for r in evaluate(dict(REPORT, sessions=17_000), pol.rules)}
    assert results["max_sessions"].message == "sessions 17,000 exceeds the limit 500"
    assert results["max_sessions"].measured == 17_000  # the JSON keeps the number


ROUTES = [{"route": "GET /health", "template": "GET /health", "issued": 300, "orphans": 300,
           "orphan_rate_per_hour": 300.0},
          {"route": "GET /", "template": "GET /", "issued": 40, "orphans": 2,
           "orphan_rate_per_hour": 2.0}]


def test_orphans_per_route_per_hour(tmp_path):
    pol = _policy(tmp_path, "rules:\n  max_orphans_per_route_per_hour: 100\n")
    (r,) = evaluate(dict(REPORT, routes=ROUTES), pol.rules)
    assert (r.rule, r.status, r.measured, r.allowed) == (
        "max_orphans_per_route_per_hour", "fail", 300.0, 100)
    assert "GET /health (300/h)" in r.message and "GET /," not in r.message
    pol = _policy(tmp_path, "rules:\n  max_orphans_per_route_per_hour: 500\n")
    (r,) = evaluate(dict(REPORT, routes=ROUTES), pol.rules)
    assert (r.status, r.measured) == ("pass", 300.0)
    # Without logs it cannot be measured: skipped, never passed.
    (r,) = evaluate(REPORT, pol.rules)
    assert r.status == "skipped" and "--access-log" in r.message
    (r,) = evaluate(dict(REPORT, routes=[]), pol.rules)
    assert r.status == "skipped"


def test_orphans_per_route_rule_wants_a_positive_number(tmp_path):
    with pytest.raises(UsageError, match="max_orphans_per_route_per_hour"):
        _policy(tmp_path, "rules:\n  max_orphans_per_route_per_hour: lots\n")


def test_bad_timestamps_is_a_kind_a_policy_can_limit(tmp_path):
    pol = _policy(tmp_path, "rules:\n  max_anomalies: {bad_timestamps: 0, undecodable: 5}\n")
    clean = _by_rule(evaluate(REDIS_REPORT, pol.rules))
    assert clean["max_anomalies.bad_timestamps"].status == "pass"
    hostile = dict(REDIS_REPORT, anomalies=dict(REDIS_REPORT["anomalies"], bad_timestamps=1))
    res = _by_rule(evaluate(hostile, pol.rules))
    assert res["max_anomalies.bad_timestamps"].status == "fail"
    assert res["max_anomalies.bad_timestamps"].measured == 1
    assert res["max_anomalies.undecodable"].status == "pass"
    # A file report has no such key: not applicable, never a pass.
    files = _by_rule(evaluate(REPORT, pol.rules))
    assert files["max_anomalies.bad_timestamps"].status == "skipped"


def test_an_unknown_anomaly_kind_lists_every_kind_a_policy_knows(tmp_path):
    with pytest.raises(UsageError) as exc:
        _policy(tmp_path, "rules:\n  max_anomalies: {bad_timestamp: 0}\n")
    assert "policy.yaml:2" in str(exc.value) and "'bad_timestamp'" in str(exc.value)
    assert "bad_timestamps" in str(exc.value) and "symlinks" in str(exc.value)
