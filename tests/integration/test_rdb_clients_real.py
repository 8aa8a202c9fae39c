"""`clients dump.rdb --access-log …` on real frameworks' sessions: per-client orphans, and the
share of them still in the store, are exactly what the live store gives.

- Laravel: the committed capture of a real app (fixtures/laravel/redis: its Redis keys, its
  nginx log, what its clients recorded), loaded into a test-started redis-server and saved.
- Flask-Session: a real nginx in front of a real Flask app writing to a test-started
  redis-server, driven by tools/logapps/scenario.py; the server's own dump after the traffic.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import redis
import redis_servers as rs
from test_clients_real_laravel import CAPTURES, app_env, assert_clients_match

REPO = Path(__file__).resolve().parents[2]


def _clients(cli, target: object, *args: object) -> dict:  # type: ignore[no-untyped-def]
    res = cli("clients", target, "--access-log", *args, "--json")
    assert res.code == 0, res.err
    return res.json()


def _same_rows(live: dict, dump: dict) -> dict:
    """Every client row equal, the store share too (its memory figure is an estimate from
    the dump's encodings: within a quarter of MEMORY USAGE); the dump's rows by client."""
    a = {c["client"]: c for c in live["clients"]}
    b = {c["client"]: c for c in dump["clients"]}
    assert list(a) == list(b)  # same clients, same order
    for ip, x in a.items():
        y = b[ip]
        assert {k: v for k, v in x.items() if k != "store"} == \
            {k: v for k, v in y.items() if k != "store"}, ip
        if x["store"] is None:
            assert y["store"] is None, ip
            continue
        assert (y["store"]["orphans_in_store"], y["store"]["bytes"]) == \
            (x["store"]["orphans_in_store"], x["store"]["bytes"]), ip
        assert abs(y["store"]["allocated_bytes"] - x["store"]["allocated_bytes"]) <= \
            0.25 * x["store"]["allocated_bytes"], ip
    assert live["races"] == dump["races"]
    return b


def test_laravel_capture_per_client_orphans_from_the_dump(cli, tmp_path: Path):  # type: ignore[no-untyped-def]
    srv = rs.start(tmp_path)
    r = redis.Redis(port=srv.port)
    try:
        for k in json.loads((CAPTURES / "redis" / "redis.json").read_text())["keys"]:
            r.set(k["key"], bytes.fromhex(k["value_hex"]), ex=k["ttl_s"])
        r.save()
        args = (CAPTURES / "redis" / "access.log", "--app-env", app_env("redis"))
        live = _clients(cli, srv.url, *args)
    finally:
        r.close()
        srv.stop()
    dump = _clients(cli, srv.dir / "dump.rdb", *args)
    assert_clients_match(dump, "redis")  # what the capture's own clients recorded
    rows = _same_rows(live, dump)
    assert rows["127.0.0.5"]["store"]["orphans_in_store"] == 40


sys.path.insert(0, str(REPO / "tools" / "logapps"))
import harness  # noqa: E402
import scenario  # noqa: E402


@pytest.mark.skipif(not harness.have("nginx", "redis-server"),
                    reason="needs Debian's nginx and redis-server")
def test_flask_session_per_client_orphans_from_the_servers_dump(cli, tmp_path: Path):  # type: ignore[no-untyped-def]
    pytest.importorskip("flask_session")
    store = tmp_path / "redis"
    store.mkdir()
    server = harness.RedisServer(str(store))
    try:
        port = harness.free_port()
        app = harness.Proc([sys.executable, "-u", os.path.join(harness.HERE, "flask_app.py"),
                            str(port), server.url], "Running on", cwd=harness.HERE)
        try:
            log = tmp_path / "access.log"
            ngx = harness.Nginx(str(tmp_path), port, "session", str(log))
            try:
                truth = scenario.run("127.0.0.1", ngx.port, "session")
            finally:
                ngx.stop()
        finally:
            app.stop()
        r = redis.Redis(port=server.port)
        r.save()
        r.close()
        live = _clients(cli, server.url, log)
    finally:
        server.stop()
    dump = _clients(cli, store / "dump.rdb", log)
    rows = _same_rows(live, dump)
    exp = scenario.expected(truth)["clients"]
    assert {ip: (c["issued"], c["orphans"]) for ip, c in rows.items()} == \
        {ip: (e["issued"], e["orphans"]) for ip, e in exp.items()}
    machine = rows["127.0.0.5"]
    assert machine["orphans"] == scenario.MACHINE_CALLS
    # Flask-Session keeps what it wrote: every orphan of the machine client is in the dump
    assert machine["store"]["orphans_in_store"] == scenario.MACHINE_CALLS
