"""`sessdiag prune redis://…` and `sessdiag restore` on real redis-servers, with every
framework's real keys (prune_world): dry run byte-identical, exactly the leaks removed,
a concurrent writer loses nothing, backup + restore gives everything back byte for byte."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis
from prune_world import LOCK, World, build, content, differences, reidle, snapshot

from sessdiag.stores.files.prune import StopControl
from sessdiag.stores.redis.prune import RedisPruneOptions, prune_redis
from sessdiag.stores.redis.prune.backup import read_backup


@pytest.fixture
def world(redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    w = build(r, int(time.time() * 1000))
    return url, r, w


def _removed(w: World) -> set[bytes]:
    return w.leaks | w.companions


def test_dry_run_changes_nothing_and_finds_every_leak(cli, world, tmp_path):  # type: ignore[no-untyped-def]
    url, r, w = world
    before = snapshot(r)
    reidle(r, w)  # the snapshot's DUMPs reset the idle clocks the rules read
    res = cli("prune", url, "--json", "--fix-ttl")
    assert res.code == 0, res.err
    rep = res.json()
    assert rep["schema"] == "sessdiag.prune/1" and rep["dry_run"] is True
    assert rep["target"]["kind"] == "redis" and rep["applied"] is False
    assert rep["candidates"] == len(w.leaks)
    assert rep["companion_candidates"] == len(w.companions)
    assert rep["index_member_candidates"] == len(w.dead_members)
    assert rep["fix_ttl_candidates"] == len(w.fix_ttl)
    assert rep["deleted"] == rep["companions_deleted"] == rep["index_members_removed"] == 0
    assert rep["ttl_set"] == rep["skipped_fresh"] == rep["errors"] == 0
    groups = {(g["profile"], g["namespace"]): g for g in rep["groups"]}
    assert groups[("rails-session", "myapp:session")]["candidates"] == 0  # no lifetime known
    assert rep["not_judged"]["unknown"] == 2
    # The human view and the Prometheus textfile of the same run.
    prom = tmp_path / "prune.prom"
    res = cli("prune", url, "--fix-ttl", "--prom", prom)
    assert res.code == 0, res.err
    assert "DRY RUN" in res.out and "spring-session" in res.out and "why" in res.out
    metrics = prom.read_text()
    assert f'sessdiag_prune_candidates{{store="{url}"}} {len(w.leaks)}' in metrics
    assert "sessdiag_prune_companions_deleted" in metrics
    assert not (d := differences(before, snapshot(r))), d


def test_apply_removes_exactly_the_leaks_and_restore_puts_them_back(cli, world, tmp_path):  # type: ignore[no-untyped-def]
    url, r, w = world
    before = snapshot(r)
    reidle(r, w)
    bak = tmp_path / "prune.bak"
    res = cli("prune", url, "--apply", "--json", "--fix-ttl", "--backup", bak)
    assert res.code == 0, res.err
    rep = res.json()
    assert (rep["deleted"], rep["companions_deleted"], rep["index_members_removed"],
            rep["ttl_set"]) == (len(w.leaks), len(w.companions), len(w.dead_members),
                                len(w.fix_ttl))
    assert rep["skipped_fresh"] == rep["errors"] == 0
    assert rep["index_sets_emptied"] == 2  # carol's, in both namespaces
    after = snapshot(r)
    assert set(before) - set(after) == _removed(w) | {
        k for k, _m in w.dead_members if b"carol" in k}
    for k, m in w.dead_members:
        assert not r.sismember(k, m)
    for k in w.fix_ttl:
        assert r.pttl(k) > 0
    assert r.exists(LOCK) == 0  # released
    # Everything else is as it was, byte for byte.
    changed = w.fix_ttl | {k for k, _m in w.dead_members}
    unchanged = {k: v for k, v in before.items() if k in after and k not in changed}
    assert not (d := differences(unchanged, {k: after[k] for k in unchanged})), d

    content = read_backup(str(bak))
    assert content.torn_bytes == 0 and content.runs == 1
    # The backup holds every removed key's DUMP exactly as it was before the run.
    records = {rec.key: rec for rec in content.records if rec.kind == "K"}
    assert set(records) == _removed(w)
    assert all(rec.payload == before[k][0] for k, rec in records.items())
    res = cli("restore", bak, url, "--json")
    assert res.code == 0, res.err
    dry = res.json()
    assert dry["dry_run"] and dry["restored"] == len(_removed(w)) and dry["warnings"] == []
    assert "DRY RUN" in cli("restore", bak, url).out
    assert not (d := differences(after, snapshot(r))), d  # the dry run restored nothing
    res = cli("restore", bak, url, "--apply", "--json")
    assert res.code == 0, res.err
    rr = res.json()
    assert rr["restored"] == len(_removed(w)) and rr["skipped_existing"] == 0
    assert rr["members_readded"] == len(w.dead_members)
    assert rr["ttl_reverted"] == len(w.fix_ttl)
    # Every value back as it was, field by field and byte for byte (a DUMP of a hash in
    # its hashtable encoding is not canonical: prune_world.content), every deadline too.
    restored = snapshot(r)
    assert not (d := differences(before, restored, exact=False)), d
    # And every restored key's DUMP is the one it had, byte for byte, wherever the encoding
    # keeps an order (a hashtable's depends on the server's random hash seed).
    exact = [k for k in _removed(w) if r.object("encoding", k) != b"hashtable"]
    assert exact and all(restored[k][0] == before[k][0] for k in exact)
    # Again: every key exists now, so nothing is overwritten and each is listed.
    rr = cli("restore", bak, url, "--apply", "--json").json()
    assert rr["restored"] == 0 and rr["skipped_existing"] == len(_removed(w))
    assert len(rr["skipped_existing_keys"]) == len(_removed(w))


def test_a_concurrent_writer_loses_nothing(world, tmp_path):  # type: ignore[no-untyped-def]
    """Between the plan and the apply pass a writer (another thread, its own connection)
    touches leaked sessions the way each framework does on a request, and creates new ones;
    one more is touched after its backup record is written. Each touched one stays
    (skipped_fresh, with the fact that moved), each created one stays, the other leaks go."""
    url, r, w = world
    from spring_data import SpringWriter, jlong

    app = redis.Redis(port=r.connection_pool.connection_kwargs["port"],
                      db=r.connection_pool.connection_kwargs["db"])
    planned, touched = threading.Event(), threading.Event()
    spring_keys = [f"spring:session:sessions:{sid}".encode() for sid in w.spring_leaks]
    php_leak = next(k for k in w.leaks if k.startswith(b"PHPREDIS_SESSION:"))
    flask_leak = next(k for k in w.leaks if k.startswith(b"session:"))
    laravel_leak = next(k for k in w.leaks if k.startswith(b"laravel_database_"))
    connect_leak = next(k for k in sorted(w.leaks)
                        if k.startswith(b"sess:") and r.pttl(k) == -1)  # PTTL: no touch
    touched_strings = [php_leak, flask_leak, laravel_leak, connect_leak]
    created: list[str] = []
    created_strings = [b"PHPREDIS_SESSION:concurrentlycreated0000000", b"sess:concurrent-new"]
    late = spring_keys[2]

    def writer() -> None:
        planned.wait()
        now = int(time.time() * 1000)
        for k in spring_keys[:2]:  # a request: lastAccessedTime and the TTL move
            app.hset(k, "lastAccessedTime", jlong(now))
            app.pexpire(k, 2100_000)
        app.expire(php_leak, 1440)  # phpredis on reuse: EXPIRE k gc_maxlifetime
        # Flask-Session 0.5 saves every request: SETEX with the permanent lifetime.
        app.set(flask_leak, app.get(flask_leak) or b"", ex=2678400)
        app.get(laravel_leak)  # a read only: nothing moves but Redis's idle clock
        # connect-redis with disableTTL: a plain SET of the new cookie, still no TTL.
        app.set(connect_leak, (app.get(connect_leak) or b"").replace(b'"expires":"',
                                                                        b'"expires":"2999'))
        sw = SpringWriter(app)
        for _ in range(3):
            created.append(sw.session(now, now, now))
        for k in created_strings:
            app.set(k, b"new")  # no TTL and idle 0: nothing to judge
        touched.set()

    backups = []

    def backed_up() -> None:
        if not backups:  # the first batch holds the sessions: touch one already backed up
            app.hset(late, "lastAccessedTime", jlong(int(time.time() * 1000)))
        backups.append(1)

    t = threading.Thread(target=writer)
    t.start()
    res = prune_redis(RedisPruneOptions(url, apply=True, backup=str(tmp_path / "b.bak")),
                      stop=StopControl(),
                      hooks={"planned": lambda: (planned.set(), touched.wait()),
                             "backed_up": backed_up})
    t.join()
    rep = res.report
    assert rep["skipped_fresh"] == 7, rep["fresh_reasons"]
    # A request moves the TTL (checked first) and lastAccessedTime; the late touch only the
    # field, after its backup record was written; a read only the idle clock; connect-redis'
    # SET the value.
    assert rep["fresh_reasons"] == {"field": 1, "ttl": 4, "idle": 1, "value": 1}
    kept = {*spring_keys[:3], *touched_strings}
    assert all(r.exists(k) for k in kept)
    assert all(r.exists(f"spring:session:sessions:{sid}") for sid in created)
    assert all(r.get(k) == b"new" for k in created_strings)
    assert rep["deleted"] == len(w.leaks) - len(kept)
    assert not any(r.exists(k) for k in w.leaks - kept)
    app.close()


def test_max_fraction_refuses_and_drop_namespace_is_explicit(cli, world):  # type: ignore[no-untyped-def]
    url, r, w = world
    before = snapshot(r)
    res = cli("prune", url, "--apply", "--json", "--drop-namespace", "myapp",
              "--drop-namespace", "sess", "--drop-namespace", "spring:session",
              "--max-fraction", "0.1")
    assert res.code == 4, res.err
    assert "nothing deleted" in res.err
    assert not (d := differences(before, snapshot(r))), d
    # Spring's keys in namespace myapp; connect-redis' myapp:sess and Rails' myapp:session
    # are namespaces of their own, and stay.
    myapp = [k for k in r.scan_iter("myapp:*") if not k.startswith((b"myapp:sess:",
                                                                     b"myapp:session:"))]
    others = [k for k in r.scan_iter("myapp:*") if k not in myapp and k not in w.leaks]
    res = cli("prune", url, "--apply", "--json", "--drop-namespace", "myapp",
              "--namespace", "myapp")
    assert res.code == 2  # one namespace cannot be both
    res = cli("prune", url, "--apply", "--json", "--drop-namespace", "myapp")
    assert res.code == 0, res.err
    assert myapp and others and not any(r.exists(k) for k in myapp)
    assert all(r.exists(k) for k in others) and r.exists("app:config:feature")


def test_namespace_filter_and_max_delete(cli, world):  # type: ignore[no-untyped-def]
    url, r, w = world
    reidle(r, w)
    res = cli("prune", url, "--json", "--namespace", "myapp")
    rep = res.json()
    assert rep["candidates"] == sum(1 for k in w.leaks if k.startswith(b"myapp:sessions:"))
    assert {g["namespace"] for g in rep["groups"]} == {"myapp"}
    rep = cli("prune", url, "--json", "--profile", "php-redis").json()
    assert rep["candidates"] == sum(1 for k in w.leaks if k.startswith(b"PHPREDIS_SESSION:"))
    assert {g["profile"] for g in rep["groups"]} == {"php-redis"}
    assert cli("prune", url, "--profile", "beego-file").code == 2
    res = cli("prune", url, "--apply", "--json", "--max-delete", "2")
    rep = res.json()
    assert res.code == 0 and rep["deleted"] == 2 and rep["stopped_by"] == "max-delete"
    assert rep["not_attempted"] > 0


def test_lock_key_held_by_another_run_is_exit_75(cli, world):  # type: ignore[no-untyped-def]
    url, r, _w = world
    r.set(LOCK, "otherhost:1234:abcd", px=60_000)
    res = cli("prune", url, "--apply", "--quiet")
    assert res.code == 75 and "otherhost:1234" in res.err
    assert r.get(LOCK) == b"otherhost:1234:abcd"  # never taken from its holder
    assert cli("prune", url, "--quiet").code == 0  # a dry run takes no lock


def test_bad_flags_are_exit_2_before_connecting(cli, tmp_path):  # type: ignore[no-untyped-def]
    for args in (["--grace", "1m"], ["--journal", str(tmp_path / "j")], ["--rate", "0"],
                 ["--max-fraction", "2"], ["--lock-ttl", "1s"]):
        res = cli("prune", "redis://127.0.0.1:1/0", *args)
        assert res.code == 2, (args, res.err)
    res = cli("prune", str(tmp_path), "--max-age", "1h", "--fix-ttl")
    assert res.code == 2 and "--fix-ttl" in res.err
    res = cli("restore", str(tmp_path / "nope.bak"), "redis://127.0.0.1:1/0")
    assert res.code in (2, 3)


def test_backup_reader_stops_at_the_last_whole_record(tmp_path: Path) -> None:
    from sessdiag.stores.redis.prune import backup as B

    path = tmp_path / "b.bak"
    w = B.BackupWriter(str(path), {"run": "x"})
    w.add(B.key_record(b"k1", 5000, 123456, b"\x00dump1"))
    w.add(B.member_record(b"idx", b"m1"))
    w.add(B.ttl_record(b"k2", 99))
    w.close()
    data = path.read_bytes()
    for cut in range(len(B.MAGIC), len(data) + 1):
        path.write_bytes(data[:cut])
        c = B.read_backup(str(path))
        assert c.good <= cut and c.torn_bytes == cut - c.good
        kinds = [r.kind for r in c.records]
        assert kinds == ["H", "K", "M", "T"][:len(kinds)]
    c = B.read_backup(str(path))
    k, m, t = c.records[1:]
    assert (k.key, k.pttl, k.deadline, k.payload) == (b"k1", 5000, 123456, b"\x00dump1")
    assert (m.key, m.payload, t.key, t.deadline) == (b"idx", b"m1", b"k2", 99)
    # Appending after a torn tail cuts the tail first.
    path.write_bytes(data[:-3])
    w = B.BackupWriter(str(path), {"run": "y"})
    w.add(B.member_record(b"idx", b"m2"))
    w.close()
    c = B.read_backup(str(path))
    assert c.torn_bytes == 0 and [r.kind for r in c.records] == ["H", "K", "M", "H", "M"]
    (tmp_path / "other").write_bytes(b"hello")
    with pytest.raises(Exception, match="not a sessdiag backup"):
        B.BackupWriter(str(tmp_path / "other"), {})


def test_restore_never_overwrites_and_never_revives_the_expired(cli, redis_db, tmp_path):  # type: ignore[no-untyped-def]
    from sessdiag.stores.redis.prune import backup as B

    url, r = redis_db
    r.set("sess:a", b"old-a")
    dump = r.dump("sess:a")
    sec, _us = r.time()
    bak = tmp_path / "hand.bak"
    w = B.BackupWriter(str(bak), {"run": "t", "target": "redis://elsewhere:6379/0"})
    w.add(B.key_record(b"sess:a", 5000, sec * 1000 + 3600_000, dump))  # exists: kept
    w.add(B.key_record(b"sess:past", 5000, 1_000_000, dump))  # deadline in 1970
    w.add(B.key_record(b"sess:new", -1, -1, dump))  # no TTL
    w.close()
    r.set("sess:a", b"new-a")
    res = cli("restore", bak, url, "--apply", "--json")
    assert res.code == 0, res.err
    rep = res.json()
    assert (rep["restored"], rep["skipped_existing"], rep["expired"]) == (1, 1, 1)
    assert rep["skipped_existing_keys"] == ["sess:a"] and rep["expired_keys"] == ["sess:past"]
    assert r.get("sess:a") == b"new-a" and not r.exists("sess:past")
    assert r.get("sess:new") == b"old-a" and r.ttl("sess:new") == -1
    assert "redis://elsewhere:6379/0" in rep["warnings"][0]


def test_django_sessions_written_by_django(cli, redis_db, tmp_path):  # type: ignore[no-untyped-def]
    """Django's cache backend (the library itself writes them; the suite commits no capture
    of it): one of its sessions loses its TTL and has been idle longer than Django's two
    weeks — that one goes, the others stay, and the backup brings it back."""
    import subprocess
    import sys

    from test_redis_frameworks import DJANGO

    url, r = redis_db
    subprocess.run([sys.executable, "-c", DJANGO, url,
                    "django.contrib.sessions.backends.cache"], check=True, timeout=60)
    keys = sorted(r.scan_iter(match=":1:django.contrib.sessions.cache*"))
    assert len(keys) == 4
    leak = keys[0]
    saved = content(r, leak)  # a read: before the idle time is set
    dump = r.dump(leak)

    def age() -> None:
        r.execute_command("RESTORE", leak, 0, dump, "REPLACE", "IDLETIME", 1209600 + 3600)
    age()  # its TTL gone too
    before = snapshot(r)
    age()  # the snapshot's DUMP reset the idle clock
    rep = cli("prune", url, "--json").json()
    assert rep["candidates"] == 1 and rep["groups"][0]["profile"] == "django-cache"
    assert not (d := differences(before, snapshot(r))), d  # the dry run changed nothing
    age()
    bak = tmp_path / "d.bak"
    rep = cli("prune", url, "--apply", "--json", "--backup", bak).json()
    assert rep["deleted"] == rep["candidates"] == 1 and rep["reasons"] == {
        "session: idle beyond the lifetime, no TTL": 1}
    assert not r.exists(leak) and all(r.exists(k) for k in keys[1:])
    assert cli("restore", bak, url, "--apply", "--json").json()["restored"] == 1
    assert content(r, leak) == saved and r.ttl(leak) == -1


def test_a_run_that_lost_its_lock_stops_and_never_frees_the_successors(redis_db):  # type: ignore[no-untyped-def]
    """A run stalled past its lock's TTL: the lock expired and another run took it. At its
    next refresh the stalled run stops (LockHeld, exit 75), and its release leaves the
    successor's lock alone (the token is compared on the server)."""
    from sessdiag.core.errors import LockHeld
    from sessdiag.stores.redis.nodes import NodeConns
    from sessdiag.stores.redis.prune.lock import RedisLock
    from sessdiag.stores.redis.target import parse_target

    url, r = redis_db
    conns = NodeConns(parse_target(url, None))
    try:
        lock = RedisLock(conns, 30)
        lock.acquire()
        assert r.get(LOCK) == lock.token.encode() and 0 < r.pttl(LOCK) <= 30_000
        lock.last -= 11  # a third of the TTL has passed: the next keepalive refreshes
        lock.keepalive()
        assert r.get(LOCK) == lock.token.encode()
        r.delete(LOCK)  # expired while the run stalled …
        r.set(LOCK, "successor:1:beef", px=30_000)  # … and another run took it
        lock.last -= 11
        with pytest.raises(LockHeld, match="expired and was taken"):
            lock.keepalive()
        lock.held = True  # even a release that believes it holds the lock …
        lock.release()
        assert r.get(LOCK) == b"successor:1:beef"  # … removes only its own token
    finally:
        conns.close()
