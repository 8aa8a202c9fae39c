"""`sessdiag fixtures make redis://…` against the suite's own redis-server: the keyspace scans
exactly as the spec says, the committed Spring policy passes the healthy service and fails
the namespace mismatch, writes stay in one empty database, and one policy with every rule
kind is checked for both outcomes."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis_servers as rs

from sessdiag.codecs import javaser

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
POLICY = FIXTURES / "policies" / "spring-production.yaml"


def _make(cli, url: str, spec: Path | str, *extra: str) -> dict:  # type: ignore[no-untyped-def]
    res = cli("fixtures", "make", url, "--spec", spec, "--json", *extra)
    assert res.code == 0, res.err
    return res.json()


def _results(out: dict) -> dict[str, dict]:
    (t,) = out["targets"]
    return {r["rule"]: r for r in t["results"]}


@pytest.mark.parametrize("name", ["spring-healthy", "spring-namespace-mismatch"])
def test_shipped_spring_specs_scan_exactly(cli, redis_db, name):  # type: ignore[no-untyped-def]
    url, _ = redis_db
    exp = _make(cli, url, FIXTURES / f"{name}.yaml")
    assert exp["target"] == url
    r = cli("scan", url, "--json", "--deep").json()
    for key in ("sessions", "bytes", "expired", "expired_fraction", "empty", "orphans",
                "no_ttl"):
        assert r[key] == exp[key], key
    assert r["anomalies"]["undecodable"] == exp["undecodable"]
    assert r["empty_rate"]["last_24h_per_hour"] == exp["orphan_rate_last_24h_per_hour"]
    assert r["empty_rate"]["recent_per_hour"] == exp["orphan_rate_recent_per_hour"]
    assert sorted(g["namespace"] for g in r["groups"]) == exp["namespaces"]
    want = {g["namespace"]: g for g in exp["groups"]}
    for g in r["groups"]:
        e = want[g["namespace"]]
        for key in ("profile", "sessions", "bytes", "empty", "orphans", "expired", "no_ttl",
                    "undecodable"):
            assert g[key] == e[key], (g["namespace"], key)
        assert g["principals"]["count"] == e["principals"]
        assert g["formats"] == {"jdk": e["sessions"]}
        c = g["companions"]
        for key in ("repository", "shadow_keys", "shadow_keys_no_ttl", "expirations_sets",
                    "expirations_members", "index_sets", "index_members"):
            assert c[key] == e[key], (g["namespace"], key)
        # What Spring itself would leave: no stale companions in a fresh keyspace.
        assert (c["shadow_keys_without_session"], c["expirations_no_ttl"],
                c["expirations_past"], c["index_members_dead"]) == (0, 0, 0, 0)
    drift = r["namespace_drift"]
    if name == "spring-healthy":
        assert drift == [] and exp["namespaces"] == ["spring:session"]
    else:
        (d,) = drift
        assert [x["namespace"] for x in d["namespaces"]] == ["myapp:spring:session",
                                                             "spring:session"]
        assert d["shared_principals"] == exp["shared_principals"] == 120


@pytest.fixture
def two_dbs(redis_server) -> Iterator[list[tuple[str, redis.Redis]]]:  # type: ignore[no-untyped-def]
    """Databases 14 and 15 of the suite's server, flushed before and after: (url, client)."""
    pairs = [(f"{redis_server.url}/{d}", redis.Redis(port=redis_server.port, db=d))
             for d in (14, 15)]
    for _, c in pairs:
        c.flushdb()
    yield pairs
    for _, c in pairs:
        c.flushdb()
        c.close()


def test_spring_policy_passes_healthy_and_fails_the_mismatch(cli, two_dbs):  # type: ignore[no-untyped-def]
    (healthy, _), (mismatch, _) = two_dbs
    _make(cli, healthy, FIXTURES / "spring-healthy.yaml")
    exp = _make(cli, mismatch, FIXTURES / "spring-namespace-mismatch.yaml")
    ok = cli("check", healthy, "--policy", POLICY, "--json")
    assert ok.code == 0, ok.out + ok.err
    res = _results(ok.json())
    assert {r["status"] for r in res.values()} == {"pass"}
    bad = cli("check", mismatch, "--policy", POLICY, "--json")
    assert bad.code == 1, bad.err
    out = bad.json()
    res = _results(out)
    failed = {k for k, r in res.items() if r["status"] == "fail"}
    assert failed == {"allowed_namespaces", "max_no_ttl_keys", "max_empty_fraction",
                      "max_orphan_rate_per_hour"}
    assert out["violations"] == 4 and out["ok"] is False
    assert res["allowed_namespaces"]["measured"] == exp["namespaces"]
    assert "'myapp:spring:session' are not allowed" in res["allowed_namespaces"]["message"]
    assert res["max_no_ttl_keys"]["measured"] == exp["no_ttl"] == 3
    assert res["max_empty_fraction"]["measured"] == exp["empty_fraction"]
    # 920 never-reused sessions, all within the 30-minute lifetime Redis keeps: per hour
    # that is 1 840, not 920 / 24 (the window the store still holds, not a whole day)
    assert res["max_orphan_rate_per_hour"]["measured"] == \
        exp["orphan_rate_recent_per_hour"] == 920 * 2
    assert res["max_sessions"]["measured"] == exp["sessions"] == 1453


