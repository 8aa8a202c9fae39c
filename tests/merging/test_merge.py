"""merge: the rule of each field family, and the refusals (exit 2) of parts that overlap."""

from __future__ import annotations

import copy

import pytest

from sessdiag.core.errors import UsageError
from sessdiag.merging import load_report, merge_reports
from sessdiag.merging.values import MIXED


def _report(location: str = "/srv/t", *, part: tuple[int, int] | None = None,
            host: str = "h1", sessions: int = 10, **extra: object) -> dict:
    target: dict = {"kind": "files", "location": location, "profile": "php-files",
                    "layout": "flat", "host": host}
    if part:
        target["partition"] = {"index": part[0], "count": part[1], "scheme": "crc32-first-level"}
    r = {"schema": "sessdiag.scan/1", "target": target,
         "generated_at": "2026-12-01T00:00:00Z", "max_lifetime_s": 3600,
         "sessions": sessions, "bytes": 5 * sessions, "allocated_bytes": None,
         "expired": 1, "expired_fraction": 0.1, "empty": 0, "empty_fraction": 0.0,
         "age_histogram": [{"upper_s": 3600, "count": sessions}, {"upper_s": None, "count": 0}],
         "anomalies": {"symlinks": 1, "foreign": 0, "misplaced": None},
         "gc_estimate": None,
         "groups": [{"profile": "php-files", "namespace": "", "sessions": sessions,
                     "no_ttl": None}],
         "clients": [], "warnings": ["w"]}
    r.update(extra)
    return r


def _merge(*reports: dict) -> dict:
    return merge_reports(list(reports), [f"r{i}.json" for i in range(len(reports))])


def test_counts_histograms_and_anomalies_add_none_stays_not_applicable() -> None:
    m = _merge(_report(part=(1, 2), sessions=10), _report(part=(2, 2), sessions=30))
    assert (m["sessions"], m["bytes"], m["allocated_bytes"], m["expired"]) == (40, 200, None, 2)
    assert m["expired_fraction"] == 0.05
    assert m["age_histogram"][0] == {"upper_s": 3600, "count": 40}
    assert m["anomalies"] == {"symlinks": 2, "foreign": 0, "misplaced": None}
    assert m["groups"] == [{"profile": "php-files", "namespace": "", "sessions": 40,
                            "no_ttl": None}]
    assert m["warnings"] == ["w"]
    t = m["target"]
    assert t["kind"] == "merged" and t["location"] == "/srv/t" and t["part_kind"] == "files"
    assert [p["partition"]["index"] for p in t["parts"]] == [1, 2]
    assert [p["report"] for p in t["parts"]] == ["r0.json", "r1.json"]


def test_merged_reports_merge_again_and_keep_their_parts() -> None:
    a = _merge(_report(part=(1, 3)), _report(part=(2, 3)))
    m = _merge(a, _report(part=(3, 3)))
    assert m["sessions"] == 30 and len(m["target"]["parts"]) == 3
    assert not [w for w in m["warnings"] if "missing" in w]
    with pytest.raises(UsageError, match="same partition"):
        _merge(a, _report(part=(2, 3)))


def test_a_missing_partition_is_a_warning() -> None:
    m = _merge(_report(part=(1, 3)), _report(part=(3, 3)))
    assert any("partitions 2 of 3 are missing" in w for w in m["warnings"])


