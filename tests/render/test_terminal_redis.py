"""The Redis terminal view renders every section of a report, and scan_view delegates to it."""

from __future__ import annotations

from rich.console import Console

from sessdiag.render.terminal import scan_view


def _report() -> dict:
    hist = [{"upper_s": 3600, "count": 5}, {"upper_s": None, "count": 1}]
    ttl = [{"upper_s": 60, "count": 0}, {"upper_s": 3600, "count": 6}, {"upper_s": None,
                                                                         "count": 0}]
    spring = {
        "profile": "spring-session", "framework": "Spring Session", "namespace": "spring:session",
        "sessions": 6, "bytes": 600, "allocated_bytes": 2048, "allocated_sample": 6,
        "expired": 1, "empty": 4, "orphans": 4, "no_ttl": 0, "undecodable": 1, "decoded": 6,
        "lifetime_s": 1800, "age_source": "recorded", "age_histogram": hist,
        "ttl_histogram": ttl, "undecodable_reasons": {"gadget class X": 1},
        "examples": {"undecodable": ["spring:session:sessions:0b8a0e5e…"]},
        "orphan_timeline": [{"hour": "2026-11-21T03:00:00Z", "count": 3},
                            {"hour": "2026-11-22T01:00:00Z", "count": 1}],
        "companions": {"repository": "indexed", "shadow_keys": 7,
                       "shadow_keys_without_session": 2, "expirations_sets": 3,
                       "expirations_no_ttl": 1, "expirations_past": 1, "index_sets": 2,
                       "index_members_dead": None},
    }
    simple = dict(spring, profile="spring-session-simple", namespace="myapp",
                  allocated_bytes=None, undecodable=0, undecodable_reasons={},
                  orphan_timeline=[])
    simple.pop("companions")
    return {
        "target": {"kind": "redis", "location": "redis://10.0.0.5:6379/0", "profile":
                   "spring-session", "mode": "cluster", "nodes": ["a:1", "b:2", "c:3"]},
        "sessions": 12, "bytes": 1200, "allocated_bytes": None, "expired": 2,
        "expired_fraction": 1 / 6, "empty": 8, "orphans": 8, "no_ttl": 0,
        "age_histogram": hist, "anomalies": {"undecodable": 1}, "groups": [spring, simple],
        "namespace_drift": [{"framework": "Spring Session", "shared_principals": 1,
                             "namespaces": [{"namespace": "spring:session", "sessions": 6,
                                             "principals": 2},
                                            {"namespace": "myapp", "sessions": 6,
                                             "principals": 1}]}],
        "server": {"version": "7.0.15", "used_memory": 10 << 20, "maxmemory": 16 << 20,
                   "maxmemory_policy": "noeviction", "notify_keyspace_events": ""},
        "keyspace": {"keys_seen": 30, "other_keys": 2},
        "scan": {"duration_s": 0.5, "commands": 100, "rate_observed": 200.0,
                 "rate_limit": 500, "rounds": 3},
        "payload_check": {"method": "sample", "decoded": 12},
        "findings": ["namespace drift: Spring Session writes under 2 namespaces"],
    }


def test_every_section_renders() -> None:
    console = Console(width=140, record=True)
    console.print(scan_view(_report()))
    out = console.export_text()
    for part in ("sessdiag scan (Redis)", "cluster, Redis 7.0.15, 3 primaries",
                 "not measured", "capped at 500/s", "sessions by framework and namespace",
                 "age since last access", "remaining TTL: spring-session spring:session",
                 "never-reused sessions created per day", "companion keys", "namespace drift",
                 "undecodable values", "gadget class X", "findings", "noeviction"):
        assert part in out, part
