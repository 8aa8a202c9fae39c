"""`clients` on Redis stores: log orphans joined with the keys still there, and attribution
by payload attributes — against a real redis-server holding real framework values."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from spring_data import SpringWriter, jstring
from test_redis_frameworks import replay

from sessdiag.stores.redis.clients import session_key

T = "22/Nov/2026:02:50:{:02d} +0000"


def line(ip: str, sec: int, cookie: str = "-", set_cookie: str = "-") -> str:
    return (f'{ip} - - [{T.format(sec)}] "GET / HTTP/1.1" 200 22 "-" "ua/1.0" '
            f'"{cookie}" "{set_cookie}"\n')


def test_connect_redis_orphans_found_in_the_store(cli, redis_db, tmp_path: Path):  # type: ignore[no-untyped-def]
    url, r = redis_db
    keys = replay(r, "connect-redis")
    plain = [k for k in keys if k["key"].startswith("sess:")]
    ids = [k["key"].split(":", 1)[1] for k in plain]
    machine, browser = ids[:3], ids[3]
    gone = "x" * 32  # issued, then expired or destroyed: not in the store any more
    log = tmp_path / "access.log"
    rows = [line("127.0.0.5", i, set_cookie=f"connect.sid=s%3A{sid}.sig{i}; Path=/; HttpOnly")
            for i, sid in enumerate([*machine, gone])]
    rows.append(line("127.0.0.2", 10, set_cookie=f"connect.sid=s%3A{browser}.sig; Path=/"))
    rows.append(line("127.0.0.2", 11, cookie=f"s%3A{browser}.sig"))
    log.write_text("".join(rows))

    res = cli("clients", url, "--access-log", log, "--json")
    assert res.code == 0, res.err
    got = {c["client"]: c for c in res.json()["clients"]}
    m = got["127.0.0.5"]
    assert (m["issued"], m["orphans"]) == (4, 4)
    sizes = {k["key"].split(":", 1)[1]: len(k["value_hex"]) // 2 for k in plain}
    assert m["store"]["orphans_in_store"] == 3
    assert m["store"]["bytes"] == sum(sizes[s] for s in machine)
    assert m["store"]["method"] == "exact"
    assert m["store"]["allocated_bytes"] >= m["store"]["bytes"]  # MEMORY USAGE per key
    assert got["127.0.0.2"]["orphans"] == 0 and got["127.0.0.2"]["store"] is None


def test_connect_redis_by_payload_attribute(cli, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    keys = replay(r, "connect-redis")
    want: dict[str, int] = {}
    plain = 0
    for k in keys:
        if not k["key"].startswith("sess:"):
            continue
        plain += 1
        user = json.loads(bytes.fromhex(k["value_hex"])).get("userId")
        if user is not None:
            want[f"userId={user}"] = want.get(f"userId={user}", 0) + 1
    res = cli("clients", url, "--client-attr", "userId", "--json")
    assert res.code == 0, res.err
    rows = {c["client"]: c for c in res.json()["clients"]}
    named = {k: v["sessions"] for k, v in rows.items() if k.startswith("userId=")}
    assert named == want and want
    un = rows["(unattributed)"]
    # both namespaces (sess and myapp:sess) are read; every session is counted once
    assert sum(named.values()) + un["sessions"] == len(keys)
    assert un["orphans"] >= 1 and un["undecodable"] == 0


def test_spring_session_cookie_and_principal(cli, redis_db, tmp_path: Path):  # type: ignore[no-untyped-def]
    url, r = redis_db
    w = SpringWriter(r)
    now = int(time.time() * 1000)
    bots = [w.session(now, now, now) for _ in range(3)]  # created, never used again
    alice = w.session(now, now - 60_000, now, principal="alice",
                      attrs={"username": jstring("alice")})
    bob = w.session(now, now - 60_000, now, principal="bob",
                    attrs={"username": jstring("bob")})
    assert session_key("spring-session", "spring:session", bots[0]).decode() == \
        f"spring:session:sessions:{bots[0]}"
    cookie = [base64.urlsafe_b64encode(s.encode()).decode() for s in bots]
    log = tmp_path / "access.log"
    log.write_text("".join(line("10.1.1.1", i, set_cookie=f"SESSION={c}; Path=/; HttpOnly")
                           for i, c in enumerate(cookie)))
    res = cli("clients", url, "--access-log", log, "--json")
    assert res.code == 0, res.err
    row = res.json()["clients"][0]
    assert row["client"] == "10.1.1.1" and row["orphans"] == 3
    assert row["store"]["orphans_in_store"] == 3
    sizes = [sum(len(k) + len(v) for k, v in r.hgetall(f"spring:session:sessions:{s}").items())
             for s in bots]
    assert row["store"]["bytes"] == sum(sizes)

    for attr in ("username", "principal"):
        res = cli("clients", url, "--client-attr", attr, "--json")
        assert res.code == 0, res.err
        rows = {c["client"]: c["sessions"] for c in res.json()["clients"]}
        assert rows == {f"{attr}=alice": 1, f"{attr}=bob": 1, "(unattributed)": 3}, attr
    assert alice != bob


def test_inspect_tells_indexed_from_simple_spring(cli, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    now = int(time.time() * 1000)
    indexed = SpringWriter(r).session(now, now, now)
    simple = SpringWriter(r, ns="myapp", indexed=False).session(now, now, now)
    a = cli("inspect", url, f"spring:session:sessions:{indexed}", "--json").json()
    b = cli("inspect", url, f"myapp:sessions:{simple}", "--json").json()
    assert (a["profile"], a["sid"]) == ("spring-session", indexed)
    assert (b["profile"], b["sid"]) == ("spring-session-simple", simple)
