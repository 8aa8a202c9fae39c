"""Renders the `sessdiag.prune/1` report for the terminal; a pure function of it."""

from __future__ import annotations

from typing import Any


def prune_view(r: dict) -> Any:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from sessdiag.core.units import format_bytes, format_duration, format_percent

    t = r["target"]
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column(overflow="fold")  # a long store path wraps, never cut to "…"
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
    if r["skipped_other"]:
        head.add_row("skipped (other)", ", ".join(f"{k} {v:,}"
                                                  for k, v in r["skip_reasons"].items()))
    for key, label in (("vanished", "vanished"), ("not_attempted", "not attempted"),
                       ("errors", "errors")):
        if r[key]:
            head.add_row(label, f"{r[key]:,}")
    head.add_row("run", f"{r['duration_s']:.2f}s, {r['jobs']} {r['workers']}"
                        + (f", {r['rate_per_s']:,.0f} deletions/s" if r["deleted"] else "")
                        + (f", stopped by {r['stopped_by']}" if r["stopped_by"] else ""))
    parts: list[Any] = [Panel(head, title="sessdiag prune", title_align="left")]

    hist = Table(box=None, padding=(0, 1))
    hist.add_column("up to", justify="right")
    hist.add_column("count", justify="right")
    for b in r["age_spread"]["histogram"]:
        if b["count"]:
            label = "older" if b["upper_s"] is None else format_duration(b["upper_s"])
            hist.add_row(label, f"{b['count']:,}")
    if r["candidates"]:
        parts.append(Text("candidates by age since last touch", style="italic"))
        parts.append(hist)
    if r["sample"] and r["dry_run"]:
        s = Text("sample of candidates:\n", style="bold")
        for p in r["sample"]:
            s.append(f"  {p}\n", style="dim")
        parts.append(s)
    an = [(k, v) for k, v in r["anomalies"].items() if v]
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
