"""Read-only ACL users, degraded permissions, secrets kept out of output, hostile values,
exit codes and the command-rate cap, against a real server."""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
import uuid

import pytest
import redis
from spring_data import SpringWriter, vector

PASSWORD = "s3cret-P@ss-Zq9"
READ_ONLY = ["-@all", "+@read", "+@connection", "+info", "+config|get"]


def _user(admin: redis.Redis, name: str, rules: list[str]) -> None:
    admin.execute_command("ACL", "SETUSER", name, "reset", "on", f">{PASSWORD}", "~*", "&*",
                          *rules)


@pytest.fixture
def admin(redis_server):  # type: ignore[no-untyped-def]
    a = redis.Redis(port=redis_server.port)
    yield a
    for u in ("scanner", "nomem", "noconf"):
        a.execute_command("ACL", "DELUSER", u)
    a.close()


@pytest.fixture
def small_keyspace(redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    now_ms = int(time.time() * 1000)
    w = SpringWriter(r)
    for i in range(6):
        w.session(now_ms, now_ms - 1000, now_ms - 1000 if i < 2 else now_ms)
    r.set("PHPREDIS_SESSION:" + "a" * 26, b"", ex=1440)
    r.set("sess:" + "b" * 32, b'{"cookie":{"originalMaxAge":1000,"expires":null}}')  # no TTL
    return url, r


def _authed(url: str, user: str) -> str:
    return url.replace("redis://", f"redis://{user}@")


def test_read_only_acl_user(cli, admin, small_keyspace, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    url, _ = small_keyspace
    _user(admin, "scanner", READ_ONLY)
    admin.execute_command("ACL", "LOG", "RESET")
    monkeypatch.setenv("SESSDIAG_TEST_PW", PASSWORD)
    out = tmp_path / "report.json"
    res = cli("scan", _authed(url, "scanner"), "--password-env", "SESSDIAG_TEST_PW", "--json",
              "--output", out, "--deep")
    assert res.code == 0, res.err
    rep = res.json()
    assert rep["sessions"] == 8 and rep["allocated_bytes"] > 0
    assert rep["groups"][0]["companions"]["shadow_keys"] == 6
    # Nothing was refused: the scan never even tried a command outside +@read.
    assert admin.execute_command("ACL", "LOG") == []
    assert rep["target"]["location"] == url and "scanner" not in res.out
    for text in (res.out, res.err, out.read_text()):
        assert PASSWORD not in text
    view = cli("scan", _authed(url, "scanner"), "--password-env", "SESSDIAG_TEST_PW")
    assert view.code == 0 and PASSWORD not in view.out + view.err


def test_password_in_url_never_shown(cli, admin, small_keyspace):  # type: ignore[no-untyped-def]
    url, _ = small_keyspace
    _user(admin, "scanner", READ_ONLY)
    with_pw = url.replace("redis://", f"redis://scanner:{PASSWORD.replace('@', '%40')}@")
    res = cli("scan", with_pw, "--json")
    assert res.code == 0, res.err
    assert PASSWORD not in res.out and "%40" not in res.out
    bad = url.replace("redis://", "redis://scanner:wrong-Secret-77@")
    res = cli("scan", bad, "--json")
    assert res.code == 3 and "authentication failed" in res.err
    assert "wrong-Secret-77" not in res.err + res.out
    # Errors that echo the URL (bad port) drop the credentials too.
    res = cli("scan", f"redis://scanner:{PASSWORD}@127.0.0.1:99999/0")
    assert res.code == 2 and PASSWORD not in res.err


def test_memory_usage_and_config_denied_degrade(cli, admin, small_keyspace, monkeypatch):  # type: ignore[no-untyped-def]
    url, _ = small_keyspace
    monkeypatch.setenv("SESSDIAG_TEST_PW", PASSWORD)
    _user(admin, "nomem", [*READ_ONLY, "-memory"])
    res = cli("scan", _authed(url, "nomem"), "--password-env", "SESSDIAG_TEST_PW", "--json")
    assert res.code == 0, res.err
    rep = res.json()
    assert rep["allocated_bytes"] is None and rep["sessions"] == 8
    assert any("MEMORY USAGE refused" in w for w in rep["warnings"])
    _user(admin, "noconf", ["-@all", "+@read", "+@connection", "+info"])
    rep = cli("scan", _authed(url, "noconf"), "--password-env", "SESSDIAG_TEST_PW",
              "--json").json()
    assert rep["server"]["notify_keyspace_events"] is None
    assert any("CONFIG GET refused" in w for w in rep["warnings"])
    assert rep["sessions"] == 8


def test_exit_codes(cli, redis_server, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    assert cli("scan", f"redis://127.0.0.1:{closed}/0").code == 3
    assert cli("scan", f"unix://{tmp_path}/nope.sock").code == 3
    assert cli("scan", "redis://127.0.0.1:99999/0").code == 2
    assert cli("scan", f"{redis_server.url}/notadb").code == 2
    assert cli("scan", redis_server.url, "--profile", "beego-file").code == 2
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    res = cli("scan", redis_server.url, "--password-env", "NO_SUCH_VAR")
    assert res.code == 2 and "NO_SUCH_VAR" in res.err
    assert cli("inspect", redis_server.url).code == 2


def test_unix_socket_target(cli, redis_workdir, tmp_path):  # type: ignore[no-untyped-def]
    import redis_servers as rs

    sock = tmp_path / "r.sock"
    srv = rs.start(redis_workdir, "--unixsocket", str(sock), "--unixsocketperm", "700")
    try:
        redis.Redis(unix_socket_path=str(sock), db=2).set("PHPREDIS_SESSION:" + "c" * 26,
                                                           b"a|i:1;", ex=100)
        res = cli("scan", f"unix://{sock}?db=2", "--json")
        assert res.code == 0, res.err
        rep = res.json()
        assert rep["target"]["location"] == f"unix://{sock}?db=2" and rep["sessions"] == 1
    finally:
        srv.stop()


def test_hostile_values_are_undecodable_and_inert(cli, redis_db, tmp_path):  # type: ignore[no-untyped-def]
    url, r = redis_db
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            import os
            return (os.system, (f"touch {marker}",))
    payload = pickle.dumps({"_permanent": True, "x": Exploit()}, protocol=4)
    now_ms = int(time.time() * 1000)
    w = SpringWriter(r)
    for name in ("gadget_invoker_transformer", "dynamic_proxy", "nested_1000"):
        w.session(now_ms, now_ms, now_ms, attrs={"evil": vector(name)})
    w.session(now_ms, now_ms, now_ms, attrs={"cut": vector("user_object")[:-7]})
    r.set(f"session:{uuid.uuid4()}", payload, ex=600)  # Flask-Session ≤ 0.5 key
    r.set(f"session:{'A' * 43}", b"\x81\xa1a\xdb\xff\xff\xff\xff", ex=600)  # msgpack str32
    r.set("PHPREDIS_SESSION:" + "d" * 26, b'a|s:999999999:"x";', ex=600)
    r.set("myapp:session:2::" + "e" * 64, b"\x04\x08[\x04\xff\xff\xff\x7f", ex=600)
    r.set("sess:" + "f" * 32, b"[" * 30_000 + b"]" * 30_000, ex=600)  # under the 64 KiB read
    r.set("0" * 32, bytes.fromhex("0eff81040102ff8200011001100000"), ex=600)  # truncated gob
    t0 = time.monotonic()
    res = cli("scan", url, "--json", "--deep")
    assert res.code == 0, res.err
    assert time.monotonic() - t0 < 20
    rep = res.json()
    assert not marker.exists()
    g = {(x["profile"], x["namespace"]): x for x in rep["groups"]}
    sp = g[("spring-session", "spring:session")]
    assert sp["sessions"] == 4 and sp["undecodable"] == 4
    reasons = " | ".join(sp["undecodable_reasons"])
    assert "gadget class org.apache.commons.collections.functors.InvokerTransformer" in reasons
    assert "dynamic proxy" in reasons and "nesting too deep" in reasons
    fl = g[("flask-session", "session")]
    assert fl["sessions"] == 2 and fl["undecodable"] == 2
    assert any("would call posix.system" in k or "would call os.system" in k
               for k in fl["undecodable_reasons"])
    for key in (("php-redis", "PHPREDIS_SESSION"), ("rails-session", "myapp:session"),
                ("connect-redis", "sess"), ("beego-redis", "")):
        assert g[key]["sessions"] == 1 and g[key]["undecodable"] == 1, key
    assert rep["anomalies"]["undecodable"] == 4 + 2 + 4
    assert any("would run code when deserialized" in f for f in rep["findings"])
    # inspect refuses the same values without running them.
    key = next(k.decode() for k in r.scan_iter("session:*-*"))
    assert cli("inspect", url, key).code == 2
    assert not marker.exists()
    # Control: the payload is live — unpickling it in a throwaway process does run it.
    loads = "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"
    subprocess.run([sys.executable, "-c", loads], input=payload, check=True, timeout=30)
    assert marker.exists()


def test_rate_cap(cli, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    p = r.pipeline()
    for i in range(600):
        p.set(f"PHPREDIS_SESSION:{i:026d}", b"uid|i:1;", ex=1000)
    p.execute()
    rate = 2000
    rep = cli("scan", url, "--json", "--rate", str(rate), "--sample", "0").json()
    sc = rep["scan"]
    assert rep["sessions"] == 600
    assert sc["commands"] >= 1200
    assert abs(sc["commands"] / sc["duration_s"] / rate - 1) < 0.10
    assert sc["rate_limit"] == rate
