"""Spring Session keys as Spring Session documents them, with values the JDK wrote.

The other Spring tests build their keyspaces with sessdiag's own writer
(`sessdiag.fixture_redis.SpringWriter`), so a wrong idea of the layout would be shared by the
writer and the scanner and go unnoticed. Here the truth comes from outside the package:

- the keys, types and TTLs are those of the "Storage Details" transcript in the javadoc of
  spring-session-data-redis' `RedisIndexedSessionRepository` (HMSET of the session hash,
  EXPIRE +5 min, the `sessions:expires:<id>` shadow key APPENDed "" with the real lifetime,
  SADD of `expires:<id>` to `expirations:<minute>`), `RedisSessionExpirationPolicy` (the
  minute is lastAccessedTime + maxInactiveInterval rounded up to the next minute) and
  `getPrincipalKey` (`index:<PRINCIPAL_NAME_INDEX_NAME>:<principal>`); and of
  `RedisSessionRepository` (one hash, EXPIREAT lastAccessedTime + maxInactiveInterval);
- every value is a byte string the JDK itself serialised (fixtures/java, tools/javagen),
  including the javadoc's own creationTime 1404360000000 and maxInactiveInterval 1800.
"""

from __future__ import annotations

import redis
from spring_data import vector

from sessdiag.fixture_redis import SpringWriter

SID = "0b8a0e5e-2d4e-4f5b-9a3c-6f1d2e3c4b5a"  # the id inside the JDK string vectors
T_MS = 1404360000000  # the javadoc's creationTime and lastAccessedTime (long_creation_time)
NOW = T_MS // 1000 + 600  # scan "as of" 10 minutes after the last access
PRINCIPAL_ATTR = ("sessionAttr:org.springframework.session.FindByIndexNameSessionRepository"
                  ".PRINCIPAL_NAME_INDEX_NAME")


def documented_fields() -> dict[str, bytes]:
    return {
        "creationTime": vector("long_creation_time"),
        "maxInactiveInterval": vector("integer_1800"),
        "lastAccessedTime": vector("long_creation_time"),
        PRINCIPAL_ATTR: vector("string_principal"),  # "alice"
        "sessionAttr:user": vector("user_object"),
    }


def write_indexed_as_documented(r: redis.Redis, ns: str = "spring:session") -> None:
    """The javadoc transcript, command for command (its `EXPIRE spring:session:expirations…`
    line drops a colon; RedisSessionExpirationPolicy expires the set it added to)."""
    r.hset(f"{ns}:sessions:{SID}", mapping=documented_fields())
    r.expire(f"{ns}:sessions:{SID}", 2100)  # maxInactiveInterval + 5 minutes
    r.append(f"{ns}:sessions:expires:{SID}", "")
    r.expire(f"{ns}:sessions:expires:{SID}", 1800)
    minute = (T_MS + 1800_000) // 60_000 * 60_000 + 60_000  # roundUpToNextMinute
    r.sadd(f"{ns}:expirations:{minute}", vector("string_expires_member"))  # "expires:<id>"
    r.expire(f"{ns}:expirations:{minute}", 2100)
    r.sadd(f"{ns}:index:org.springframework.session.FindByIndexNameSessionRepository"
           ".PRINCIPAL_NAME_INDEX_NAME:alice", vector("string_session_id"))


def test_documented_indexed_layout_is_read_as_one_spring_session(cli, redis_db) -> None:  # type: ignore[no-untyped-def]
    url, r = redis_db
    write_indexed_as_documented(r)
    assert r.dbsize() == 4  # hash, shadow key, expirations set, principal index
    res = cli("scan", url, "--json", "--deep", "--now", str(NOW))
    assert res.code == 0, res.err
    rep = res.json()
    assert rep["target"]["profile"] == "spring-session"
    (g,) = rep["groups"]
    assert (g["profile"], g["namespace"]) == ("spring-session", "spring:session")
    assert g["sessions"] == 1 and g["lifetime_s"] == 1800 and g["age_source"] == "recorded"
    assert g["formats"] == {"jdk": 1} and g["decoded"] == 1 and g["undecodable"] == 0
    assert g["expired"] == 0 and g["no_ttl"] == 0 and g["empty"] == 0
    assert g["orphans"] == 1  # created and last accessed at the same instant: never reused
    assert [b["count"] for b in rep["age_histogram"]] == [1, 0, 0, 0, 0, 0]  # 600 s old
    c = g["companions"]
    assert c["repository"] == "indexed"
    assert (c["shadow_keys"], c["shadow_keys_without_session"], c["shadow_keys_no_ttl"]) == (
        1, 0, 0)
    assert (c["expirations_sets"], c["expirations_members"], c["expirations_no_ttl"]) == (
        1, 1, 0)
    assert (c["index_sets"], c["index_members"], c["index_members_dead"]) == (1, 1, 0)


