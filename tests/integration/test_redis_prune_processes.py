"""Redis prune as real processes: the lock between two runs, a `kill -9` in the middle (its
backup restores everything removed so far), a replica (dry run yes, --apply exit 3), and a
3-primary Cluster. Synchronisation is by conditions (the lock key, whole backup records, the
replica's offset), never by sleeping a fixed time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import redis_servers as rs
from prune_world import LOCK, build, differences, reidle, snapshot
from spring_data import SpringWriter

from sessdiag.stores.redis.prune.backup import read_backup


def _slow_prune(url: str, *extra: str) -> subprocess.Popen:
    # --rate 10: one change per batch, each behind its own fsync'ed backup record.
    return subprocess.Popen([sys.executable, "-m", "sessdiag", "prune", url, "--apply",
                             "--rate", "10", "--quiet", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _records(path: str) -> int:
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return 0
    return sum(1 for r in read_backup(path).records if r.kind != "H")


def test_the_lock_holds_between_two_processes(cli, redis_db, tmp_path):  # type: ignore[no-untyped-def]
    url, r = redis_db
    w = build(r, int(time.time() * 1000))
    reidle(r, w)
    first = _slow_prune(url, "--backup", str(tmp_path / "a.bak"))
    try:
        rs.wait_until(lambda: _records(str(tmp_path / "a.bak")) >= 1, "the first run's change")
        holder = r.get(LOCK)
        assert holder is not None and f":{first.pid}:".encode() in holder
        second = subprocess.run([sys.executable, "-m", "sessdiag", "prune", url, "--apply",
                                 "--quiet"], capture_output=True, text=True, timeout=60)
        assert second.returncode == 75, second.stderr
        assert "another prune holds the lock" in second.stderr
        assert r.get(LOCK) == holder
    finally:
        first.send_signal(signal.SIGTERM)
        _out, err = first.communicate(timeout=60)
    assert first.returncode == 143, err  # stopped cleanly, after the change in hand
    assert r.exists(LOCK) == 0  # and released


def test_kill_9_leaves_a_backup_that_restores_everything(cli, redis_db, tmp_path):  # type: ignore[no-untyped-def]
    url, r = redis_db
    w = build(r, int(time.time() * 1000))
    before = snapshot(r)
    reidle(r, w)
    bak = str(tmp_path / "k.bak")
    p = _slow_prune(url, "--backup", bak)
    try:
        rs.wait_until(lambda: _records(bak) >= 5, "5 backup records", deadline_s=60)
    finally:
        p.kill()
        p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL
    gone = set(before) - set(snapshot(r))
    assert gone, "the run removed something before it was killed"
    assert gone <= w.leaks | w.companions
    r.delete(LOCK)  # a killed run's lock expires by itself; the test does not wait for it
    res = cli("restore", bak, url, "--apply", "--json")
    assert res.code == 0, res.err
    rep = res.json()
    assert rep["restored"] == len(gone)
    assert rep["skipped_existing"] == rep["keys"] - len(gone)  # backed up, not yet deleted
    assert not (d := differences(before, snapshot(r), exact=False)), d


def test_replica_dry_run_works_and_apply_is_refused(cli, redis_server, redis_db,  # type: ignore[no-untyped-def]
                                                    redis_workdir):
    url, r = redis_db
    w = build(r, int(time.time() * 1000))
    db = url.rsplit("/", 1)[1]
    replica = rs.start_replica(redis_workdir, redis_server)
    try:
        rs.wait_replica_offset(redis_server, replica)
        rurl = f"{replica.url}/{db}"
        res = cli("prune", rurl, "--json", "--namespace", "spring:session")
        assert res.code == 0, res.err
        rep = res.json()
        assert rep["target"]["topology"] == "replica"
        assert rep["candidates"] == sum(1 for k in w.leaks
                                        if k.startswith(b"spring:session:sessions:"))
        before = snapshot(r)
        res = cli("prune", rurl, "--apply", "--json")
        assert res.code == 3 and "replica" in res.err and "Traceback" not in res.err
        assert not (d := differences(before, snapshot(r))), d
        res = cli("restore", str(redis_workdir / "none.bak"), rurl, "--apply")
        assert res.code == 2  # no such backup: refused before anything else
    finally:
        replica.stop()


def test_cluster_every_primary(cli, redis_cluster, cluster_client, tmp_path):  # type: ignore[no-untyped-def]
    c = cluster_client
    url = redis_cluster[0].url
    now = int(time.time() * 1000)
    sw = SpringWriter(c)
    live = [sw.session(now, now - 3600_000, now - 60_000, principal="alice") for _ in range(20)]
    leaks = []
    for _ in range(30):
        key = f"spring:session:sessions:{uuid.uuid4()}"
        c.hset(key, mapping=sw.session_fields(now - 4 * 3600_000, now - 3 * 3600_000, 1800,
                                              None, None))
        leaks.append(key)
    shadows = [f"spring:session:sessions:expires:{sw.orphan_shadow()}" for _ in range(10)]
    dead = str(uuid.uuid4())
    sw.index_member("alice", dead)
    index = "spring:session:index:" + \
        "org.springframework.session.FindByIndexNameSessionRepository" \
        ".PRINCIPAL_NAME_INDEX_NAME:alice"
    owners = {c.keyslot(k) for k in leaks}
    assert len(owners) > 1
    saved = {k: sorted(c.hgetall(k).items()) for k in leaks}

    res = cli("prune", url, "--json")
    rep = res.json()
    assert rep["target"]["topology"] == "cluster" and rep["target"]["nodes"] == 3
    assert (rep["candidates"], rep["companion_candidates"], rep["index_member_candidates"]) \
        == (30, 10, 1)
    bak = str(tmp_path / "c.bak")
    res = cli("prune", url, "--apply", "--json", "--backup", bak)
    assert res.code == 0, res.err
    rep = res.json()
    assert (rep["deleted"], rep["companions_deleted"], rep["index_members_removed"]) == \
        (30, 10, 1)
    assert not any(c.exists(k) for k in leaks + shadows)
    assert all(c.exists(f"spring:session:sessions:{sid}") for sid in live)
    assert c.scard(index) == 20
    res = cli("restore", bak, url, "--apply", "--json")
    assert res.code == 0, res.err
    assert res.json()["restored"] == 40
    assert {k: sorted(c.hgetall(k).items()) for k in leaks} == saved
    assert all(c.ttl(k) == -1 for k in leaks)
    assert c.scard(index) == 21

