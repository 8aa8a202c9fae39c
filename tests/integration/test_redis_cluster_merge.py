"""Per-node reports of a Redis Cluster merge to the cluster scan (issue 15).

A real 3-primary cluster (redis-cli --cluster create) gets sessions of seven frameworks whose
keys hash to slots on every primary. The cluster is scanned live (every primary, one report).
A live scan of one node's URL follows the topology and scans every primary, so the per-node
reports an operator has are each primary's own dump (`SAVE`, then `sessdiag scan node.rdb`):
`sessdiag merge` of them must give the cluster scan's report, field for field, except what a
dump measures differently from a live server (test_rdb_scan.py: memory is an estimate, the
examples are the first keys met, a TTL read live is a moment after --now) and the companion
checks that cross nodes (a dump sees its own keys only: the merged report says so).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import redis
from spring_data import SpringWriter
from test_redis_frameworks import beego_real, replay

REPO = Path(__file__).resolve().parents[2]
MIN = 60_000
# Measured differently by a dump (test_rdb_scan.py): memory, the examples' choice, TTL times.
ESTIMATED = {"allocated_bytes", "allocated_method", "examples", "companions"}
WITHIN_A_SECOND = {"oldest_access", "newest_access"}
COMPANION_ESTIMATED = {"shadow_allocated_bytes", "expirations_allocated_bytes"}
# Answered by the keys of one dump only: a session's companions are on other primaries.
CROSS_NODE = {"shadow_keys_without_session", "index_members_dead",
              "index_members_dead_checked", "index_dead_method"}
SAME = ("sessions", "bytes", "expired", "expired_fraction", "empty", "empty_fraction", "orphans",
        "no_ttl", "age_histogram", "anomalies", "empty_rate", "namespace_drift",
        "companion_no_ttl", "max_lifetime_s", "generated_at",
        "payload_check", "keyspace", "cadence", "clients")


def _fill(c, now_ms: int) -> None:  # type: ignore[no-untyped-def]
    w = SpringWriter(c)
    for i in range(30):
        t = now_ms - 7 * MIN * (i + 1)
        w.session(now_ms, t, t if i % 3 == 0 else now_ms - 90_000,
                  principal=f"u{i % 4}" if i % 3 else None)
    for _ in range(5):
        w.orphan_shadow()
    d = beego_real()
    for s in json.loads((d / "manifest.json").read_text())["sessions"]:
        if s["provider"] == "redis":
            c.set(s["sid"], (d / s["path"]).read_bytes(), ex=3600)
    for k in json.loads((REPO / "fixtures/laravel/redis/redis.json").read_text())["keys"]:
        c.set(k["key"], bytes.fromhex(k["value_hex"]), ex=k["ttl_s"] or None)
    for name in ("connect-redis", "php-redis", "rails", "flask-session-0.5"):
        replay(c, name)


def _scan(cli, target: object, now: float, out: Path) -> dict:  # type: ignore[no-untyped-def]
    res = cli("scan", str(target), "--json", "--deep", "--max-lifetime", "1d", "--now",
              str(now), "--output", str(out))
    assert res.code == 0, res.err
    return res.json()


@pytest.fixture(scope="module")
def cluster_reports(redis_cluster, tmp_path_factory):  # type: ignore[no-untyped-def]
    """(the live cluster report's file, each primary's dump report file, a spare dump)."""
    from redis.cluster import RedisCluster

    from sessdiag.cli import main as _main  # noqa: F401  (the CLI fixture imports it too)

    work = tmp_path_factory.mktemp("clustermerge")
    c = RedisCluster(host="127.0.0.1", port=redis_cluster[0].port)
    nodes = [redis.Redis(port=s.port) for s in redis_cluster]
    try:
        c.flushall(target_nodes=RedisCluster.PRIMARIES)
        for i, n in enumerate(nodes):
            # dumps then keep idle times (as a live OBJECT IDLETIME reads them)
            n.config_set("maxmemory-policy", "allkeys-lru")
            n.config_set("maxmemory", f"{64 + i}mb")  # each primary its own limit
        _fill(c, int(time.time() * 1000))
        now = time.time()  # after the writes: a TTL as of --now is at most the one written
        assert all(n.dbsize() > 10 for n in nodes)  # the keys are on every primary
        yield work, now
    finally:
        c.flushall(target_nodes=RedisCluster.PRIMARIES)
        for n in nodes:
            n.config_set("maxmemory-policy", "noeviction")
            n.config_set("maxmemory", "0")
            n.close()
        c.close()


def _dumps(cli, redis_cluster, work: Path, now: float) -> list[Path]:  # type: ignore[no-untyped-def]
    out = []
    for s in redis_cluster:
        redis.Redis(port=s.port).save()
        dump = work / f"node-{s.port}.rdb"
        shutil.copyfile(s.dir / "dump.rdb", dump)
        _scan(cli, dump, now, work / f"node-{s.port}.json")
        out.append(work / f"node-{s.port}.json")
    return out


def _t(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _memory_or_companions(line: str) -> bool:
    return any(w in line for w in ("Redis memory", "memory Redis uses", "shadow 'expires'",
                                   "principal-index", "notify-keyspace-events",
                                   "companion checks"))


def test_dumps_of_every_primary_merge_to_the_cluster_scan(cli, redis_cluster,  # type: ignore[no-untyped-def]
                                                         cluster_reports):
    work, now = cluster_reports
    whole = _scan(cli, f"redis://127.0.0.1:{redis_cluster[1].port}", now, work / "whole.json")
    assert whole["target"]["mode"] == "cluster" and whole["scan"]["nodes"] == 3
    parts = _dumps(cli, redis_cluster, work, now)
    res = cli("merge", *parts, "--json")
    assert res.code == 0, res.err
    merged = res.json()
    assert merged["target"]["kind"] == "merged" and merged["target"]["part_kind"] == "rdb"
    assert [p["location"] for p in merged["target"]["parts"]] == [
        str(p.with_suffix(".rdb")) for p in parts]
    assert whole["sessions"] > 100 and len(whole["groups"]) >= 7
    for field in SAME:
        assert merged[field] == whole[field], field
    lg = {(g["profile"], g["namespace"]): g for g in whole["groups"]}
    mg = {(g["profile"], g["namespace"]): g for g in merged["groups"]}
    assert list(lg) == list(mg)  # same groups, in the scan's order
    for key, a in lg.items():
        b = mg[key]
        assert set(a) == set(b), key
        for field in a:
            if field in WITHIN_A_SECOND and a[field] and b[field]:
                assert abs(_t(a[field]) - _t(b[field])) <= 1, (key, field)
            elif field == "principals":  # one counted once per primary it has sessions on
                assert a[field]["count"] <= b[field]["count"] <= 3 * a[field]["count"], key
            elif field not in ESTIMATED:
                assert a[field] == b[field], (key, field)
        assert {k: len(v) for k, v in a["examples"].items()} == \
            {k: len(v) for k, v in b["examples"].items()}, key
        if a["allocated_bytes"]:  # the dumps' estimate of MEMORY USAGE (test_rdb_scan.py)
            assert abs(b["allocated_bytes"] - a["allocated_bytes"]) <= \
                0.25 * a["allocated_bytes"], key
            assert b["allocated_method"].endswith(f"for all {b['sessions']} sessions"), key
        for field, v in (a.get("companions") or {}).items():
            if field in CROSS_NODE:
                continue
            if field not in COMPANION_ESTIMATED:
                assert v == b["companions"][field], (key, field)
    # Each dump checks a shadow key against its own keys: sessions on another primary look
    # missing. The live scan asked the owning node; the merged report says why it cannot.
    spring = mg[("spring-session", "spring:session")]["companions"]
    live = lg[("spring-session", "spring:session")]["companions"]
    assert live["shadow_keys_without_session"] == 5 and live["index_members_dead"] == 0
    assert spring["shadow_keys_without_session"] > 5
    assert any(w.startswith("companion checks") for w in merged["warnings"])
    assert [w for w in merged["warnings"] if not w.startswith("companion checks")] == \
        whole["warnings"]
    assert [f for f in merged["findings"] if not _memory_or_companions(f)] == \
        [f for f in whole["findings"] if not _memory_or_companions(f)]
    # Memory: every primary's, live (INFO of each) and in the dumps (their used-mem).
    assert merged["server"]["used_memory"] == sum(
        json.loads(p.read_text())["server"]["used_memory"] for p in parts)
    one = redis.Redis(port=redis_cluster[1].port).info("memory")["used_memory"]
    assert whole["server"]["used_memory"] > 2 * one
    assert whole["server"]["maxmemory"] == (64 + 65 + 66) << 20


def test_a_node_twice_or_with_the_whole_cluster_is_refused(cli, redis_cluster,  # type: ignore[no-untyped-def]
                                                          cluster_reports):
    work, now = cluster_reports
    a, b, c = _dumps(cli, redis_cluster, work, now)
    whole = work / "whole-0.json"
    _scan(cli, f"redis://127.0.0.1:{redis_cluster[0].port}", now, whole)
    again = work / "whole-2.json"
    _scan(cli, f"redis://127.0.0.1:{redis_cluster[2].port}", now, again)
    # The same dump under another name: its bytes (checksum) name it.
    copy = work / "copy-of-a.rdb"
    shutil.copyfile(a.with_suffix(".rdb"), copy)
    _scan(cli, copy, now, work / "copy-of-a.json")
    merged = work / "ab.json"
    assert cli("merge", a, b, "--output", merged, "--quiet").code == 0
    for reports, needle in (((a, b, a), "the same dump"),
                            ((a, b, c, work / "copy-of-a.json"), "the same dump"),
                            ((merged, a), "the same dump"),
                            ((whole, a), "live scan of a Redis Cluster"),
                            ((b, c, whole), "live scan of a Redis Cluster"),
                            ((whole, again), "share Redis nodes")):
        res = cli("merge", *reports, "--json")
        assert res.code == 2, (reports, res.out[:200])
        assert needle in res.err and len(res.err.strip().splitlines()) == 1, res.err



def test_one_access_log_read_by_every_dump_counts_once(cli, redis_cluster,  # type: ignore[no-untyped-def]
                                                       cluster_reports):
    """The Laravel capture's log (its sessions are in the cluster) given to every scan: the
    log's clients, routes and races are counted once; each client's orphans still in the
    store add up over the primaries, as the live scan finds them on the owning nodes."""
    from test_clients_real_laravel import CAPTURES, app_env

    work, now = cluster_reports
    log = ("--access-log", str(CAPTURES / "redis" / "access.log"), "--app-env",
           str(app_env("redis")))
    res = cli("scan", f"redis://127.0.0.1:{redis_cluster[1].port}", "--json", "--deep",
              "--max-lifetime", "1d", "--now", str(now), *log)
    assert res.code == 0, res.err
    whole = res.json()
    parts = []
    for s in redis_cluster:
        redis.Redis(port=s.port).save()
        dump = work / f"logged-{s.port}.rdb"
        shutil.copyfile(s.dir / "dump.rdb", dump)
        r = cli("scan", str(dump), "--json", "--deep", "--max-lifetime", "1d", "--now",
                str(now), *log, "--output", str(work / f"logged-{s.port}.json"))
        assert r.code == 0, r.err
        parts.append(work / f"logged-{s.port}.json")
    m = cli("merge", *parts, "--json")
    assert m.code == 0, m.err
    merged = m.json()
    assert whole["clients_summary"]["orphans"] >= 60
    for field in ("access_log", "clients_summary", "routes", "user_agents", "races",
                  "minters_summary"):
        assert merged[field] == whole[field], field
    a = {c["client"]: c for c in whole["clients"]}
    b = {c["client"]: c for c in merged["clients"]}
    assert list(a) == list(b)
    for ip, x in a.items():
        y = b[ip]
        assert {k: v for k, v in x.items() if k != "store"} == \
            {k: v for k, v in y.items() if k != "store"}, ip
        if x["store"] is None:
            assert y["store"] is None, ip
            continue
        for k in ("orphans_in_store", "bytes", "share_of_sessions", "share_of_bytes",
                  "method", "looked_up"):
            assert x["store"][k] == y["store"][k], (ip, k)
    # The log's findings: the live scan's, but for the memory figures of a dump's estimate.
    def log_lines(r: dict) -> list[str]:
        return [f for f in r["findings"] if f.startswith(("client ", "routes ", "user agents",
                                                           "fix "))]
    assert log_lines(merged) == log_lines(whole) and len(log_lines(whole)) >= 4
    assert merged["projection"]["orphans_per_day"] == whole["projection"]["orphans_per_day"]
