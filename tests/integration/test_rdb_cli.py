"""The commands on a dump: clients (access logs joined to the dump's sessions, as for the live
store), check, inspect, .gz and standard input, --as-of, and bad dumps as one-line errors."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import redis_servers as rs
from test_redis_clients import line
from test_redis_frameworks import replay

REPO = Path(__file__).resolve().parents[2]
V12 = REPO / "fixtures" / "rdb" / "v12.rdb"


@pytest.fixture(scope="module")
def connect_dump(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A private server holding the connect-redis capture, and its dump."""
    work = tmp_path_factory.mktemp("rdbcli")
    srv = rs.start(work)
    r = redis.Redis(port=srv.port)
    try:
        keys = replay(r, "connect-redis")
        r.save()
        yield srv, srv.dir / "dump.rdb", keys
    finally:
        r.close()
        srv.stop()


def test_clients_joins_log_orphans_to_the_dump_as_to_the_live_store(cli, connect_dump,  # type: ignore[no-untyped-def]
                                                                    tmp_path: Path):
    srv, dump, keys = connect_dump
    plain = [k for k in keys if k["key"].startswith("sess:")]
    ids = [k["key"].split(":", 1)[1] for k in plain]
    machine, browser = ids[:3], ids[3]
    log = tmp_path / "access.log"
    rows = [line("127.0.0.5", i, set_cookie=f"connect.sid=s%3A{sid}.sig{i}; Path=/; HttpOnly")
            for i, sid in enumerate([*machine, "x" * 32])]
    rows.append(line("127.0.0.2", 10, set_cookie=f"connect.sid=s%3A{browser}.sig; Path=/"))
    rows.append(line("127.0.0.2", 11, cookie=f"s%3A{browser}.sig"))
    log.write_text("".join(rows))
    got = {}
    for target in (srv.url, dump):
        res = cli("clients", target, "--access-log", log, "--json")
        assert res.code == 0, res.err
        got[str(target)] = {c["client"]: c for c in res.json()["clients"]}
    live, off = got[srv.url], got[str(dump)]
    sizes = {k["key"].split(":", 1)[1]: len(k["value_hex"]) // 2 for k in plain}
    m = off["127.0.0.5"]
    assert (m["issued"], m["orphans"]) == (4, 4)
    assert m["store"]["orphans_in_store"] == live["127.0.0.5"]["store"]["orphans_in_store"] == 3
    assert m["store"]["bytes"] == live["127.0.0.5"]["store"]["bytes"] == sum(
        sizes[s] for s in machine)
    assert m["store"]["allocated_bytes"] >= m["store"]["bytes"]
    assert off["127.0.0.2"]["orphans"] == 0 and off["127.0.0.2"]["store"] is None


def test_check_a_dump_against_a_policy(cli, connect_dump, tmp_path: Path):  # type: ignore[no-untyped-def]
    _srv, dump, _keys = connect_dump
    pol = tmp_path / "p.yaml"
    pol.write_text("rules:\n  max_sessions: 5\n  allowed_namespaces: [sess, myapp:sess]\n")
    res = cli("check", dump, "--policy", pol, "--json")
    assert res.code == 1, res.err
    out = res.json()
    failed = [r["rule"] for t in out["targets"] for r in t["results"] if r["status"] == "fail"]
    assert failed == ["max_sessions"]


def test_inspect_a_key_of_a_dump(cli, connect_dump):  # type: ignore[no-untyped-def]
    _srv, dump, keys = connect_dump
    node = next(k for k in keys if b'"userId":"alice"'.hex() in k["value_hex"])
    res = cli("inspect", dump, node["key"], "--json")
    assert res.code == 0, res.err
    ins = res.json()
    assert ins["profile"] == "connect-redis" and ins["original_max_age_s"] == 86400
    assert ins["key"] == node["key"] and ins["as_of"]
    res = cli("inspect", dump, "sess:nosuchkey")
    assert res.code == 2 and "no key 'sess:nosuchkey'" in res.err


def _sessdiag(*args: str, data: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sessdiag", *args], input=data,
                          capture_output=True, timeout=120)


def test_gzip_and_standard_input(tmp_path: Path):
    import json

    raw = V12.read_bytes()
    gz = tmp_path / "dump.rdb.gz"
    gz.write_bytes(gzip.compress(raw))
    reports = [json.loads(_sessdiag("scan", str(V12), "--json").stdout),
               json.loads(_sessdiag("scan", str(gz), "--json").stdout),
               json.loads(_sessdiag("scan", "-", "--json", data=raw).stdout),
               json.loads(_sessdiag("scan", "-", "--json", data=gzip.compress(raw)).stdout)]
    assert [r["target"]["compressed"] for r in reports] == [False, True, False, True]
    assert reports[2]["target"]["location"] == "(standard input)"
    for r in reports[1:]:
        assert r["groups"] == reports[0]["groups"]
    res = _sessdiag("inspect", "-", "x", data=raw)
    assert res.returncode == 2 and b"not standard input" in res.stderr
    res = _sessdiag("scan", "-", "--access-log", "-", data=raw)
    assert res.returncode == 2 and b"not both" in res.stderr


def test_as_of(cli):  # type: ignore[no-untyped-def]
    late = cli("scan", V12, "--json", "--as-of", "2038-01-01T00:00:00Z").json()
    assert late["target"]["as_of"] == "2038-01-01T00:00:00Z"
    assert late["dump"]["keys_past_expiry"] > 0
    assert cli("scan", V12, "--json", "--as-of", "1790000000").json()["target"]["as_of"] == \
        "2026-09-21T14:13:20Z"
    res = cli("scan", V12, "--as-of", "soon")
    assert res.code == 2 and "--as-of 'soon'" in res.err


@pytest.mark.parametrize(("data", "message"), [
    (V12.read_bytes()[:700], "the dump ends inside a record (at byte 700)"),
    (b"REDIS0013" + V12.read_bytes()[9:], "RDB version 13 is not one this reader knows"),
    (gzip.compress(V12.read_bytes())[:300], "compressed dump is cut short or corrupt"),
])
def test_bad_dumps_are_one_line_exit_2(tmp_path: Path, data: bytes, message: str):
    p = tmp_path / ("bad.rdb.gz" if data[:2] == b"\x1f\x8b" else "bad.rdb")
    p.write_bytes(data)
    res = _sessdiag("scan", str(p))
    err = res.stderr.decode()
    assert res.returncode == 2, err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_the_terminal_view_of_a_dump(cli):  # type: ignore[no-untyped-def]
    res = cli("scan", V12)
    assert res.code == 0, res.err
    assert "Redis dump" in res.out and "RDB 12" in res.out and "ctime aux field" in res.out