def test_refuses_a_non_empty_db_and_force_touches_no_other(cli, two_dbs):  # type: ignore[no-untyped-def]
    (url, target), (_, other) = two_dbs
    target.set("precious", b"keep me")
    other.set("neighbour", b"untouched")
    spec = FIXTURES / "spring-healthy.yaml"
    res = cli("fixtures", "make", url, "--spec", spec)
    assert res.code == 2 and res.out == ""
    assert res.err.count("\n") == 1 and "holds 1 keys" in res.err and "--force" in res.err
    assert target.get("precious") == b"keep me" and target.dbsize() == 1
    exp = _make(cli, url, spec, "--force")
    assert target.get("precious") is None
    assert target.dbsize() == exp["sessions"] + sum(
        g["shadow_keys"] + g["expirations_sets"] + g["index_sets"] for g in exp["groups"])
    assert other.get("neighbour") == b"untouched" and other.dbsize() == 1
    # The same seed writes the same keyspace: --force makes a fixture reproducible in CI.
    keys = sorted(target.keys())
    _make(cli, url, spec, "--force")
    assert sorted(target.keys()) == keys


def test_unix_socket_target(cli, redis_workdir, tmp_path):  # type: ignore[no-untyped-def]
    sock = tmp_path / "r.sock"
    srv = rs.start(redis_workdir, "--unixsocket", str(sock), "--unixsocketperm", "700")
    try:
        url = f"unix://{sock}?db=3"
        exp = _make(cli, url, FIXTURES / "spring-healthy.yaml")
        assert exp["target"] == url and exp["db"] == 3
        assert redis.Redis(port=srv.port, db=0).dbsize() == 0  # db 0 untouched
        res = cli("check", url, "--policy", POLICY, "--json")
        assert res.code == 0, res.out + res.err
        assert _results(res.json())["max_sessions"]["measured"] == exp["sessions"] == 500
    finally:
        srv.stop()


def test_refuses_a_cluster_node(cli, redis_cluster):  # type: ignore[no-untyped-def]
    res = cli("fixtures", "make", f"redis://127.0.0.1:{redis_cluster[0].port}/0", "--spec",
              FIXTURES / "spring-healthy.yaml")
    assert res.code == 2 and "Redis Cluster" in res.err and res.err.count("\n") == 1


def test_unreachable_and_misused_targets(cli, tmp_path):  # type: ignore[no-untyped-def]
    port = rs.free_port()
    res = cli("fixtures", "make", f"redis://127.0.0.1:{port}/0", "--spec",
              FIXTURES / "spring-healthy.yaml")
    assert res.code == 3 and "unreachable" in res.err
    res = cli("fixtures", "make", f"redis://127.0.0.1:{port}/0", "--spec",
              FIXTURES / "healthy-app.yaml")
    assert res.code == 2 and "profile: spring-session" in res.err
    res = cli("fixtures", "make", f"redis://127.0.0.1:{port}/0", "--spec",
              FIXTURES / "spring-healthy.yaml", "--sessions", "3")
    assert res.code == 2 and "--sessions: for file trees only" in res.err
    res = cli("fixtures", "make", tmp_path / "d", "--spec", FIXTURES / "spring-healthy.yaml")
    assert res.code == 2 and "redis:// or unix://" in res.err and not (tmp_path / "d").exists()
    res = cli("fixtures", "make", tmp_path / "d", "--force", "--sessions", "3")
    assert res.code == 2 and "--force" in res.err and not (tmp_path / "d").exists()


# --- one policy with every rule kind, both outcomes, on a real server ----------------------

