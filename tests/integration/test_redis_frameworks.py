"""Every framework's sessions as the framework itself wrote them, scanned on a real server.

- express-session + connect-redis, PHP + phpredis, Rails (Ruby Marshal), Flask-Session 0.5:
  committed captures made by tools/capture/run.py (fixtures/redis/*.json), replayed with the
  TTL they had;
- Flask-Session 0.8 (msgpack and JSON) and Django's cache backend: the libraries run here;
- beego: values written by real beego v1.12.3's redis provider (fixtures/beego-real).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parents[2]
CAPTURES = REPO / "fixtures" / "redis"


def beego_real() -> Path:
    return REPO / "fixtures" / "beego-real"


def replay(r: redis.Redis, name: str) -> list[dict]:
    doc = json.loads((CAPTURES / f"{name}.json").read_text())
    for k in doc["keys"]:
        v = bytes.fromhex(k["value_hex"])
        r.set(k["key"], v, ex=k["ttl_s"] if k["ttl_s"] > 0 else None)
    return doc["keys"]


def issued_at(keys: list[dict]) -> float:
    """When the capture ran: the last cookie express-session issued (expires - maxAge).

    Cookie-based ages and expiry count from that instant, so the scan is run "as of" it
    (--now) and the test does not start failing the day the captured cookies expire.
    """
    from datetime import datetime

    moments = []
    for k in keys:
        cookie = json.loads(bytes.fromhex(k["value_hex"]))["cookie"]
        if cookie.get("expires") and cookie.get("originalMaxAge"):
            exp = datetime.fromisoformat(cookie["expires"].replace("Z", "+00:00"))
            moments.append(exp.timestamp() - cookie["originalMaxAge"] / 1000)
    return max(moments)


def buckets(hist: list[dict]) -> list[int]:
    return [b["count"] for b in hist]


def by_group(rep: dict) -> dict[tuple[str, str], dict]:
    return {(g["profile"], g["namespace"]): g for g in rep["groups"]}


def test_captured_frameworks(cli, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    keys = {n: replay(r, n) for n in ("connect-redis", "php-redis", "rails",
                                      "flask-session-0.5")}
    r.set("cache:unrelated", "x")
    res = cli("scan", url, "--json", "--now", str(issued_at(keys["connect-redis"]) + 1))
    assert res.code == 0, res.err
    rep = res.json()
    g = by_group(rep)
    assert set(g) == {("connect-redis", "sess"), ("connect-redis", "myapp:sess"),
                      ("php-redis", "PHPREDIS_SESSION"), ("rails-session", "myapp:session"),
                      ("flask-session", "session")}
    assert rep["sessions"] == 10 + 2 + 6 + 6 + 5
    assert rep["keyspace"]["other_keys"] == 1

    def payload(name: str, prefix: str) -> int:
        return sum(len(k["value_hex"]) // 2 for k in keys[name] if k["key"].startswith(prefix))

    cr = g[("connect-redis", "sess")]
    # 6 cookieless requests (saveUninitialized defaults to true), 3 logins, 1 without maxAge.
    assert (cr["sessions"], cr["empty"], cr["orphans"], cr["no_ttl"]) == (10, 6, 6, 0)
    assert cr["bytes"] == payload("connect-redis", "sess:")
    assert buckets(cr["ttl_histogram"]) == [0, 0, 10, 0, 0, 0]
    assert cr["age_sources"] == {"cookie": 9, "ttl": 1} and cr["lifetime_s"] == 86400
    assert buckets(cr["age_histogram"]) == [10, 0, 0, 0, 0, 0]
    assert cr["undecodable"] == 0 and cr["expired"] == 0
    assert len(cr["orphan_timeline"]) == 1 and cr["orphan_timeline"][0]["count"] == 6
    assert g[("connect-redis", "myapp:sess")]["orphans"] == 2
    assert buckets(g[("connect-redis", "myapp:sess")]["ttl_histogram"]) == [0, 2, 0, 0, 0, 0]

    php = g[("php-redis", "PHPREDIS_SESSION")]
    assert (php["sessions"], php["empty"], php["orphans"], php["undecodable"]) == (6, 3, 3, 0)
    assert php["bytes"] == payload("php-redis", "PHPREDIS")
    assert php["lifetime_s"] == 1440 and php["age_source"] == "ttl"
    assert buckets(php["ttl_histogram"]) == [0, 6, 0, 0, 0, 0]
    assert php["formats"] == {"empty": 3, "php": 3}

    rails = g[("rails-session", "myapp:session")]
    assert (rails["sessions"], rails["empty"], rails["no_ttl"], rails["undecodable"]) == (
        6, 3, 1, 0)
    assert buckets(rails["ttl_histogram"]) == [0, 5, 0, 0, 0, 0]
    assert rails["lifetime_s"] == 3600  # no default: the largest TTL seen
    assert rails["age_sources"] == {"ttl": 5, "idle": 1}

    fl = g[("flask-session", "session")]
    # 0.5 saves {'_permanent': True} for every cookieless request.
    assert (fl["sessions"], fl["empty"], fl["orphans"]) == (5, 3, 3)
    assert fl["formats"] == {"pickle": 5} and fl["undecodable"] == 0
    assert buckets(fl["ttl_histogram"]) == [0, 0, 0, 0, 0, 5]  # 31 days
    assert fl["lifetime_s"] == 2678400

    drift = {d["framework"]: d for d in rep["namespace_drift"]}
    assert [n["namespace"] for n in drift["express-session/connect-redis"]["namespaces"]] == [
        "sess", "myapp:sess"]
    assert rep["no_ttl"] == 1


def test_inspect_captured(cli, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    keys = replay(r, "php-redis") + replay(r, "rails") + replay(r, "connect-redis")
    php = next(k["key"] for k in keys if k["value_hex"].startswith(b"uid|i:7".hex()))
    ins = cli("inspect", url, php, "--json").json()
    vals = {e["key"]["value"]: e["value"] for e in ins["entries"]}
    assert vals["uid"] == {"type": "int", "value": 7} and vals["admin"]["value"] is False
    assert ins["profile"] == "php-redis" and ins["ttl_s"] > 0
    # A bare PHP id is found under PHPREDIS_SESSION:.
    assert cli("inspect", url, php.split(":")[1], "--json").json()["key"] == php
    rails = next(k for k in keys if "2::" in k["key"] and len(k["value_hex"]) > 300)
    ins = cli("inspect", url, rails["key"], "--json").json()
    vals = {e["key"]["value"]: e["value"] for e in ins["entries"]}
    assert vals["user_id"]["type"] == "Integer" and vals["big"]["value"] == 2**70
    assert vals["warden.user.user.key"]["type"] == "Array" and vals["sym"]["type"] == "Symbol"
    assert ins["sid"] == rails["key"][rails["key"].rfind("2::"):]  # rack's private id, whole
    node = next(k for k in keys if b'"userId":"alice"'.hex() in k["value_hex"])
    ins = cli("inspect", url, node["key"], "--json").json()
    assert ins["profile"] == "connect-redis" and ins["original_max_age_s"] == 86400


def test_flask_session_08(cli, redis_db):  # type: ignore[no-untyped-def]
    import flask  # test extra: flask-session pulls it in
    from flask_session import Session

    url, _r = redis_db
    db = int(url.rsplit("/", 1)[1])
    port = int(url.split(":")[2].split("/")[0])
    for fmt in ("msgpack", "json"):
        app = flask.Flask(f"app_{fmt}")
        app.config.update(SESSION_TYPE="redis", SECRET_KEY="k",
                          SESSION_REDIS=redis.Redis(port=port, db=db),
                          SESSION_SERIALIZATION_FORMAT=fmt)
        Session(app)

        @app.get("/")
        def index():  # type: ignore[no-untyped-def]
            return "ok"

        @app.get("/login/<u>")
        def login(u):  # type: ignore[no-untyped-def]
            flask.session["user_id"] = u
            return "in"
        for _ in range(3):
            app.test_client().get("/")  # 0.6+: an otherwise empty session is not stored
        for u in ("alice", "bob"):
            app.test_client().get(f"/login/{u}")
    rep = cli("scan", url, "--json", "--deep").json()
    (g,) = rep["groups"]
    assert (g["profile"], g["namespace"]) == ("flask-session", "session")
    assert g["sessions"] == 4 and g["empty"] == 0 and g["undecodable"] == 0
    assert g["formats"] == {"msgpack": 2, "json": 2}
    assert buckets(g["ttl_histogram"]) == [0, 0, 0, 0, 0, 4]
    assert g["principals"]["count"] == 2


DJANGO = textwrap.dedent("""
    import sys
    import django
    from django.conf import settings
    settings.configure(
        SECRET_KEY="capture", INSTALLED_APPS=["django.contrib.sessions"],
        CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                            "LOCATION": sys.argv[1]}},
        SESSION_ENGINE=sys.argv[2])
    django.setup()
    from importlib import import_module
    Store = import_module(sys.argv[2]).SessionStore
    for uid in ("1", "2", "3"):
        s = Store()
        s["_auth_user_id"] = uid
        s["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        s.save()
    s = Store()
    s.create()  # an explicit create() stores an empty session
""")


def test_django_cache_sessions(cli, redis_db):  # type: ignore[no-untyped-def]
    url, _r = redis_db
    subprocess.run([sys.executable, "-c", DJANGO, url,
                    "django.contrib.sessions.backends.cache"], check=True, timeout=60)
    rep = cli("scan", url, "--json").json()
    (g,) = rep["groups"]
    assert (g["profile"], g["namespace"]) == ("django-cache", ":1:django.contrib.sessions.cache")
    assert g["sessions"] == 4 and g["empty"] == 1 and g["orphans"] == 1
    assert g["formats"] == {"pickle": 4} and g["undecodable"] == 0
    assert g["lifetime_s"] == 1209600 and buckets(g["ttl_histogram"]) == [0, 0, 0, 0, 4, 0]
    assert g["principals"]["count"] == 3


def test_beego_redis_real_values(cli, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    d = beego_real()
    manifest = json.loads((d / "manifest.json").read_text())
    rows = [s for s in manifest["sessions"] if s["provider"] == "redis"]
    assert rows, "beego-real holds redis sessions"
    for s in rows:
        r.set(s["sid"], (d / s["path"]).read_bytes(), ex=3600)
    now = time.time()
    rep = cli("scan", url, "--json", "--now", str(now), "--deep").json()
    (g,) = rep["groups"]
    assert (g["profile"], g["namespace"]) == ("beego-redis", "")
    assert g["sessions"] == len(rows) and g["undecodable"] == 0
    assert g["empty"] == sum(1 for s in rows if s["num_keys"] == 0) == 1
    assert g["bytes"] == sum(s["size"] for s in rows)
    assert g["lifetime_s"] == 3600 and buckets(g["age_histogram"]) == [len(rows), 0, 0, 0, 0, 0]
    sid = next(s["sid"] for s in rows if s["name"] == "casdoor_login")
    ins = cli("inspect", url, sid, "--json").json()
    assert ins["profile"] == "beego-redis" and ins["entries"]
