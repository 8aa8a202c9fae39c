"""`sessdiag merge`: join `sessdiag.scan/1` reports of disjoint parts into one report.

The parts are partitions of a shared tree (`scan --partition K/N`), separate hosts' trees, or
Redis servers. Counts and histograms add, keyed sections merge by key, samples kept by a total
order merge to the union's, and every derived field is computed again from the merged
numbers: with `--deep` parts the merge equals, field for field, one scan of the whole
(except the per-run fields: the scan's workers and duration, the filesystem's use). Each
field family has its own rule (sections.py); what the parts must agree on is checked first
(exit 2).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sessdiag.core.contract import SCAN_SCHEMA
from sessdiag.core.errors import UsageError
from sessdiag.merging import derive, logs, parts, sections
from sessdiag.merging import redis as redis_rules
from sessdiag.merging.values import add, add_histograms, merge_value, same, timeline, union

Rule = Callable[[Sequence[Any]], Any]

# Field -> rule. Fields no rule names keep a value the parts agree on and become "mixed"
# otherwise (a field added later must get its rule here to merge).
RULES: dict[str, Rule] = {
    "schema": lambda v: v[0],
    "generated_at": lambda v: max(v),
    "max_lifetime_s": lambda v: v[0],
    "max_lifetime_source": same,
    "sessions": add, "bytes": add, "allocated_bytes": add, "expired": add, "empty": add,
    "dirs": add, "orphans": add, "no_ttl": add, "companion_no_ttl": add,
    "age_histogram": lambda v: add_histograms(v, "age_histogram"),
    "anomalies": sections.counts_map,
    "other_anomalies": sections.counts_map,
    "keyspace": sections.counts_map,
    "clients_summary": sections.counts_map,
    "groups": sections.groups,
    "clients": sections.clients,
    "races": sections.races,
    "routes": sections.routes,
    "user_agents": sections.user_agents,
    "warnings": union,
    "payload_check": sections.payload_check,
    "oldest": lambda v: sections.extreme(v, oldest=True),
    "newest": lambda v: sections.extreme(v, oldest=False),
    "anomaly_examples": sections.examples,
    "shards": sections.shards,
    "empty_timeline": timeline,
    "filesystem": sections.filesystem,
    "scan": sections.scan_run,
    "server": redis_rules.server,
    "dump": redis_rules.dump,
    # How the walk went (latencies, requests in flight): per run; kept where parts agree.
    "walk": merge_value,
}
# Computed again from the merged numbers (derive.py), never merged.
DERIVED = ("expired_fraction", "empty_fraction", "empty_rate", "gc_estimate", "cadence",
           "findings", "namespace_drift", "projection")


def load_report(path: str) -> dict:
    """A saved scan report; UsageError (exit 2, one line) for anything else."""
    from sessdiag.core.textfile import read_text

    try:
        data = json.loads(read_text(path))
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{path}: not a JSON report ({exc})") from exc
    if not isinstance(data, dict) or data.get("schema") != SCAN_SCHEMA:
        raise UsageError(f"{path}: not a {SCAN_SCHEMA} report (sessdiag scan --json writes one)")
    for key in ("target", "max_lifetime_s", "sessions", "age_histogram", "groups"):
        if key not in data:
            raise UsageError(f"{path}: a {SCAN_SCHEMA} report without '{key}'")
    return data


def merge_reports(reports: Sequence[dict], sources: Sequence[str]) -> dict:
    """The report of the union of disjoint parts. UsageError when they cannot be joined."""
    if not reports:
        raise UsageError("merge needs at least one report")
    _agree(reports, sources)
    all_parts = [p for r, s in zip(reports, sources, strict=True) for p in parts.parts_of(r, s)]
    parts.check_disjoint(all_parts)
    out: dict[str, Any] = {}
    for key in union(r.keys() for r in reports):
        values = [r[key] for r in reports if key in r]
        if key == "target" or key in DERIVED:
            out[key] = None  # keeps the field's place; filled below
        elif key in RULES:
            out[key] = RULES[key](values)
        else:
            out[key] = merge_value(values)
    out["target"] = parts.merged_target([r["target"] for r in reports], all_parts)
    out["warnings"] = union([[w for w in out.get("warnings") or []
                              if not parts.is_coverage_warning(w)],
                             parts.coverage_warnings(all_parts)])
    if logs.one_log(reports):
        logs.take_once(out, reports)
    if any(r.get("projection") for r in reports):
        out["projection"] = logs.projection(out, out["target"]["part_kind"])
    _derive(out, reports)
    return out


def _agree(reports: Sequence[dict], sources: Sequence[str]) -> None:
    """What every part must share: the lifetime `expired` was measured against."""
    first = reports[0].get("max_lifetime_s")
    for r, src in zip(reports, sources, strict=True):
        if r.get("max_lifetime_s") != first:
            raise UsageError(f"{src}: max_lifetime_s {r.get('max_lifetime_s')} differs from "
                             f"{sources[0]}'s {first}: scan every part with the same lifetime")


def _derive(out: dict, reports: Sequence[dict]) -> None:
    derive.fractions(out)
    derive.filesystem_shares(out)
    files = out["target"]["part_kind"] == "files"
    if redis_rules.is_redis({p.get("kind") for p in out["target"]["parts"]}):
        if "cadence" in out:
            out["cadence"] = merge_value([r.get("cadence") for r in reports])
        redis_rules.derive(out, reports)
        return
    if files and "empty_timeline" in out:
        derive.empty_rate(out)
    elif "empty_rate" in out:
        out["empty_rate"] = merge_value([r.get("empty_rate") for r in reports])
    if "namespace_drift" in out:
        out["namespace_drift"] = merge_value([r.get("namespace_drift") for r in reports])
    if "gc_estimate" in out:
        out["gc_estimate"] = derive.gc_estimate(reports) if files else merge_value(
            [r.get("gc_estimate") for r in reports])
    if files and "other_anomalies" in out and "filesystem" in out:
        derive.file_findings(out)
        # the store's lines, then the access log's (kept from the parts, see logs.py)
        out["findings"] += logs.findings(out, reports, derive.file_store_findings)
    else:
        if "cadence" in out:
            out["cadence"] = merge_value([r.get("cadence") for r in reports])
        derive.part_findings(out, reports)