def test_documented_session_inspects_to_the_jdk_values(cli, redis_db) -> None:  # type: ignore[no-untyped-def]
    url, r = redis_db
    write_indexed_as_documented(r)
    ins = cli("inspect", url, f"spring:session:sessions:{SID}", "--json")
    assert ins.code == 0, ins.err
    vals = {e["key"]["value"]: e["value"] for e in ins.json()["entries"]}
    assert vals["creationTime"]["value"] == T_MS
    assert vals["lastAccessedTime"]["value"] == T_MS
    assert vals["maxInactiveInterval"]["value"] == 1800
    assert vals[PRINCIPAL_ATTR]["value"] == "alice"


def test_documented_non_indexed_layout(cli, redis_db) -> None:  # type: ignore[no-untyped-def]
    """RedisSessionRepository (Spring Session 3's default): the hash alone, expiring at
    lastAccessedTime + maxInactiveInterval; relative here, as the scan runs "as of" NOW."""
    url, r = redis_db
    key = f"myapp:sessions:{SID}"
    r.hset(key, mapping=documented_fields())
    r.expire(key, 1800 - 600)
    rep = cli("scan", url, "--json", "--now", str(NOW)).json()
    (g,) = rep["groups"]
    assert (g["profile"], g["namespace"]) == ("spring-session-simple", "myapp")
    assert g["sessions"] == 1 and g["companions"]["repository"] == "non-indexed"
    assert g["formats"] == {"jdk": 1} and g["undecodable"] == 0


def _keyspace(r: redis.Redis) -> dict[bytes, tuple]:
    """Every key's type, content and TTL in whole seconds (both sides are written within
    the same test, so a tolerance of a few seconds covers the time between them)."""
    out: dict[bytes, tuple] = {}
    for k in r.scan_iter(count=1000):
        t = r.type(k)
        content = {b"hash": r.hgetall, b"set": r.smembers, b"string": r.get}[t](k)
        out[k] = (t, content, r.ttl(k))
    return out


def test_our_writer_writes_what_the_documentation_and_the_jdk_write(redis_server) -> None:  # type: ignore[no-untyped-def]
    """`fixtures make` and the other Spring tests stand on SpringWriter: the same session
    through it and through the documented transcript gives the same keys, types, bytes and
    TTLs."""
    documented = redis.Redis(port=redis_server.port, db=13)
    ours = redis.Redis(port=redis_server.port, db=14)
    try:
        for c in (documented, ours):
            c.flushdb()
        write_indexed_as_documented(documented)
        w = SpringWriter(lambda cmd: ours.execute_command(*cmd))
        w.session(T_MS, T_MS, T_MS, principal="alice", sid=SID,
                  attrs={"user": vector("user_object")})
        w.expirations((T_MS + 1800_000) // 60_000 * 60_000 + 60_000, [SID], ttl_s=2100)
        want, got = _keyspace(documented), _keyspace(ours)
        assert set(got) == set(want)
        for k in want:
            (wt, wc, wttl), (gt, gc, gttl) = want[k], got[k]
            assert (gt, gc) == (wt, wc), k
            assert abs(gttl - wttl) <= 5, (k, gttl, wttl)
    finally:
        for c in (documented, ours):
            c.flushdb()
            c.close()


def test_an_age_on_a_bucket_edge_is_in_that_bucket(cli, redis_db) -> None:  # type: ignore[no-untyped-def]
    """Recorded ages (lastAccessedTime) exactly on an edge of the age histogram belong to
    the bucket that edge closes, as in the file scan."""
    url, r = redis_db
    now = 1_750_000_000
    w = SpringWriter(lambda cmd: r.execute_command(*cmd))
    month = 30 * 86400
    for age in (0, 3600, 3601, 86400, 86401):
        t = (now - age) * 1000
        w.session(now * 1000, t, t, max_inactive=month)
    rep = cli("scan", url, "--json", "--now", str(now)).json()
    assert [e["upper_s"] for e in rep["age_histogram"]][:2] == [3600, 86400]
    assert [b["count"] for b in rep["age_histogram"]][:3] == [2, 2, 1]
