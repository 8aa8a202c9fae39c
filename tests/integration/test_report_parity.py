"""Parity: the fields every backend shares are built by the same code (core.contract), so a
file report and a Redis report agree on their keys, order, time format, histogram shape and
anomaly table, and "not applicable" is None rather than a zero that reads as measured."""

from __future__ import annotations

import re
import time

from sessdiag.core import contract
from sessdiag.fixtures import FixtureSpec, make_tree

WHOLE_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _reports(cli, tmp_path, redis_db):  # type: ignore[no-untyped-def]
    now = time.time()
    root = tmp_path / "store"
    make_tree(str(root), FixtureSpec.from_mapping(dict(sessions=40, seed=5, now=int(now))))
    url, r = redis_db
    for i in range(30):
        r.set(f"PHPREDIS_SESSION:{i:026d}", b"" if i % 3 else b"a|i:1;", ex=1440)
    files = cli("scan", root, "--json", "--now", now).json()
    red = cli("scan", url, "--json", "--now", now).json()
    return files, red


def test_common_fields_come_from_one_builder(cli, tmp_path, redis_db):  # type: ignore[no-untyped-def]
    files, red = _reports(cli, tmp_path, redis_db)
    n = len(contract.COMMON_FIELDS)
    assert tuple(files)[:n] == contract.COMMON_FIELDS
    assert tuple(red)[:n] == contract.COMMON_FIELDS
    assert files["generated_at"] == red["generated_at"]  # same now, same format
    assert WHOLE_SECONDS.fullmatch(files["generated_at"])
    for rep in (files, red):
        h = rep["age_histogram"]
        assert [b["upper_s"] for b in h] == [*[b["upper_s"] for b in h[:-1]], None]
        assert len(h) == len(files["age_histogram"])
        assert sum(b["count"] for b in h) == rep["sessions"]
        assert set(contract.ANOMALY_KINDS) <= set(rep["anomalies"])
        assert set(rep["empty_rate"]) >= {"first_hour", "last_hour", "hours", "per_hour_mean",
                                          "per_second_mean", "per_hour_median",
                                          "per_hour_floor", "last_24h_per_hour"}
        assert WHOLE_SECONDS.fullmatch(rep["empty_rate"]["first_hour"])


def test_redis_says_file_anomalies_do_not_apply(cli, tmp_path, redis_db):  # type: ignore[no-untyped-def]
    files, red = _reports(cli, tmp_path, redis_db)
    assert all(isinstance(files["anomalies"][k], int) for k in contract.ANOMALY_KINDS)
    assert {k for k, v in red["anomalies"].items() if v is None} == {
        "symlinks", "foreign", "misplaced", "zero_byte", "unreadable"}
    assert isinstance(red["anomalies"]["undecodable"], int)
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  max_anomalies: {symlinks: 0, undecodable: 100}\n")
    res = cli("check", redis_db[0], "--policy", policy, "--json")
    assert res.code == 0, res.err
    results = {x["rule"]: x for x in res.json()["targets"][0]["results"]}
    assert results["max_anomalies.symlinks"]["status"] == "skipped"
    assert results["max_anomalies.undecodable"]["status"] == "pass"
