"""Spring Session on a real redis-server: exact counts, TTL buckets, ages, never-reused,
companion-key forensics and namespace drift."""

from __future__ import annotations

import time
import uuid

import pytest
from spring_data import SpringWriter, vector

MIN = 60_000


def bucket(hist: list[dict]) -> list[int]:
    return [b["count"] for b in hist]


@pytest.fixture
def spring_keyspace(redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    now = time.time()
    now_ms = int(now * 1000)
    w = SpringWriter(r)
    user = vector("user_object")
    # 10 never reused: one request, 10 minutes ago.
    for _ in range(10):
        t = now_ms - 10 * MIN
        w.session(now_ms, t, t)
    # 5 reused, with a principal and an application object; created 2 days ago.
    alive_alice = None
    for i in range(5):
        p = "alice" if i < 2 else f"user{i}"
        sid = w.session(now_ms, now_ms - 2 * 86400_000, now_ms - 5 * MIN, principal=p,
                        attrs={"user": user})
        alive_alice = alive_alice or sid
    # 3 past maxInactiveInterval and still present (the +5 min of the indexed repository).
    for _ in range(3):
        w.session(now_ms, now_ms - 2000_000 - 100_000, now_ms - 2000_000)
    # 2 that never expire (maxInactiveInterval < 0: hash and shadow key are PERSISTed).
    for _ in range(2):
        w.session(now_ms, now_ms - 10 * 86400_000 - 1000_000, now_ms - 10 * 86400_000,
                  max_inactive=-1)
    # Leftovers: shadow keys whose session is gone, stale expiration buckets, dead index entries.
    for _ in range(4):
        w.orphan_shadow()
    minute = (now_ms // MIN + 31) * MIN
    w.expirations(minute, w.ids[:10], ttl_s=2100)
    w.expirations(minute + MIN, w.ids[10:12], ttl_s=None)  # spring-session #3477
    w.expirations(now_ms // MIN * MIN - 60 * MIN, [str(uuid.uuid4())], ttl_s=None)  # past
    w.index_member("alice", str(uuid.uuid4()))
    w.index_member("bob", str(uuid.uuid4()))
    return url, now, w


def test_indexed_exact(cli, spring_keyspace):  # type: ignore[no-untyped-def]
    url, now, _ = spring_keyspace
    res = cli("scan", url, "--json", "--now", str(now))
    assert res.code == 0, res.err
    r = res.json()
    assert r["schema"] == "sessdiag.scan/1"
    assert r["target"]["kind"] == "redis" and r["target"]["profile"] == "spring-session"
    assert r["gc_estimate"] is None and r["clients"] == []
    (g,) = r["groups"]
    assert (g["profile"], g["namespace"]) == ("spring-session", "spring:session")
    assert g["sessions"] == r["sessions"] == 20
    assert g["orphans"] == 10 and g["empty"] == 15 and g["expired"] == 3 and g["no_ttl"] == 2
    assert bucket(g["ttl_histogram"]) == [0, 18, 0, 0, 0, 0]
    # Ages since last access: 600 s, 300 s, 2000 s all ≤ 1 h; 10 days ≤ 30 d.
    assert bucket(r["age_histogram"]) == [18, 0, 0, 2, 0, 0]
    assert bucket(g["created_histogram"]) == [13, 0, 5, 2, 0, 0]
    assert g["age_source"] == "recorded" and g["lifetime_s"] == 1800
    assert g["formats"] == {"jdk": 20}
    assert g["undecodable"] == 0 and g["decoded"] == 20
    assert g["allocated_sample"] == 20 and g["allocated_bytes"] > g["bytes"] > 0
    c = g["companions"]
    assert c["repository"] == "indexed"
    # The 3 expired sessions' shadow keys have expired already (as in Spring), 4 are orphans.
    assert c["shadow_keys"] == 10 + 5 + 2 + 4 and c["shadow_keys_no_ttl"] == 2
    assert c["shadow_keys_without_session"] == 4
    assert (c["expirations_sets"], c["expirations_no_ttl"], c["expirations_past"]) == (3, 2, 1)
    assert c["expirations_members"] == 13
    # alice: 2 live + 1 dead, user2..4: live, bob: 1 dead.
    assert c["index_sets"] == 5 and c["index_members"] == 7
    assert c["index_members_dead"] == 2 and c["index_dead_method"] == "every member checked"
    text = "\n".join(r["findings"])
    assert "10 of 20 sessions (50%) are never reused" in text
    assert "#3477" in text and "4 shadow 'expires' keys have no session" in text
    assert "notify-keyspace-events 'Egx'" in text
    assert "≈2 of 7 principal-index entries" in text


def test_notify_keyspace_events_set_and_terminal_view(cli, spring_keyspace, redis_server):  # type: ignore[no-untyped-def]
    import redis

    url, now, _ = spring_keyspace
    admin = redis.Redis(port=redis_server.port)
    admin.config_set("notify-keyspace-events", "Egx")
    try:
        r = cli("scan", url, "--json", "--now", str(now)).json()
        assert r["server"]["notify_keyspace_events"] in ("gxE", "Egx", "xgE", "gEx")
        assert not any("notify-keyspace-events" in f for f in r["findings"])
        view = cli("scan", url, "--now", str(now))
        assert view.code == 0
        for part in ("sessdiag scan (Redis)", "spring:session", "companion keys",
                     "never-reused", "findings"):
            assert part in view.out
    finally:
        admin.config_set("notify-keyspace-events", "")
        admin.close()


def test_namespace_drift_and_non_indexed(cli, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    now_ms = int(time.time() * 1000)
    main = SpringWriter(r)  # Boot 2.x default namespace, indexed
    simple = SpringWriter(r, ns="myapp", indexed=False)  # Spring Session 3 default repository
    legacy = SpringWriter(r, ns="spring:session:legacy")  # Spring Session 1.x namespace=legacy
    for p in ("alice", "bob", "carol"):
        main.session(now_ms, now_ms - 3600_000, now_ms - 60_000, principal=p)
    for p in ("alice", "bob", None, None):
        simple.session(now_ms, now_ms - 60_000, now_ms - 60_000, principal=p)
    legacy.session(now_ms, now_ms - 600_000, now_ms - 600_000)
    res = cli("scan", url, "--json")
    assert res.code == 0, res.err
    rep = res.json()
    groups = {g["namespace"]: g for g in rep["groups"]}
    assert groups["spring:session"]["profile"] == "spring-session"
    assert groups["myapp"]["profile"] == "spring-session-simple"
    assert groups["myapp"]["companions"]["repository"] == "non-indexed"
    assert groups["spring:session:legacy"]["profile"] == "spring-session"
    assert [groups[n]["sessions"] for n in ("spring:session", "myapp", "spring:session:legacy")
            ] == [3, 4, 1]
    assert groups["myapp"]["orphans"] == 4 and groups["spring:session"]["orphans"] == 0
    (d,) = rep["namespace_drift"]
    assert d["framework"] == "Spring Session"
    assert [x["namespace"] for x in d["namespaces"]] == ["myapp", "spring:session",
                                                         "spring:session:legacy"]
    assert d["shared_principals"] == 2 and d["shared_principal_examples"] == ["alice", "bob"]
    assert any(f.startswith("namespace drift: Spring Session writes under 3 namespaces")
               and "2 principals have sessions in more than one" in f for f in rep["findings"])


def test_json_serializer(cli, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    now_ms = int(time.time() * 1000)
    w = SpringWriter(r, ns="jsonapp", json_values=True)
    w.session(now_ms, now_ms - 1000, now_ms - 1000)
    w.session(now_ms, now_ms - 5000, now_ms - 1000, principal="dave",
              attrs={"cart": b'{"@class":"com.example.Cart","items":["java.util.ArrayList",[1]]}'})
    rep = cli("scan", url, "--json", "--deep").json()
    (g,) = rep["groups"]
    assert g["formats"] == {"json": 2} and g["orphans"] == 1 and g["empty"] == 1
    assert g["undecodable"] == 0 and g["decoded"] == 2
    sid = w.ids[1]
    ins = cli("inspect", url, f"jsonapp:sessions:{sid}", "--json").json()
    vals = {e["key"]["value"]: e["value"] for e in ins["entries"]}
    assert vals["sessionAttr:cart"]["type"] == "com.example.Cart"
    assert vals["creationTime"] == {"type": "int", "value": now_ms - 5000}
    assert ins["never_reused"] is False


def test_inspect_jdk_session(cli, spring_keyspace):  # type: ignore[no-untyped-def]
    url, _, w = spring_keyspace
    sid = w.ids[10]  # alice, with a com.example.User attribute
    res = cli("inspect", url, f"spring:session:sessions:{sid}", "--json")
    assert res.code == 0, res.err
    ins = res.json()
    assert ins["schema"] == "sessdiag.inspect/1" and ins["profile"] == "spring-session"
    vals = {e["key"]["value"]: e["value"] for e in ins["entries"]}
    assert vals["maxInactiveInterval"] == {"type": "java.lang.Integer", "value": 1800}
    assert vals["sessionAttr:user"]["type"] == "com.example.User"
    assert vals["sessionAttr:user"]["value"]["name"]["value"] == "alice"
    # A bare id finds the key under the default namespace.
    assert cli("inspect", url, sid, "--json").json()["key"] == f"spring:session:sessions:{sid}"
    human = cli("inspect", url, sid)
    assert "com.example.User" in human.out
    assert cli("inspect", url, "no-such-session").code == 2
