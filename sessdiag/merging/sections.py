"""One merge rule per field family of a scan report (docs/report.md).

Each rule takes the field's value in every report (in the order given) and returns the
merged value. Derived fields (fractions, rates, the GC figure, findings) are not merged but
computed again from the merged numbers (derive.py), exactly as a single scan computes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sessdiag.census import EXAMPLES_PER_KIND
from sessdiag.merging import redis
from sessdiag.merging.values import (
    MIXED,
    add,
    add_counts,
    add_histograms,
    add_if_numbers,
    earliest,
    latest,
    merge_fields,
    merge_keyed,
    merge_value,
    same,
    smallest,
    union,
)

Values = Sequence[Any]


def examples(values: Values) -> dict[str, list[str]]:
    """Up to EXAMPLES_PER_KIND paths per kind: the smallest of the union (each scan keeps
    its smallest, census.add_example), so parts give what one scan gives."""
    kinds = union((v or {}).keys() for v in values)
    return {k: smallest(((v or {}).get(k, []) for v in values), EXAMPLES_PER_KIND)
            for k in kinds}


def extreme(values: Values, oldest: bool) -> dict | None:
    """The oldest (or newest) last access: the part's own point, mtime then age ordering."""
    points = [v for v in values if v]
    if not points:
        return None
    if oldest:
        return min(points, key=lambda p: (p["mtime"], -p["age_s"]))
    return max(points, key=lambda p: (p["mtime"], -p["age_s"]))


def shards(values: Values) -> dict:
    """Shard statistics from the parts' integer sums. A flat store's one shard (".") is split
    between partitions and is one shard again; every other shard has a single owner."""
    from sessdiag.report import shard_summary

    present = [v for v in values if v and v.get("count")]
    if not present:
        return shard_summary(0, 0, 0, None, None)
    if all(v["count"] == 1 and v["largest"]["path"] == "." for v in present):
        total = sum(v["sessions"] for v in present)
        return shard_summary(1, total, total * total, (".", total), (".", total))
    largest = min(((v["largest"]["path"], v["largest"]["sessions"]) for v in present),
                  key=lambda kv: (-kv[1], kv[0]))
    small = min(((v["smallest"]["path"], v["smallest"]["sessions"]) for v in present),
                key=lambda kv: (kv[1], kv[0]))
    return shard_summary(sum(v["count"] for v in present), sum(v["sessions"] for v in present),
                         sum(v["sum_squares"] for v in present), largest, small)


PAYLOAD_SETTINGS = ("method", "classification", "empty_sizes")


def payload_check(values: Values) -> dict:
    """Counts and reasons add; the method and sizes must agree (else "mixed")."""
    present = [v for v in values if v]

    def rule(key: str, vals: list[Any]) -> Any:
        if key in PAYLOAD_SETTINGS or key == "note":
            return same(vals)
        if key == "undecodable_reasons":
            return dict(sorted((add_counts(vals) or {}).items()))
        return add_if_numbers(vals, merge_value)

    out = merge_fields(present, rule)
    if out.get("method") == "sample":
        out["note"] = (f"sizes classify every session; {out.get('decoded', 0)} random payloads "
                       f"decoded in {len(present)} parts, each a sample of its part, so "
                       "'undecodable' counts those samples only (use --deep for all)")
    return out


FS_PLACE = ("mountpoint", "fstype", "device", "latency_bound", "block_size")
STORE_SHARES = ("store_inodes", "store_inode_share_of_used", "store_inode_share_of_total",
                "store_byte_share_of_used")


def filesystem(values: Values) -> dict | None:
    """One filesystem (a shared tree): its description and use from the latest part (use is
    measured at scan time), the store's inodes added and its shares computed again. Several
    filesystems: each listed in `filesystems`, no figure of use and no shares."""
    from sessdiag.core.contract import frac

    present = [v for v in values if v]
    if not present:
        return None
    places = union([tuple(v.get(k) for k in FS_PLACE)] for v in present)
    entries = sum(v.get("store_inodes") or 0 for v in present)
    if len(places) == 1:
        out = {k: v for k, v in present[-1].items() if k not in STORE_SHARES}
    else:
        keys = union(v.keys() for v in present)
        out = {k: None for k in keys if k not in STORE_SHARES}
        out["filesystems"] = [dict(zip(FS_PLACE, p, strict=True)) for p in places]
    out["store_inodes"] = entries
    used, total = out.get("inodes_used"), out.get("inodes_total")
    out["store_inode_share_of_used"] = None if used is None else frac(entries, used)
    out["store_inode_share_of_total"] = None if total is None else frac(entries, total)
    return out


def scan_run(values: Values) -> dict:
    """How the parts ran: the longest duration, workers added (per run, never compared)."""
    present = [v for v in values if v]

    def rule(key: str, vals: list[Any]) -> Any:
        if key == "duration_s":
            return max(x for x in vals if x is not None)
        return add_if_numbers(vals, same)

    return {"parts": len(present), **merge_fields(present, rule)}


# -- keyed sections: groups, clients, routes, user agents, races ------------------------