EVERY_RULE_SPEC = """\
profile: spring-session
seed: 11
groups:
  - name: users
    namespace: spring:session
    sessions: 40
    logged_in: 0.5
    never_reused: 0.1
    principals: 15
    expired: 2
    no_ttl: 2
    undecodable: 1
  - name: machine client
    namespace: myapp
    indexed: false
    sessions: 20
    never_reused: 1.0
"""
LOOSE = {
    "max_sessions": 1000, "max_allocated_bytes": "64MiB", "max_bytes": "10MB",
    "max_expired_fraction": 0.5, "max_empty_fraction": 0.9, "max_orphan_rate_per_hour": 1000,
    "max_orphans_per_route_per_hour": 1000, "max_gc_stall_seconds": 30, "max_no_ttl_keys": 5,
    "allowed_namespaces": ["spring:session", "myapp"],
    "max_anomalies": {"undecodable": 5, "symlinks": 0},
    "clients": {"max_orphans": 1000, "max_orphan_rate_per_hour": 1000, "max_sessions": 1000},
}
TIGHT = {
    "max_sessions": 10, "max_allocated_bytes": "1KiB", "max_bytes": "1kB",
    "max_expired_fraction": 0.01, "max_empty_fraction": 0.1, "max_orphan_rate_per_hour": 1,
    "max_orphans_per_route_per_hour": 1, "max_gc_stall_seconds": 30, "max_no_ttl_keys": 0,
    "allowed_namespaces": ["spring:session"],
    "max_anomalies": {"undecodable": 0, "symlinks": 0},
    "clients": {"max_orphans": 1, "max_orphan_rate_per_hour": 1, "max_sessions": 1},
}
REDIS_MEASURES = {"max_sessions", "max_allocated_bytes", "max_bytes", "max_expired_fraction",
                  "max_empty_fraction", "max_orphan_rate_per_hour", "max_no_ttl_keys",
                  "max_orphans_per_route_per_hour",
                  "allowed_namespaces", "max_anomalies.undecodable", "clients.max_orphans",
                  "clients.max_orphan_rate_per_hour", "clients.max_sessions"}
FILE_ONLY = {"max_gc_stall_seconds", "max_anomalies.symlinks"}


def _spring_log(client: redis.Redis, combined_log) -> tuple[Path, int]:  # type: ignore[no-untyped-def]
    """An access log of the store read back from Redis: a machine client got every
    never-reused session and presented none; each other session was presented once."""
    rows = []
    orphans = 0
    for i, key in enumerate(sorted(client.scan_iter(match="*:sessions:*", _type="hash"))):
        f = client.hgetall(key)
        sid = key.rsplit(b":", 1)[1]
        cookie = base64.b64encode(sid).decode()
        created = javaser.long_value(f[b"creationTime"])
        last = javaser.long_value(f[b"lastAccessedTime"])
        assert created is not None and last is not None
        if created == last:
            orphans += 1
            rows.append((1_790_000_000 + i, "10.66.0.1", "/api/ping", None, cookie))
        else:
            ip = f"10.1.{i // 250}.{i % 250 + 1}"
            rows.append((1_790_000_000 + i, ip, "/", None, cookie))
            rows.append((1_790_000_100 + i, ip, "/cart", cookie, None))
    return combined_log("SESSION", rows), orphans


def test_every_rule_kind_both_outcomes_on_redis(cli, redis_db, tmp_path, every_rule_policy,  # type: ignore[no-untyped-def]
                                                combined_log):
    url, client = redis_db
    spec = tmp_path / "spec.yaml"
    spec.write_text(EVERY_RULE_SPEC)
    exp = _make(cli, url, spec)
    assert (exp["sessions"], exp["expired"], exp["no_ttl"], exp["undecodable"]) == (62, 2, 2, 1)
    log, orphans = _spring_log(client, combined_log)
    assert orphans == exp["orphans"] == 4 + 20

    loose = cli("check", url, "--policy", every_rule_policy(LOOSE), "--access-log", log,
                "--json")
    assert loose.code == 0, loose.out + loose.err
    res = _results(loose.json())
    assert {k for k, r in res.items() if r["status"] == "pass"} == REDIS_MEASURES
    assert {k for k, r in res.items() if r["status"] == "skipped"} == FILE_ONLY
    assert all(res[k]["measured"] is None for k in FILE_ONLY)

    tight = cli("check", url, "--policy", every_rule_policy(TIGHT), "--access-log", log,
                "--json")
    assert tight.code == 1, tight.err
    out = tight.json()
    res = _results(out)
    assert {k for k, r in res.items() if r["status"] == "fail"} == REDIS_MEASURES
    assert {k for k, r in res.items() if r["status"] == "skipped"} == FILE_ONLY
    assert out["violations"] == len(REDIS_MEASURES)
    measured = {k: res[k]["measured"] for k in REDIS_MEASURES}
    summary = out["targets"][0]["summary"]
    assert summary["allocated_bytes"] > exp["bytes"]
    assert measured == {
        "max_sessions": 62,
        "max_allocated_bytes": summary["allocated_bytes"],
        "max_bytes": exp["bytes"],
        "max_expired_fraction": round(2 / 62, 6),
        "max_empty_fraction": round(24 / 62, 6),
        # With access logs the rate is the clients': 24 orphans in a log under an hour long.
        "max_orphan_rate_per_hour": 24.0,
        "max_orphans_per_route_per_hour": 24.0,
        "max_no_ttl_keys": 2,
        "allowed_namespaces": ["myapp", "spring:session"],
        "max_anomalies.undecodable": 1,
        "clients.max_orphans": 24,
        "clients.max_orphan_rate_per_hour": 24.0,
        "clients.max_sessions": 24,
    }
    assert {k: res[k]["allowed"] for k in ("max_allocated_bytes", "max_bytes")} == {
        "max_allocated_bytes": 1024, "max_bytes": 1000}
    assert "10.66.0.1 (24)" in res["clients.max_orphans"]["message"]
