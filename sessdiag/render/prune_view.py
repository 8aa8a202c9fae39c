"""Renders the `sessdiag.prune/1` report for the terminal; a pure function of it."""

from __future__ import annotations

from typing import Any


def prune_view(r: dict) -> Any:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from sessdiag.core.units import format_duration

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column(overflow="fold")  # a long store path wraps, never cut to "…"
    if r["target"]["kind"] == "redis":
        _redis_rows(head, r)
    else:
        _file_rows(head, r)
    if r.get("skipped_other"):
        head.add_row("skipped (other)", ", ".join(f"{k} {v:,}"
                                                  for k, v in r["skip_reasons"].items()))
    for key, label in (("vanished", "vanished"), ("not_attempted", "not attempted"),
                       ("errors", "errors")):
        if r[key]:
            head.add_row(label, f"{r[key]:,}")
    workers = f", {r['jobs']} {r['workers']}" if "jobs" in r else ""
    head.add_row("run", f"{r['duration_s']:.2f}s{workers}"
                        + (f", {r['rate_per_s']:,.0f} deletions/s" if r["deleted"] else "")
                        + (f", stopped by {r['stopped_by']}" if r["stopped_by"] else ""))
    parts: list[Any] = [Panel(head, title="sessdiag prune", title_align="left")]
    if r["target"]["kind"] == "redis":
        parts.extend(_redis_tables(r))

    hist = Table(box=None, padding=(0, 1))
    hist.add_column("up to", justify="right")
    hist.add_column("count", justify="right")
    for b in r.get("age_spread", {}).get("histogram", []):
        if b["count"]:
            label = "older" if b["upper_s"] is None else format_duration(b["upper_s"])
            hist.add_row(label, f"{b['count']:,}")
    if r["candidates"] and "age_spread" in r:
        parts.append(Text("candidates by age since last touch", style="italic"))
        parts.append(hist)
    if r["sample"] and r["dry_run"]:
        s = Text("sample of candidates:\n", style="bold")
        for p in r["sample"]:
            s.append(f"  {p}\n", style="dim")
        parts.append(s)
    an = [(k, v) for k, v in r.get("anomalies", {}).items() if v]
    if an:
        tbl = Table(title="not touched (anomalies)", title_justify="left", box=None,
                    padding=(0, 1))
        tbl.add_column("kind")
        tbl.add_column("count", justify="right")
        tbl.add_column("example")
        for k, v in an:
            ex = (r["anomaly_examples"].get(k) or [""])[0]
            tbl.add_row(k, f"{v:,}", Text(ex, style="dim"))
        parts.append(tbl)
    for ex in r["error_examples"]:
        parts.append(Text(f"error: {ex}", style="red"))
    for ref in r["safety"]["refusals"]:
        parts.append(Text(("would refuse: " if r["dry_run"] else "refused: ") + ref,
                          style="bold red"))
    for w in r["warnings"]:
        parts.append(Text(f"warning: {w}", style="yellow"))
    return Group(*parts)


def _file_rows(head: Any, r: dict) -> None:
    from sessdiag.core.units import format_bytes, format_duration, format_percent

    t = r["target"]
    mode = "DRY RUN (nothing changed; --apply to delete)" if r["dry_run"] else (
        f"applied ({r['protocol']})" if r["applied"] else "apply: nothing done")
    head.add_row("store", f"{t['location']}  ({t['profile']}: {t['layout']})")
    head.add_row("mode", mode)
    head.add_row("max age", f"{format_duration(r['max_age_s'])} + grace "
                            f"{format_duration(r['grace_s'])}: last touched before {r['cutoff']}")
    c = r["clock"]
    head.add_row("clock", f"filesystem - local = {c['fs_minus_local_s']:+.3f} s "
                          f"(probe: {c['source']})")
    head.add_row("sessions", f"{r['sessions']:,} ({format_bytes(r['session_bytes'])})")
    head.add_row("candidates", f"{r['candidates']:,} ({format_percent(r['candidate_fraction'])}; "
                               f"{format_bytes(r['candidate_allocated_bytes'])} on disk)")
    if not r["dry_run"]:
        verb = "quarantined" if r["action"] == "quarantine" else "deleted"
        head.add_row(verb, f"{r['deleted']:,} ({format_bytes(r['bytes_freed'])} freed)")
        head.add_row("skipped (touched)", f"{r['skipped_fresh']:,}"
                     + (f", {r['restored']:,} put back" if r["restored"] else ""))


def _redis_rows(head: Any, r: dict) -> None:
    from sessdiag.core.units import format_bytes, format_percent

    t = r["target"]
    mode = "DRY RUN (nothing changed; --apply to change)" if r["dry_run"] else (
        "applied (compare-and-delete on the server)" if r["applied"] else
        "apply: nothing done")
    head.add_row("store", f"{t['location']}  ({t['topology']}, {t['nodes']:,} "
                          f"{'node' if t['nodes'] == 1 else 'nodes'})")
    head.add_row("mode", mode)
    head.add_row("judged as of", str(r["judged_as_of"]))
    head.add_row("sessions", f"{r['sessions']:,} of {r['keys_seen']:,} keys")
    head.add_row("candidates", f"{r['candidates']:,} sessions "
                               f"({format_percent(r['candidate_fraction'])}), "
                               f"{r['companion_candidates']:,} companion keys, "
                               f"{r['index_member_candidates']:,} index members"
                 + (f", {r['fix_ttl_candidates']:,} TTLs to set" if r["fix_ttl"] else ""))
    if not r["dry_run"]:
        head.add_row("deleted", f"{r['deleted']:,} sessions, {r['companions_deleted']:,} "
                                f"companions ({format_bytes(r['bytes_freed'])} freed)")
        head.add_row("index members", f"{r['index_members_removed']:,} removed, "
                                      f"{r['index_sets_emptied']:,} sets left empty (gone)")
        if r["fix_ttl"]:
            head.add_row("TTLs set", f"{r['ttl_set']:,}")
        why = ", ".join(f"{k} {v:,}" for k, v in r["fresh_reasons"].items())
        head.add_row("skipped (touched)", f"{r['skipped_fresh']:,}" + (f" ({why})" if why
                                                                        else ""))
    b = r.get("backup")
    if b:
        head.add_row("backup", f"{b['path']} ({b['records']:,} records)" if b["written"]
                     else f"{b['path']} (dry run: not written)")


def _redis_tables(r: dict) -> list[Any]:
    from rich.table import Table

    out: list[Any] = []
    if r["groups"]:
        g = Table(title="by framework and namespace", title_justify="left", box=None,
                  padding=(0, 1))
        for col in ("profile", "namespace", "sessions", "leaked", "companions", "members"):
            g.add_column(col, justify="left" if col in ("profile", "namespace") else "right")
        for x in r["groups"]:
            g.add_row(x["profile"], x["namespace"] or '""', f"{x['sessions']:,}",
                      f"{x['candidates']:,}", f"{x['companions']:,}",
                      f"{x['index_members']:,}")
        out.append(g)
    if r["reasons"]:
        w = Table(title="why", title_justify="left", box=None, padding=(0, 1))
        w.add_column("reason")
        w.add_column("count", justify="right")
        for k, v in r["reasons"].items():
            w.add_row(k, f"{v:,}")
        out.append(w)
    return out
