"""Live: real nginx + Flask with Flask-Session on a private Redis.

Flask-Session (>= 0.6) keeps no session for a visitor whose session stays empty, and only
writes one when the app puts something in it: a machine client on `/` (which stores a CSRF
token) leaves one orphan per call, the read-only `/info` never creates one, so the
concurrent /login + /info of incident 2 cannot race here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from minters_truth import assert_minters_match

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools" / "logapps"))

import harness  # noqa: E402
import scenario  # noqa: E402

pytest.importorskip("flask_session")
pytestmark = pytest.mark.skipif(not harness.have("nginx", "redis-server"),
                                reason="needs Debian's nginx and redis-server")


def test_flask_session_orphans_per_client(cli, tmp_path):
    redis = harness.RedisServer(str(tmp_path))
    try:
        port = harness.free_port()
        app = harness.Proc([sys.executable, "-u", os.path.join(harness.HERE, "flask_app.py"),
                            str(port), redis.url], "Running on", cwd=harness.HERE)
        try:
            log = tmp_path / "access.log"
            ngx = harness.Nginx(str(tmp_path), port, "session", str(log))
            try:
                truth = scenario.run("127.0.0.1", ngx.port, "session")
            finally:
                ngx.stop()
        finally:
            app.stop()
        # the same logs with the Redis store as the target: attribution works the same
        # (the store share of Redis orphans waits for the Redis store's lookup hook)
        on_redis = cli("scan", redis.url, "--access-log", log, "--json")
    finally:
        redis.stop()
    exp = scenario.expected(truth)
    c = exp["clients"]
    assert c["127.0.0.5"]["orphans"] == scenario.MACHINE_CALLS
    assert [c[f"127.0.0.{i}"]["orphans"] for i in (2, 3, 4, 9, 10)] == [0] * 5
    assert exp["races"] == []

    res = cli("clients", "--access-log", log, "--json")
    assert res.code == 0, res.err
    r = res.json()
    assert r["access_log"]["cookie_name"] == "session"
    got = {x["client"]: x for x in r["clients"]}
    for ip, e in c.items():
        g = got[ip]
        assert (g["requests"], g["requests_without_cookie"], g["issued"], g["orphans"]) == \
            (e["requests"], e["requests_without_cookie"], e["issued"], e["orphans"]), ip
    assert r["races"] == []
    assert_minters_match(r, exp)
    assert on_redis.code == 0, on_redis.err
    rr = on_redis.json()
    assert rr["target"]["kind"] == "redis"
    assert {x["client"]: x["orphans"] for x in rr["clients"]} == \
        {x["client"]: x["orphans"] for x in r["clients"]}
