"""A 3-primary Redis Cluster (redis-cli --cluster create) and a replica: same answers."""

from __future__ import annotations

import time

import redis
import redis_servers as rs
from spring_data import SpringWriter


def _write(client, now_ms: int) -> dict:  # type: ignore[no-untyped-def]
    """A mixed keyspace; returns what a scan must find."""
    w = SpringWriter(client)
    for i in range(30):
        t = now_ms - 60_000 * (i + 1)
        w.session(now_ms, t, t if i % 3 == 0 else now_ms - 1000,
                  principal=f"u{i % 4}" if i % 3 else None)
    for _ in range(5):
        w.orphan_shadow()
    gob_empty = bytes.fromhex("0eff81040102ff820001100110000004ff820000")
    for i in range(12):
        client.set(f"{i:032x}", gob_empty, ex=3600)
    for i in range(7):
        client.set(f"sess:{'x' * 31}{i}",
                   b'{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,'
                   b'"path":"/"}}', ex=86400)
    return {"spring": 30, "orphans": 10, "shadow_without": 5, "beego": 12, "connect": 7}


def test_cluster_scans_every_primary(cli, redis_cluster, cluster_client):  # type: ignore[no-untyped-def]
    now_ms = int(time.time() * 1000)
    exp = _write(cluster_client, now_ms)
    url = f"redis://127.0.0.1:{redis_cluster[1].port}"
    res = cli("scan", url, "--json")
    assert res.code == 0, res.err
    rep = res.json()
    assert rep["target"]["mode"] == "cluster" and len(rep["target"]["nodes"]) == 3
    assert rep["scan"]["nodes"] == 3
    keys = sum(redis.Redis(port=s.port).dbsize() for s in redis_cluster)
    assert rep["keyspace"]["keys_seen"] == rep["keyspace"]["keys_total"] == keys
    g = {(x["profile"], x["namespace"]): x for x in rep["groups"]}
    sp = g[("spring-session", "spring:session")]
    assert sp["sessions"] == exp["spring"] and sp["orphans"] == exp["orphans"]
    # Shadow keys and their hashes hash to different slots: checked on the owning node.
    assert sp["companions"]["shadow_keys_without_session"] == exp["shadow_without"]
    assert sp["companions"]["shadow_keys_checked"] == 35
    assert sp["companions"]["index_members_dead"] == 0
    assert g[("beego-redis", "")]["sessions"] == exp["beego"]
    assert g[("beego-redis", "")]["empty"] == exp["beego"]
    assert g[("connect-redis", "sess")]["orphans"] == exp["connect"]
    assert rep["server"]["primaries"] == 3
    assert len(rep["server"]["notify_keyspace_events_by_node"]) == 3


def test_cluster_with_threads_matches_processes(cli, redis_cluster, cluster_client,  # type: ignore[no-untyped-def]
                                               monkeypatch):
    now_ms = int(time.time() * 1000)
    _write(cluster_client, now_ms)
    url = f"redis://127.0.0.1:{redis_cluster[0].port}"
    a = cli("scan", url, "--json", "--now", str(now_ms / 1000)).json()
    monkeypatch.setenv("SESSDIAG_REDIS_THREADS", "1")
    b = cli("scan", url, "--json", "--now", str(now_ms / 1000)).json()
    for k in ("sessions", "bytes", "expired", "empty", "orphans", "age_histogram"):
        assert a[k] == b[k]


def test_replica_is_a_read_only_target(cli, redis_server, redis_workdir, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    now_ms = int(time.time() * 1000)
    w = SpringWriter(r)
    for i in range(9):
        w.session(now_ms, now_ms - 5000, now_ms - 5000 if i < 4 else now_ms - 1000)
    replica = rs.start_replica(redis_workdir, redis_server)
    try:
        rs.wait_replica_offset(redis_server, replica)
        db = url.rsplit("/", 1)[1]
        on_primary = cli("scan", url, "--json").json()
        res = cli("scan", f"{replica.url}/{db}", "--json")
        assert res.code == 0, res.err
        on_replica = res.json()
        assert on_replica["target"]["mode"] == "replica"
        assert on_replica["server"]["role"] == "slave"
        for k in ("sessions", "bytes", "empty", "orphans", "no_ttl"):
            assert on_replica[k] == on_primary[k]
        assert on_replica["sessions"] == 9 and on_replica["orphans"] == 4
    finally:
        replica.stop()


def test_cluster_as_read_only_acl_user(cli, redis_cluster, cluster_client, monkeypatch):  # type: ignore[no-untyped-def]
    _write(cluster_client, int(time.time() * 1000))
    for s in redis_cluster:  # ACLs are per node
        redis.Redis(port=s.port).execute_command(
            "ACL", "SETUSER", "scanner", "reset", "on", ">pw-Cl9", "~*", "&*", "-@all", "+@read",
            "+@connection", "+info", "+config|get", "+cluster|nodes")
    monkeypatch.setenv("SESSDIAG_TEST_PW", "pw-Cl9")
    try:
        res = cli("scan", f"redis://scanner@127.0.0.1:{redis_cluster[2].port}", "--json",
                  "--password-env", "SESSDIAG_TEST_PW")
        assert res.code == 0, res.err
        assert res.json()["sessions"] == 30 + 12 + 7
        for s in redis_cluster:
            assert redis.Redis(port=s.port).execute_command("ACL", "LOG") == []
    finally:
        for s in redis_cluster:
            redis.Redis(port=s.port).execute_command("ACL", "DELUSER", "scanner")
