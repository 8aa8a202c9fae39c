"""Fields a report derives from its numbers, computed again for the merged numbers.

A merged report must read as a single scan of the whole would: fractions, the empty-session
rate, the GC stall figure, the creation cadence and the findings are functions of the merged
counts, not averages of the parts' figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sessdiag.core import contract


def epoch(iso_time: str) -> float:
    return datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp()


def fractions(r: dict) -> None:
    n = r.get("sessions") or 0
    for count, share in (("expired", "expired_fraction"), ("empty", "empty_fraction")):
        if share in r:
            r[share] = contract.frac(r.get(count) or 0, n)


def filesystem_shares(r: dict) -> None:
    """The store's share of its filesystem's bytes, from the merged allocated bytes."""
    fs = r.get("filesystem")
    if isinstance(fs, dict) and "bytes_used" in fs:
        used = fs.get("bytes_used")
        fs["store_byte_share_of_used"] = (None if used is None else
                                          contract.frac(r.get("allocated_bytes") or 0, used))


def empty_rate(r: dict) -> None:
    """A file report's rate of empty sessions from the merged hourly timeline."""
    hours = {int(epoch(row["hour"])) // 3600: row["count"] for row in r["empty_timeline"]}
    r["empty_rate"] = contract.hourly_rate(hours, epoch(r["generated_at"]))


def _tree_key(report: dict) -> tuple:
    t = report.get("target") or {}
    host = None if t.get("partition") else t.get("host")
    return t.get("location"), host


def gc_estimate(reports: Sequence[dict]) -> dict | None:
    """beego's GC stall: one figure per tree from the tree's merged counts (partitions of a
    shared tree add up to the tree one GC walks), the longest of them when the parts are
    separate trees (each app's GC walks its own)."""
    from sessdiag.analysis.gcstall import STATIC_MODEL, GcCounts, gc_figure, static_model

    figs = [r.get("gc_estimate") for r in reports]
    if all(f is None for f in figs):
        return None
    if any(f is None or f.get("model") != STATIC_MODEL for f in figs):
        # Not the model a scan uses: no way to recompute it; the longest part's figure.
        return max((f for f in figs if f), key=lambda f: f.get("seconds") or 0)
    trees: dict[tuple, list[dict]] = {}
    for r in reports:
        trees.setdefault(_tree_key(r), []).append(r)
    out = []
    for parts in trees.values():
        counts = GcCounts(
            files=sum(p["sessions"] + p["anomalies"]["misplaced"] + p["anomalies"]["symlinks"]
                      + p["anomalies"]["foreign"]
                      - p["other_anomalies"]["foreign_directories"] for p in parts),
            dirs=sum(p["dirs"] for p in parts),
            expired_sessions=sum(p["expired"] for p in parts),
            old_non_sessions=sum(p["other_anomalies"]["old_non_sessions"] for p in parts))
        link = [p["gc_estimate"] for p in parts if p["gc_estimate"].get("walks_nothing")]
        root_link_old = bool(link[0]["expired"]) if link else None
        out.append(gc_figure(counts, static_model(), root_link_old=root_link_old))
    fig = max(out, key=lambda f: f["seconds"])
    if len(out) > 1:
        fig = {**fig, "trees": len(out),
               "note": f"the longest stall of {len(out)} trees: each app's GC walks its own"}
    return fig


def file_findings(r: dict) -> None:
    """Findings and cadence as a scan writes them: the report's lines, then the cadence's."""
    from sessdiag.analysis.cadence import attach_store_cadence
    from sessdiag.report import findings

    r.pop("cadence", None)
    r["findings"] = findings(r)
    attach_store_cadence(r)


def file_store_findings(part: dict) -> list[str]:
    """A file part's own store lines (what file_findings writes for it alone): the lines of its
    findings that are not among them came from its access log."""
    alone = {k: v for k, v in part.items() if k not in ("findings", "cadence")}
    file_findings(alone)
    return alone["findings"]


def part_findings(r: dict, part_reports: Sequence[dict]) -> None:
    """Reports whose findings cannot be recomputed here (Redis): each part's, once."""
    from sessdiag.merging.values import union

    r["findings"] = union(p.get("findings") or [] for p in part_reports)
