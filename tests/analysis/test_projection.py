"""Where the minting leads: growth per day, inodes and maxmemory, with and without expiry."""

from __future__ import annotations

import os

from sessdiag.analysis.projection import finding, projection

FILES = {"target": {"kind": "files"}, "sessions": 1000, "allocated_bytes": 4096 * 1000,
         "max_lifetime_s": 30 * 86400,
         "filesystem": {"inodes_total": 1_000_000, "inodes_used": 400_000,
                        "inodes_available": 500_000}}
REDIS = {"target": {"kind": "redis"}, "sessions": 100, "allocated_bytes": 100 * 200,
         "max_lifetime_s": 1800,
         "server": {"used_memory": 1_000_000, "maxmemory": 11_000_000,
                    "maxmemory_policy": "noeviction"}}


def test_files_inodes_run_out_without_expiry_and_fit_with_it():
    # 600 orphans over 6 hours: 2,400 a day, one 4 KiB file each.
    p = projection(FILES, 600, 6 * 3600)
    assert p["orphans_per_day"] == 2400.0 and p["bytes_per_day"] == 2400 * 4096
    assert p["steady_state_orphans"] == 72_000
    lim = p["limit"]
    # f_favail (what the app may still use), not total minus used.
    assert (lim["kind"], lim["available"], lim["total"]) == ("inodes", 500_000, 1_000_000)
    assert lim["days_until_full"] == round(500_000 / 2400, 1) and lim["steady_state_fits"]
    line = finding(p)
    assert "2,400 orphan sessions a day (9.4 MiB)" in line
    assert "free inodes last 208 days if nothing expires" in line
    assert "level off at 72,000, which fits" in line


def test_a_short_log_is_not_extrapolated_from_seconds():
    p = projection(FILES, 40, 2.0)  # 40 in two seconds: at most 40 an hour
    assert p["orphans_per_day"] == 960.0


def test_redis_until_maxmemory_and_without_it():
    p = projection(REDIS, 50, 3600)  # 1,200 a day, 200 B each
    lim = p["limit"]
    assert (lim["kind"], lim["available"], lim["policy"]) == ("maxmemory", 10_000_000,
                                                               "noeviction")
    assert lim["days_until_full"] == round(10_000_000 / (1200 * 200), 1)
    assert lim["steady_state_fits"]  # 1,200 a day x 30 min lifetime = 25 keys
    p = projection(dict(REDIS, server={"used_memory": 1_000_000, "maxmemory": 0}), 50, 3600)
    assert p["limit"]["days_until_full"] is None
    assert "no maxmemory" in finding(p)


def test_no_orphans_no_projection():
    assert projection(FILES, 0, 3600) is None


def test_scan_with_logs_projects_the_real_filesystem(cli, tmp_path, combined_log):
    from sessdiag.fixtures import FixtureSpec, make_tree

    store = tmp_path / "store"
    make_tree(str(store), FixtureSpec.from_mapping(dict(sessions=20, seed=3)))
    rows = [(1_790_000_000 + i * 60.0, "10.0.0.5", "/health", None, f"{i:032x}")
            for i in range(30)]
    log = combined_log("beegosessionID", rows)
    r = cli("scan", store, "--access-log", log, "--json", "--max-lifetime", "1d").json()
    p = r["projection"]
    assert p["orphans"] == 30 and p["orphans_per_day"] == 720.0  # 29 minutes: per hour at most
    sv = os.statvfs(store)
    assert p["limit"]["kind"] == "inodes" and p["limit"]["total"] == sv.f_files
    assert r["filesystem"]["inodes_available"] == p["limit"]["available"]
    assert any(f.startswith("at the logs' rate the store gains") for f in r["findings"])