@pytest.mark.parametrize(("a", "b", "needle"), [
    (dict(part=(1, 2)), dict(part=(1, 2)), "same partition"),
    (dict(part=(1, 2)), dict(part=(1, 3)), "different numbers of partitions"),
    (dict(), dict(part=(1, 3)), "whole tree"),
    (dict(), dict(), "same tree"),
    (dict(), dict(max_lifetime_s=60), "max_lifetime_s 60 differs"),
    (dict(), dict(host="h2", age_histogram=[{"upper_s": None, "count": 10}]), "buckets"),
])
def test_overlaps_and_mismatches_are_refused(a: dict, b: dict, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        _merge(_report(**a), _report(**b))


def test_same_path_on_two_hosts_is_two_trees_and_redis_nodes_must_not_repeat() -> None:
    m = _merge(_report(host="h1"), _report(host="h2"))
    assert m["sessions"] == 20
    redis = _report("redis://10.0.0.1:6379/0", kind="x")
    redis["target"] = {"kind": "redis", "location": "redis://10.0.0.1:6379/0",
                       "profile": "spring-session", "nodes": None}
    cluster = copy.deepcopy(redis)
    cluster["target"].update(location="redis://10.0.0.2:6379/0",
                             nodes=["10.0.0.1:6379", "10.0.0.2:6379"])
    other = copy.deepcopy(redis)
    other["target"]["location"] = "redis://10.0.0.3:6379/0"
    assert _merge(redis, other)["target"]["part_kind"] == "redis"
    with pytest.raises(UsageError, match="share Redis nodes"):
        _merge(redis, redis)


def test_routes_merge_by_template_and_agents_take_their_fraction_again() -> None:
    one = {"route": "GET /items/7", "template": "GET /items/{id}", "issued": 2, "orphans": 2,
           "orphan_fraction": 1.0, "orphan_rate_per_hour": 2.0, "span_hours": 0.5,
           "distinct_routes": 1, "distinct_routes_capped": False, "example": "GET /items/7"}
    many = {"route": "GET /items/{id}", "template": "GET /items/{id}", "issued": 6,
            "orphans": 1, "orphan_fraction": 0.1667, "orphan_rate_per_hour": 1.0,
            "span_hours": 3.0, "distinct_routes": 4, "distinct_routes_capped": False,
            "example": "GET /items/9"}
    ua = {"user_agent": "curl/8.5.0", "class": "tool", "clients": 1, "clients_capped": False}
    m = _merge(_report(host="h1", routes=[one],
                       user_agents=[{**ua, "issued": 4, "orphans": 4, "orphan_fraction": 1.0}]),
               _report(host="h2", routes=[many],
                       user_agents=[{**ua, "issued": 4, "orphans": 0, "orphan_fraction": 0.0}]))
    (r,) = m["routes"]
    assert (r["route"], r["template"], r["issued"], r["orphans"], r["orphan_fraction"]) == \
        ("GET /items/{id}", "GET /items/{id}", 8, 3, 0.375)
    assert r["span_hours"] is None and r["distinct_routes"] is None
    assert r["example"] == "GET /items/7"
    (a,) = m["user_agents"]
    assert (a["clients"], a["issued"], a["orphans"], a["orphan_fraction"]) == (2, 8, 4, 0.5)


def test_keyed_sections_merge_by_key_and_sort_by_a_total_order() -> None:
    a = _report(host="h1", clients=[
        {"client": "10.0.0.9", "sessions": 5, "issued": 5, "orphans": 5, "requests": 9,
         "first_seen": "2026-11-30T10:00:00.000Z", "last_seen": "2026-11-30T11:00:00.000Z"}],
        routes=[{"route": "GET /a", "issued": 3, "orphans": 1}],
        races=[{"at": "2026-11-30T10:00:00.000Z", "client": "x"}])
    b = _report(host="h2", clients=[
        {"client": "10.0.0.9", "sessions": 1, "issued": 1, "orphans": 0, "requests": 1,
         "first_seen": "2026-11-30T09:00:00.000Z", "last_seen": "2026-11-30T09:30:00.000Z"},
        {"client": "10.0.0.1", "sessions": 6, "issued": 6, "orphans": 5, "requests": 6,
         "first_seen": "2026-11-30T09:00:00.000Z", "last_seen": "2026-11-30T09:30:00.000Z"}],
        routes=[{"route": "GET /b", "issued": 3, "orphans": 1},
                {"route": "GET /a", "issued": 1, "orphans": 1}],
        races=[{"at": "2026-11-30T09:00:00.000Z", "client": "y"}],
        groups=[{"profile": "php-files", "namespace": "", "sessions": 1, "no_ttl": None},
                {"profile": "php-files", "namespace": "other", "sessions": 2, "no_ttl": None}])
    m = _merge(a, b)
    # orphans, then sessions, then requests (10 against 6) decide
    assert [(c["client"], c["orphans"], c["sessions"]) for c in m["clients"]] == [
        ("10.0.0.9", 5, 6), ("10.0.0.1", 5, 6)]
    nine = m["clients"][0]
    assert (nine["first_seen"], nine["last_seen"]) == ("2026-11-30T09:00:00.000Z",
                                                       "2026-11-30T11:00:00.000Z")
    assert nine["orphan_fraction"] == round(5 / 6, 4)
    assert m["routes"] == [{"route": "GET /a", "issued": 4, "orphans": 2},
                           {"route": "GET /b", "issued": 3, "orphans": 1}]
    assert [r["client"] for r in m["races"]] == ["y", "x"]
    assert [(g["namespace"], g["sessions"]) for g in m["groups"]] == [("", 11), ("other", 2)]


def test_settings_that_differ_become_mixed() -> None:
    m = _merge(_report(host="h1", max_lifetime_source="--max-lifetime"),
               _report(host="h2", max_lifetime_source="--app-conf conf/app.conf"))
    assert m["max_lifetime_source"] == MIXED


def test_examples_and_flat_shards_merge_to_what_one_scan_keeps() -> None:
    def shards(n: int) -> dict:
        return {"count": 1, "largest": {"path": ".", "sessions": n},
                "smallest": {"path": ".", "sessions": n}, "mean": n, "stdev": 0.0,
                "sessions": n, "sum_squares": n * n}

    a = _report(part=(1, 2), anomaly_examples={"foreign": ["b", "d", "f", "h", "j"]},
                shards=shards(4))
    b = _report(part=(2, 2), anomaly_examples={"foreign": ["a", "c"], "symlinks": ["z"]},
                shards=shards(6))
    m = _merge(a, b)
    assert m["anomaly_examples"] == {"foreign": ["a", "b", "c", "d", "f"], "symlinks": ["z"]}
    assert m["shards"]["count"] == 1 and m["shards"]["largest"] == {"path": ".", "sessions": 10}


def test_load_refuses_what_is_not_a_scan_report(tmp_path) -> None:
    for text, needle in (("{", "not a JSON report"), ('{"schema": "x"}', "not a sessdiag.scan/1"),
                         ('{"schema": "sessdiag.scan/1"}', "without 'target'")):
        p = tmp_path / "r.json"
        p.write_text(text)
        with pytest.raises(UsageError, match=needle):
            load_report(str(p))


def _dump(path: str, checksum: str) -> dict:
    r = _report(path)
    r["target"] = {"kind": "rdb", "location": path, "profile": "connect-redis", "db": 0}
    r["dump"] = {"checksum": checksum, "ctime": "2026-12-01T00:00:00Z", "keys_past_expiry": 1,
                 "databases": {"0": 5}, "rdb_version": 10}
    return r


def test_dumps_are_named_by_their_bytes_and_never_merge_with_a_live_redis_report() -> None:
    a, b = _dump("/d/node-1.rdb", "aa"), _dump("/d/node-2.rdb", "bb")
    m = _merge(a, b)
    assert m["target"]["part_kind"] == "rdb"
    assert [p["checksum"] for p in m["target"]["parts"]] == ["aa", "bb"]
    assert m["dump"]["keys_past_expiry"] == 2 and m["dump"]["databases"] == {"0": 10}
    for other, needle in ((_dump("/d/node-1.rdb", "cc"), "the same dump"),
                          (_dump("/elsewhere/copy.rdb", "aa"), "the same dump")):
        with pytest.raises(UsageError, match=needle):
            _merge(a, b, other)
    live = _report("redis://10.0.0.1:6379/0")
    live["target"] = {"kind": "redis", "location": "redis://10.0.0.1:6379/0",
                      "profile": "connect-redis", "nodes": ["10.0.0.1:6379", "10.0.0.2:6379"]}
    with pytest.raises(UsageError, match="live scan of a Redis Cluster"):
        _merge(a, live)


def test_group_histograms_add_even_where_the_parts_are_alike() -> None:
    hist = [{"upper_s": 3600, "count": 5}, {"upper_s": None, "count": 0}]
    g = {"profile": "connect-redis", "namespace": "sess", "sessions": 5, "ttl_histogram": hist,
         "created_histogram": hist}
    m = _merge(_report(host="h1", groups=[g]), _report(host="h2", groups=[dict(g)]))
    assert m["groups"][0]["ttl_histogram"][0]["count"] == 10
    assert m["groups"][0]["created_histogram"][0]["count"] == 10


def test_one_access_log_read_by_every_part_is_counted_once() -> None:
    log = {"files": ["/var/log/nginx/access.log"], "lines": 100, "first": "2026-12-01T00:00:00Z",
           "last": "2026-12-01T02:00:00Z"}

    def part(host: str, in_store: int, nbytes: int) -> dict:
        store = {"orphans_in_store": in_store, "bytes": nbytes, "allocated_bytes": None,
                 "share_of_sessions": 0.5, "share_of_bytes": 0.5,
                 "share_of_allocated_bytes": None, "method": "exact", "looked_up": 40}
        return _report(host=host, sessions=40, access_log=dict(log),
                       clients=[{"client": "10.0.0.5", "requests": 40, "issued": 40,
                                 "orphans": 40, "sessions": 40, "store": store}],
                       clients_summary={"clients": 1, "requests": 40, "orphans": 40},
                       routes=[{"route": "GET /ping", "issued": 40, "orphans": 40}])
    m = _merge(part("h1", 11, 110), part("h2", 29, 290))
    (c,) = m["clients"]
    assert (c["requests"], c["orphans"]) == (40, 40)  # the log's, once
    assert m["clients_summary"]["requests"] == 40 and m["routes"][0]["issued"] == 40
    assert c["store"]["orphans_in_store"] == 40 and c["store"]["bytes"] == 400
    assert c["store"]["share_of_sessions"] == 0.5  # 40 of the merged 80 sessions
    other = part("h2", 29, 290)
    other["access_log"] = {**log, "lines": 99}  # another host's log: rows add
    assert _merge(part("h1", 11, 110), other)["clients"][0]["requests"] == 80
