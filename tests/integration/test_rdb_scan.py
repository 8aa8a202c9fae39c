"""A dump of the same data gives the same report as the live scan (issue 12's acceptance test).

One private redis-server gets every framework's real keys: the committed captures (express-
session, PHP, Rails, Flask 0.5, Laravel), beego's real gob values, Flask-Session 0.8 and
Django run here, and Spring Session's indexed and non-indexed layouts with every companion
leftover; plus noise of every type. It is scanned live, then `SAVE`d, and the dump is scanned
as of the same instant: every group field must agree, except the memory figures (MEMORY USAGE
live, an estimate from the dump's encodings: held within a margin of it) and the examples'
choice of keys (the first three met, in SCAN order live, in dump order offline).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
import redis_servers as rs
from spring_data import SpringWriter, vector
from test_redis_frameworks import DJANGO, beego_real, replay

REPO = Path(__file__).resolve().parents[2]
MIN = 60_000
ESTIMATED = {"allocated_bytes", "allocated_method", "examples", "companions"}
# Live, a TTL is read a few milliseconds after --now; in the dump it is exact at as_of: a
# time derived from a TTL may fall in the next whole second.
WITHIN_A_SECOND = {"oldest_access", "newest_access"}
COMPANION_ESTIMATED = {"shadow_allocated_bytes", "expirations_allocated_bytes"}


def _flask(port: int) -> None:
    import flask
    from flask_session import Session

    for fmt in ("msgpack", "json"):
        app = flask.Flask(f"app_{fmt}")
        app.config.update(SESSION_TYPE="redis", SECRET_KEY="k",
                          SESSION_REDIS=redis.Redis(port=port), SESSION_SERIALIZATION_FORMAT=fmt)
        Session(app)

        @app.get("/login/<u>")
        def login(u):  # type: ignore[no-untyped-def]
            flask.session["user_id"] = u
            return "in"
        for u in ("alice", "bob"):
            app.test_client().get(f"/login/{u}")


def _spring(r: redis.Redis, now_ms: int) -> None:
    w = SpringWriter(r)
    user = vector("user_object")
    for _ in range(10):
        t = now_ms - 10 * MIN
        w.session(now_ms, t, t)
    for i in range(5):
        w.session(now_ms, now_ms - 2 * 86400_000, now_ms - 5 * MIN,
                  principal="alice" if i < 2 else f"user{i}", attrs={"user": user})
    for _ in range(3):
        w.session(now_ms, now_ms - 2100_000, now_ms - 2000_000)
    for _ in range(2):
        w.session(now_ms, now_ms - 10 * 86400_000 - 1000_000, now_ms - 10 * 86400_000,
                  max_inactive=-1)
    for _ in range(4):
        w.orphan_shadow()
    minute = (now_ms // MIN + 31) * MIN
    w.expirations(minute, w.ids[:10], ttl_s=2100)
    w.expirations(minute + MIN, w.ids[10:12], ttl_s=None)
    w.expirations(now_ms // MIN * MIN - 60 * MIN, [str(uuid.uuid4())], ttl_s=None)
    w.index_member("alice", str(uuid.uuid4()))
    w.index_member("bob", str(uuid.uuid4()))
    j = SpringWriter(r, ns="myapp", indexed=False, json_values=True)
    for i in range(6):
        j.session(now_ms, now_ms - 3600_000, now_ms - (0 if i % 2 else 3600_000),
                  principal="alice" if i == 0 else None)


def _noise(r: redis.Redis) -> None:
    r.rpush("queue:jobs", *[f"job{i}" for i in range(300)])
    r.sadd("tags:small", 1, 2, 3)
    r.sadd("tags:big", *[f"t{i}" for i in range(300)])
    r.zadd("board", {f"p{i}": i for i in range(200)})
    r.hset("config", mapping={"a": "1", "b": "x" * 200})
    r.set("blob", b"\x00\x01" * 50_000)
    r.set("counter", 42)
    r.xadd("events", {"k": "v"})


@pytest.fixture(scope="module")
def saved(tmp_path_factory):  # type: ignore[no-untyped-def]
    """(live report, dump path, as_of, url, laravel cookie log)."""
    from sessdiag.cli import main as _main  # noqa: F401  (the CLI fixture imports it too)

    work = tmp_path_factory.mktemp("rdbscan")
    srv = rs.start(work, "--maxmemory-policy", "allkeys-lru")
    r = redis.Redis(port=srv.port)
    try:
        subprocess.run([sys.executable, "-c", DJANGO, srv.url,
                        "django.contrib.sessions.backends.cache"], check=True, timeout=120)
        _flask(srv.port)
        _noise(r)
        d = beego_real()
        for s in json.loads((d / "manifest.json").read_text())["sessions"]:
            if s["provider"] == "redis":
                r.set(s["sid"], (d / s["path"]).read_bytes(), ex=3600)
        for k in json.loads((REPO / "fixtures/laravel/redis/redis.json").read_text())["keys"]:
            r.set(k["key"], bytes.fromhex(k["value_hex"]), ex=k["ttl_s"] or None)
        for name in ("connect-redis", "php-redis", "rails", "flask-session-0.5"):
            replay(r, name)
        now = time.time()
        _spring(r, int(now * 1000))
        yield srv, now
    finally:
        r.close()
        srv.stop()


def _t(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _scan(cli, target: str, *args: str) -> dict:  # type: ignore[no-untyped-def]
    res = cli("scan", target, "--json", "--deep", *args)
    assert res.code == 0, res.err
    return res.json()


@pytest.mark.parametrize("args", [(), ("--pattern", "*")], ids=["classified", "pattern"])
def test_the_dump_reports_what_the_live_scan_reports(cli, saved, args):  # type: ignore[no-untyped-def]
    """Every profile: by key name (and the value, for keys no pattern names); with --pattern,
    what no pattern names is a `generic` session of any type (noise included)."""
    from sessdiag.stores.redis.profiles import PROFILES

    srv, _ = saved
    now = time.time()
    live = _scan(cli, srv.url, "--now", str(now), *args)
    took = time.time() - now  # the live scan reads each TTL somewhere in here
    redis.Redis(port=srv.port).save()
    dump = _scan(cli, str(srv.dir / "dump.rdb"), "--now", str(now), *args)
    assert dump["target"]["kind"] == "rdb" and dump["target"]["rdb_version"] == 10
    assert live["sessions"] > 80 and len(live["groups"]) >= 10
    lg = {(g["profile"], g["namespace"]): g for g in live["groups"]}
    dg = {(g["profile"], g["namespace"]): g for g in dump["groups"]}
    assert list(lg) == list(dg)  # same groups, same order
    every = set(PROFILES) - (set() if args else {"generic"})
    assert {p for p, _ns in lg} == every
    if args:  # the noise, every type of value, as generic sessions
        assert set(lg[("generic", "")]["formats"]) >= {"hash", "list", "set", "zset", "stream"}
    for key, a in lg.items():
        b = dg[key]
        assert set(a) == set(b), key
        for field in a:
            if field in WITHIN_A_SECOND and a[field] and b[field]:
                assert abs(_t(a[field]) - _t(b[field])) <= 1, (key, field)
            elif field == "lifetime_s" and a["lifetime_source"].startswith("largest TTL"):
                # the largest TTL, read live while the scan ran, in the dump as of `now`
                assert 0 <= b[field] - a[field] <= took + 1, (key, a[field], b[field])
            elif field not in ESTIMATED:
                assert a[field] == b[field], (key, field)
        assert set(a["examples"]) == set(b["examples"]), key
        for kind in a["examples"]:
            assert len(a["examples"][kind]) == len(b["examples"][kind]), (key, kind)
        if "companions" in a:
            for field, v in a["companions"].items():
                if field not in COMPANION_ESTIMATED:
                    assert v == b["companions"][field], (key, field)
        if a["allocated_bytes"]:
            # The estimate models MEMORY USAGE: within a quarter of it, group by group.
            assert abs(b["allocated_bytes"] - a["allocated_bytes"]) <= 0.25 * a[
                "allocated_bytes"], (key, a["allocated_bytes"], b["allocated_bytes"])
    for field in ("sessions", "bytes", "expired", "empty", "orphans", "no_ttl",
                  "age_histogram", "anomalies", "namespace_drift", "companion_no_ttl",
                  "max_lifetime_s", "generated_at"):
        assert live[field] == dump[field], field
    for field in ("keys_total", "keys_seen", "other_keys", "other_by_type", "other_prefixes"):
        assert live["keyspace"][field] == dump["keyspace"][field], field


def test_the_fast_path_reads_a_real_dump_as_the_general_path(cli, saved, monkeypatch):  # type: ignore[no-untyped-def]
    """Every profile's keys as Redis writes them, past a sample of one: the values the dump
    scan reads straight from its buffer (stores/rdb/fast.py) count as the parser's do."""
    from sessdiag.stores.rdb.keyspace import DumpScanner

    srv, now = saved
    redis.Redis(port=srv.port).save()
    dump = str(srv.dir / "dump.rdb")

    def scan() -> dict:
        res = cli("scan", dump, "--json", "--sample", "1", "--now", str(now))
        assert res.code == 0, res.err
        rep = res.json()
        for k in ("duration_s", "mb_per_s"):
            rep["scan"].pop(k)
        return rep

    fast = scan()
    monkeypatch.setattr(DumpScanner, "bind", lambda self, parser: None)
    assert scan() == fast
    assert fast["sessions"] > 80
