"""What the access logs say, in a merge: once when every part read the same log.

Clients, routes, user agents, races and the projection describe the access log, not the
store. Parts that read separate logs (each host its own) add their rows (sections.py). Parts
that read one log — every primary's dump scanned with the cluster's log, every partition of a
tree with the tree's — each counted all of it: adding would count every request once per
part. The log is recognised by its `access_log` summary (files, lines, parsed, first and last
times, cookie counts, sessions tracked); when every part's is the same, its sections are
taken once, and only what each part looked up in its own keys adds: a client's orphans still
in the store (`clients[].store`), whose shares are taken again against the merged store.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

LOG_SECTIONS = ("access_log", "clients_summary", "clients", "routes", "user_agents", "races",
                "minters_summary")


def one_log(reports: Sequence[dict]) -> bool:
    logs = [r.get("access_log") for r in reports]
    return len(logs) > 1 and all(logs) and all(x == logs[0] for x in logs[1:])


def _share(part: float | int | None, whole: int | None) -> float | None:
    return round(part / whole, 6) if whole and part is not None else None


def _store(stores: list[dict], out: dict) -> dict:
    exact = all(s.get("method") == "exact" for s in stores)
    orphans = sum(s.get("orphans_in_store") or 0 for s in stores)
    allocs = [s.get("allocated_bytes") for s in stores]
    alloc = None if any(a is None for a in allocs) else sum(allocs)  # type: ignore[arg-type]
    nbytes = sum(s.get("bytes") or 0 for s in stores)
    return {
        "orphans_in_store": round(orphans) if exact else round(orphans, 1),
        "bytes": nbytes, "allocated_bytes": alloc,
        "share_of_sessions": _share(orphans, out.get("sessions")),
        "share_of_bytes": _share(nbytes, out.get("bytes")),
        "share_of_allocated_bytes": _share(alloc, out.get("allocated_bytes")),
        "method": "exact" if exact else "sampled",
        "looked_up": stores[0].get("looked_up"),
    }


def take_once(out: dict, reports: Sequence[dict]) -> None:
    """The one log's sections from the first part; each client's store share added up."""
    first = reports[0]
    for key in LOG_SECTIONS:
        if key in first:
            out[key] = copy.deepcopy(first[key])
    stores: dict[Any, list[dict]] = {}
    for r in reports:
        for c in r.get("clients") or []:
            if c.get("store") is not None:
                stores.setdefault(c.get("client"), []).append(c["store"])
    for c in out.get("clients") or []:
        if c.get("client") in stores and c.get("store") is not None:
            c["store"] = _store(stores[c["client"]], out)


def projection(out: dict, part_kind: str) -> dict | None:
    """Growth at the log's rate, from the merged store (its sessions' cost, its limit)."""
    from sessdiag.analysis import projection as P
    from sessdiag.merging.derive import epoch

    log = out.get("access_log") or {}
    summary = out.get("minters_summary") or {}
    if not log.get("first") or not log.get("last"):
        return None
    span = epoch(log["last"]) - epoch(log["first"])
    return P.projection({**out, "target": {"kind": part_kind}}, summary.get("orphans") or 0,
                        span)


def log_findings(part: dict, store_lines: list[str]) -> list[str]:
    """A part's lines that come from its access log: those its store's findings lack."""
    return [f for f in part.get("findings") or [] if f not in store_lines]


def findings(out: dict, reports: Sequence[dict], store_findings: Any) -> list[str]:
    """The log's lines after the store's. One log: the first part's lines, with each
    client's and the projection's taken again from the merged numbers; separate logs: each
    part's lines once."""
    from sessdiag.analysis import cadence
    from sessdiag.analysis import projection as P

    per_part = [log_findings(r, store_findings(r)) for r in reports]
    if not one_log(reports):
        seen: list[str] = []
        for lines in per_part:
            seen.extend(x for x in lines if x not in seen)
        return seen
    lines = list(per_part[0])
    again = {c.get("client"): c for c in out.get("clients") or []}
    for c in reports[0].get("clients") or []:
        old = cadence.describe_client(c["client"], c)
        if old in lines and c.get("client") in again:
            new = cadence.describe_client(c["client"], again[c["client"]])
            lines = [new if x == old else x for x in lines if new is not None or x != old]
    old_p, new_p = reports[0].get("projection"), out.get("projection")
    if old_p is not None:
        old = P.finding(old_p)
        lines = [P.finding(new_p) if x == old and new_p is not None else x for x in lines
                 if x != old or new_p is not None]
    return lines
