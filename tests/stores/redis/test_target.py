"""Redis URLs: every form the contract names, credentials kept out of every rendering."""

from __future__ import annotations

import pytest

from sessdiag.core.errors import UsageError
from sessdiag.stores.redis.target import parse_target


def test_forms() -> None:
    t = parse_target("redis://h.example:6380/3")
    assert (t.scheme, t.host, t.port, t.db, t.password) == ("redis", "h.example", 6380, 3, None)
    assert t.location == "redis://h.example:6380/3"
    assert parse_target("redis://10.0.0.1").location == "redis://10.0.0.1:6379/0"
    t = parse_target("rediss://u:p%40ss@h:7000/1?ssl_cert_reqs=none")
    assert (t.username, t.password, t.tls_verify, t.db) == ("u", "p@ss", False, 1)
    assert t.location == "rediss://h:7000/1"
    t = parse_target("unix:///run/redis.sock?db=4")
    assert (t.path, t.db, t.location) == ("/run/redis.sock", 4, "unix:///run/redis.sock?db=4")
    assert parse_target("redis://:only-pw@h/0").password == "only-pw"
    assert parse_target("redis://[::1]:6390/0").host == "::1"


def test_password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPW", "from-env")
    t = parse_target("redis://user@h/0", "RPW")
    assert (t.username, t.password) == ("user", "from-env")
    assert "from-env" not in repr(t) and "from-env" not in t.location
    with pytest.raises(UsageError, match="NOPE"):
        parse_target("redis://h/0", "NOPE")


@pytest.mark.parametrize("url", ["redis://h:99999/0", "redis://h/x", "redis:///0",
                                 "unix://", "http://h/0", "redis://a b/0",
                                 "redis://u:topsecret@h:99999/0"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(UsageError) as exc:
        parse_target(url)
    assert "topsecret" not in str(exc.value)
