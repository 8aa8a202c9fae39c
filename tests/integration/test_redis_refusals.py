"""A Redis that refuses us (ACL without a command, password required, read-only replica) is
one condition with one answer in every command: exit 3, one line on stderr, no traceback.

Real servers: an ACL user of the suite's server, and private servers with `requirepass` and
as a replica.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis_servers as rs

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "fixtures" / "spring-healthy.yaml"
PASSWORD = "Refusal-pw-41"


def _assert_refused(res, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert res.code == 3, (res.code, res.err)
    lines = res.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sessdiag: error: "), res.err
    assert "Traceback" not in res.err and "internal error" not in res.err
    for w in words:
        assert w in lines[0], lines[0]
    assert PASSWORD not in res.err + res.out


def _every_command(cli, url: str, tmp_path: Path, *extra: str) -> dict:  # type: ignore[no-untyped-def]
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  max_sessions: 1000\n")
    return {
        "scan": cli("scan", url, "--json", *extra),
        "check": cli("check", url, "--policy", policy, *extra),
        "inspect": cli("inspect", url, "spring:session:sessions:" + "0" * 36, *extra),
        "clients": cli("clients", url, "--json", *extra),
        "fixtures": cli("fixtures", "make", url, "--spec", SPEC, *extra),
    }


@pytest.fixture
def acl_user(redis_server, redis_db) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A user that may connect and nothing else: every command we send is refused NOPERM."""
    url, _ = redis_db
    admin = redis.Redis(port=redis_server.port)
    admin.execute_command("ACL", "SETUSER", "refused", "reset", "on", f">{PASSWORD}", "~*",
                          "&*", "-@all", "+@connection")
    yield url.replace("redis://", "redis://refused@")
    admin.execute_command("ACL", "DELUSER", "refused")
    admin.close()


def test_acl_refusal_is_exit_3_everywhere(cli, acl_user, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SESSDIAG_TEST_PW", PASSWORD)
    for name, res in _every_command(cli, acl_user, tmp_path,
                                    "--password-env", "SESSDIAG_TEST_PW").items():
        assert res.code == 3, name
        _assert_refused(res, "refused")


def test_scan_refused_names_the_command(cli, redis_server, redis_db, monkeypatch):  # type: ignore[no-untyped-def]
    """Read-only except SCAN: the scan stops with what to grant, not an internal error."""
    url, _ = redis_db
    admin = redis.Redis(port=redis_server.port)
    admin.execute_command("ACL", "SETUSER", "noscan", "reset", "on", f">{PASSWORD}", "~*",
                          "&*", "-@all", "+@read", "+@connection", "+info", "+config|get",
                          "-scan")
    try:
        monkeypatch.setenv("SESSDIAG_TEST_PW", PASSWORD)
        res = cli("scan", url.replace("redis://", "redis://noscan@"), "--password-env",
                  "SESSDIAG_TEST_PW")
        _assert_refused(res, "SCAN", "NOPERM")
    finally:
        admin.execute_command("ACL", "DELUSER", "noscan")
        admin.close()


@pytest.fixture(scope="module")
def locked_server(redis_workdir) -> Iterator[rs.Server]:  # type: ignore[no-untyped-def]
    srv = rs.start(redis_workdir)  # its readiness check PINGs without a password
    rs._cmd(srv.port, "CONFIG", "SET", "requirepass", PASSWORD)
    yield srv
    srv.stop()


def test_password_required_is_exit_3_everywhere(cli, locked_server, tmp_path):  # type: ignore[no-untyped-def]
    for name, res in _every_command(cli, locked_server.url + "/0", tmp_path).items():
        assert res.code == 3, name
        _assert_refused(res, "NOAUTH")


def test_read_only_replica_is_exit_3_for_a_write(cli, redis_workdir, redis_server):  # type: ignore[no-untyped-def]
    replica = rs.start_replica(redis_workdir, redis_server)
    try:
        res = cli("fixtures", "make", replica.url + "/0", "--spec", SPEC)
        _assert_refused(res, "replica")
    finally:
        replica.stop()
