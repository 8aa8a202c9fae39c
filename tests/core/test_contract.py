"""core.contract: the fields every scan report shares, built once (files and Redis alike)."""

from __future__ import annotations

import os
import re
import tracemalloc

from sessdiag.core import contract
from sessdiag.fixtures import FixtureSpec, make_tree

NOW = 1_790_000_000  # 800 s into epoch hour 497222
CUR = NOW // 3600


def test_rate_of_a_bogus_hour_is_bucket_bounded() -> None:
    hours = {490_000: 3, 490_001: 4, 490_002: 5, 10_000_000: 1}
    tracemalloc.start()
    try:
        r = contract.hourly_rate(hours)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # the dense list of the span was 80 MB
    assert r is not None
    assert r["hours"] == 10_000_000 - 490_000 + 1
    assert r["per_hour_floor"] == 0 and r["per_hour_median"] == 0


def test_rate_without_gaps() -> None:
    r = contract.hourly_rate({10: 1, 11: 6, 12: 2, 13: 9, 14: 1})
    assert r is not None
    assert (r["per_hour_floor"], r["per_hour_median"], r["hours"]) == (2, 6, 5)
    assert contract.hourly_rate({10: 1, 11: 1})["per_hour_median"] is None  # type: ignore[index]
    assert "last_24h_per_hour" not in r  # only with `now`
    assert contract.hourly_rate({}) is None


def test_last_day_is_24_buckets_ending_at_now() -> None:
    hours = {CUR - 24: 1000, CUR - 23: 24, CUR: 24, CUR + 1: 500}
    assert contract.last_24h_per_hour(hours, NOW) == 2.0
    # The same at the very start and the very end of the current hour.
    assert contract.last_24h_per_hour(hours, CUR * 3600) == 2.0
    assert contract.last_24h_per_hour(hours, CUR * 3600 + 3599.9) == 2.0
    assert contract.hourly_rate(hours, NOW)["last_24h_per_hour"] == 2.0  # type: ignore[index]


def test_anomalies_not_measured_are_none() -> None:
    an = contract.anomalies({"undecodable": 3}, bad_timestamps=1)
    assert an == {"symlinks": None, "foreign": None, "misplaced": None, "zero_byte": None,
                  "undecodable": 3, "unreadable": None, "bad_timestamps": 1}


def test_common_fields_in_contract_order() -> None:
    r = contract.scan_report(
        target={"kind": "x", "location": "loc"}, now=NOW + 0.75, max_lifetime_s=3600,
        sessions=4, bytes_=10, allocated_bytes=None, expired=1, empty=3, age_edges=(60, 3600),
        age_counts=[1, 2, 1], anomalies=contract.anomalies({}), gc_estimate=None, groups=[],
        warnings=[])
    assert tuple(r) == contract.COMMON_FIELDS
    assert r["generated_at"] == "2026-09-21T14:13:20Z"
    assert r["expired_fraction"] == 0.25 and r["empty_fraction"] == 0.75
    assert r["age_histogram"] == [{"upper_s": 60, "count": 1}, {"upper_s": 3600, "count": 2},
                                  {"upper_s": None, "count": 1}]


def test_file_report_counts_the_last_day_in_24_buckets(cli, tmp_path) -> None:
    """The file report summed 25 hourly buckets (and divided by 24), Redis 24."""
    root = tmp_path / "store"
    exp = make_tree(str(root), FixtureSpec.from_mapping(dict(
        sessions=48, empty_fraction=1.0, expired_fraction=0.0, seed=3, now=NOW,
        max_lifetime="30d")))
    assert exp["empty"] == 48
    paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
    assert len(paths) == 48
    for i, p in enumerate(paths):
        # Half in the hour 24 hours before the current one (outside the day), half now.
        t = NOW - 86400 - 600 if i % 2 else NOW - 600
        os.utime(p, (t, t))
    r = cli("scan", root, "--json", "--now", NOW, "--max-lifetime", "30d").json()
    assert r["empty"] == 48
    assert r["empty_rate"]["last_24h_per_hour"] == 1.0  # 24 in the last day / 24
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["generated_at"])
