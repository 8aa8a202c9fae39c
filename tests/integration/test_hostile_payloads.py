"""Issue 19's hostile payloads, each as it would reach a user: through the CLI, against a real
store (a PHP `sess_*` file, or keys on a private redis-server). One bad session is one anomaly
(`undecodable`, or `bad_timestamps`), never an aborted scan (exit 70) or a dead interpreter; and
`inspect` of that one session is a one-line exit 2."""

from __future__ import annotations

import time

from spring_data import SpringWriter


def test_spring_times_at_2_53_ms_are_an_anomaly_not_a_timeline(cli, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    now = time.time()
    now_ms = int(now * 1000)
    w = SpringWriter(r)
    for _ in range(3):
        w.session(now_ms, now_ms - 600_000, now_ms - 600_000)
    # A valid JDK Long: the hourly timelines once spanned 2.5e9 hours (2.6 GB, MemoryError).
    w.session(now_ms, 2**53, 2**53)
    res = cli("scan", url, "--json", "--now", str(now))
    assert res.code == 0, res.err
    rep = res.json()
    assert rep["sessions"] == 4
    assert rep["anomalies"]["bad_timestamps"] == 1
    g = rep["groups"][0]
    assert g["bad_timestamps"] == 1
    assert g["orphans"] == 3  # the bogus one is not counted never-reused from its times
    assert [row["count"] for row in g["creation_timeline"]] == [3]
    assert any("1 spring-session sessions" in n and "bad_timestamps" in n
               for n in rep["warnings"])
