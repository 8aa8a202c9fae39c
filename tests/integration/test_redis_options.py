"""--pattern (generic profile), --profile override, --buckets, inspect's errors."""

from __future__ import annotations

import time


def test_pattern_gives_a_generic_group(cli, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    for i in range(5):
        r.set(f"shop:s:{i:08d}", b'{"cart":[1]}' if i else b"", ex=600 + i)
    r.hset("shop:s:hash", mapping={"a": "1"})
    r.expire("shop:s:hash", 100)
    r.set("other:1", "x")
    rep = cli("scan", url, "--pattern", "shop:s:*", "--max-lifetime", "1h", "--json").json()
    (g,) = rep["groups"]
    assert (g["profile"], g["namespace"]) == ("generic", "shop:s")
    assert g["sessions"] == 6 and g["empty"] == 1 and g["lifetime_s"] == 3600
    assert g["lifetime_source"] == "--max-lifetime" and g["age_sources"] == {"ttl": 6}
    # Ages = 3600 − TTL: 3000..2996 s for the strings, 3500 s for the hash: all ≤ 1 h.
    assert [b["count"] for b in g["age_histogram"]][:2] == [6, 0]
    assert rep["keyspace"]["keys_seen"] == 6  # MATCH filtered server-side


def test_profile_override_and_buckets(cli, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    for i in range(4):
        r.set(f"custom:{i}", b"uid|i:1;" if i else b"", ex=7200)
    rep = cli("scan", url, "--profile", "php-redis", "--buckets", "30m,3h", "--json").json()
    (g,) = rep["groups"]
    assert (g["profile"], g["namespace"]) == ("php-redis", "custom")
    assert g["sessions"] == 4 and g["orphans"] == 1
    # No --max-lifetime: TTLs (7200) above PHP's default 1440 make the lifetime the largest TTL.
    assert g["lifetime_s"] == 7200 and "largest TTL" in g["lifetime_source"]
    assert [b["upper_s"] for b in rep["age_histogram"]] == [1800, 10800, None]
    assert [b["count"] for b in rep["age_histogram"]] == [4, 0, 0]
    assert cli("scan", url, "--profile", "nope").code == 2


def test_spring_profile_forced(cli, redis_db):  # type: ignore[no-untyped-def]
    from spring_data import SpringWriter

    url, r = redis_db
    now_ms = int(time.time() * 1000)
    SpringWriter(r, ns="svc").session(now_ms, now_ms - 5, now_ms)
    rep = cli("scan", url, "--profile", "spring-session-simple", "--json").json()
    assert [(g["profile"], g["namespace"], g["sessions"]) for g in rep["groups"]] == [
        ("spring-session-simple", "svc", 1)]


def test_empty_database(cli, redis_db):  # type: ignore[no-untyped-def]
    url, _ = redis_db
    rep = cli("scan", url, "--json").json()
    assert rep["sessions"] == 0 and rep["groups"] == [] and rep["allocated_bytes"] == 0
    assert rep["age_histogram"][-1] == {"upper_s": None, "count": 0}
    assert rep["findings"][0].startswith("no session keys found")
    assert cli("scan", url).code == 0


def test_check_policy_on_redis(cli, redis_db, tmp_path):  # type: ignore[no-untyped-def]
    from spring_data import SpringWriter

    url, r = redis_db
    now_ms = int(time.time() * 1000)
    SpringWriter(r).session(now_ms, now_ms, now_ms)
    SpringWriter(r, ns="myapp", indexed=False).session(now_ms, now_ms, now_ms, max_inactive=-1)
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  allowed_namespaces: [\"spring:session\"]\n"
                      "  max_no_ttl_keys: 0\n  max_sessions: 10\n")
    res = cli("check", url, "--policy", policy)
    assert res.code == 1, res.err
    assert "allowed_namespaces" in res.out + res.err and "max_no_ttl_keys" in res.out + res.err
    policy.write_text("rules:\n  allowed_namespaces: [\"spring:session\", \"myapp\"]\n"
                      "  max_sessions: 10\n")
    assert cli("check", url, "--policy", policy).code == 0


def test_check_on_redis_takes_rate_like_scan(cli, redis_db, tmp_path):  # type: ignore[no-untyped-def]
    url, r = redis_db
    p = r.pipeline()
    for i in range(600):
        p.set(f"PHPREDIS_SESSION:{i:026d}", b"uid|i:1;", ex=1000)
    p.execute()
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  max_sessions: 1000\n")
    t0 = time.monotonic()
    res = cli("check", url, "--policy", policy, "--rate", "1000", "--json")
    elapsed = time.monotonic() - t0
    assert res.code == 0, res.err
    assert res.json()["targets"][0]["summary"]["sessions"] == 600
    # ≥ 1,200 commands (SCAN pages, TYPE/TTL/reads per key) at ≤ 1,000/s: the cap held.
    assert elapsed >= 1.0