GROUP_COUNTS = ("sessions", "bytes", "allocated_bytes", "expired", "empty", "orphans", "no_ttl",
                "undecodable", "decoded", "oversized", "future_last_access", "bad_timestamps",
                "allocated_sample")


def _rows(rows: list[dict], counts: Sequence[str], special: dict[str, Any]) -> dict:
    out: dict[str, Any] = {}
    for key in union(r.keys() for r in rows):
        vals = [r.get(key) for r in rows]
        if key in special:
            out[key] = special[key](vals)
        elif key in counts:
            out[key] = add(vals)
        else:
            out[key] = merge_value(vals)
    return out


GROUP_SPECIAL = {"formats": add_counts, "undecodable_reasons": add_counts,
                 "oldest_access": earliest, "newest_access": latest, "examples": examples,
                 "age_histogram": lambda v: add_histograms(v, "groups[].age_histogram"),
                 # Histograms add even where parts are alike (merge_value keeps one of
                 # equal values): two primaries with 5 sessions each hold 10.
                 "ttl_histogram": lambda v: add_histograms(v, "groups[].ttl_histogram"),
                 "created_histogram": lambda v: add_histograms(
                     [h for h in v if h is not None], "groups[].created_histogram"),
                 **redis.GROUP_SPECIAL}


def groups(values: Values) -> list[dict]:
    """By (profile, namespace); counts add."""
    return merge_keyed(values, lambda g: (g.get("profile"), g.get("namespace")),
                       lambda rows: _rows(rows, GROUP_COUNTS, GROUP_SPECIAL))


CLIENT_COUNTS = ("requests", "requests_without_cookie", "sessions", "issued", "presented_back",
                 "presented_first_seen", "orphans", "active_hours", "cookie_cleared")


def _client(rows: list[dict]) -> dict:
    out = _rows(rows, CLIENT_COUNTS, {"first_seen": earliest, "last_seen": latest})
    if len(rows) > 1:
        issued = out.get("issued") or 0
        orphans = out.get("orphans") or 0
        out["orphan_fraction"] = round(orphans / issued, 4) if issued else 0.0
        # Cadence and store shares are per part; a client seen by several parts keeps none.
        for key in ("cadence", "store", "orphan_rate_per_hour", "span_hours"):
            if key in out and out[key] == MIXED:
                out[key] = None
    return out


def clients(values: Values) -> list[dict]:
    """By client; sorted as a scan sorts them (orphans, sessions, requests, then name)."""
    rows = merge_keyed(values, lambda c: c.get("client"), _client)
    return sorted(rows, key=lambda r: (-(r.get("orphans") or 0), -(r.get("sessions") or 0),
                                       -(r.get("requests") or 0), str(r.get("client"))))


def _minters_row(rows: list[dict], counts: Sequence[str]) -> dict:
    """A route or agent seen by several parts: counts add, the orphan fraction is taken
    again from them, and what only one part can say (its span, its rate, how many raw
    paths it saw) is dropped rather than shown as MIXED."""
    out = _rows(rows, counts, {})
    if len(rows) > 1 and "orphan_fraction" in out:
        issued = out.get("issued") or 0
        orphans = out.get("orphans") or 0
        out["orphan_fraction"] = round(orphans / issued, 4) if issued else 0.0
    if len(rows) > 1:
        if out.get("route") == MIXED:  # one raw path in one part, several in another
            out["route"] = out.get("template")
        if out.get("example") == MIXED:
            out["example"] = next((r["example"] for r in rows if r.get("example")), None)
        for key in ("orphan_rate_per_hour", "span_hours", "distinct_routes",
                    "distinct_routes_capped", "clients_capped"):
            if key in out and out[key] == MIXED:
                out[key] = None
    return out


def routes(values: Values) -> list[dict]:
    """By route template (a part that saw one raw path under it names the path, not the
    template: both are one row)."""
    rows = merge_keyed(values, lambda r: r.get("template") or r.get("route"),
                       lambda rs: _minters_row(rs, ("issued", "orphans")))
    return sorted(rows, key=lambda r: (-(r.get("orphans") or 0), -(r.get("issued") or 0),
                                       str(r.get("route"))))


def user_agents(values: Values) -> list[dict]:
    rows = merge_keyed(values, lambda r: (r.get("user_agent"), r.get("class")),
                       lambda rs: _minters_row(rs, ("clients", "issued", "orphans")))
    return sorted(rows, key=lambda r: (-(r.get("orphans") or 0), -(r.get("issued") or 0),
                                       str(r.get("user_agent"))))


def races(values: Values) -> list[dict]:
    """Every part's events, each once, in time order."""
    events = union(v or [] for v in values)
    return sorted(events, key=lambda e: (str(e.get("at")), str(e.get("client"))))


def counts_map(values: Values) -> dict | None:
    """Maps of counts (anomalies, other_anomalies, keyspace figures): added key by key."""
    present = [v for v in values if v is not None]
    if not present:
        return None

    def nested(vals: list[Any]) -> Any:
        if all(isinstance(x, dict) or x is None for x in vals):
            return counts_map(vals)
        return merge_value(vals)

    return merge_fields(present, lambda _key, vals: add_if_numbers(vals, nested))
