"""Renders the `sessdiag.gc-estimate/1` report for the terminal; a pure function of it."""

from __future__ import annotations


def gc_view(r: dict):  # type: ignore[no-untyped-def]
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from sessdiag.core.units import format_duration, format_percent

    def dur(s: float) -> str:
        if s < 1:
            return f"{s * 1000:.0f}ms"
        return f"{s:.1f}s" if s < 90 else format_duration(s)

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column(overflow="fold")  # a long store path wraps, never cut to "…"
    t = r["target"]
    head.add_row("store", f"{t['location']}  ({t['filesystem']['fstype']} on "
                          f"{t['filesystem']['mountpoint']})")
    lo, hi = r["range_s"]
    head.add_row("GC stall", Text(f"≈{dur(r['seconds'])}  (range {dur(lo)}–{dur(hi)}), "
                                  f"model {r['model']}, {r['cache']} cache", style="bold red"))
    head.add_row("basis", r.get("basis") or "")
    head.add_row("walk", f"{r['files']:,} files, {r['dirs']:,} dirs; deletes {r['expired']:,} "
                         f"({r['expired_sessions']:,} expired sessions + "
                         f"{r['old_non_sessions']:,} old non-session"
                         f"{'' if r['old_non_sessions'] == 1 else 's'})")
    b = r["breakdown"]
    head.add_row("breakdown", f"stat {dur(b['stat_s'])} + readdir {dur(b['readdir_s'])} + "
                              f"unlink {dur(b['unlink_s'])} + Go {dur(b['go_overhead_s'])}"
                              + (f" + waiting for a CPU {dur(b['walk_cpu_wait_s'])}"
                                 if b.get("walk_cpu_wait_s") else ""))
    p = r.get("probe") or {}
    lst = p.get("lstat", {})
    head.add_row("measured", f"lstat median {r['stat_latency_us']:.1f} µs (p95 "
                             f"{lst.get('p95_us') or 0:.1f}, n={lst.get('n', 0)}), listing "
                             f"{r['readdir_per_entry_us']:.2f} µs/entry, unlink "
                             f"{r['unlink_latency_us']:.1f} µs ({r['unlink_source']})")
    q = r.get("quiet")
    if q:
        head.add_row("disk", f"{q['state']}" + (f": {q['reason']}" if q.get("reason") else "")
                     + (f" (waited {q['waited_s']:.1f}s)" if q.get("waited_s") else ""))
    if p:
        head.add_row("probe", f"{p['operations']} operations in {p['seconds']:.2f}s "
                              f"(budget {p['budget']['operations']} / {p['budget']['seconds']}s)")
    rq = r.get("requests")
    if rq:
        head.add_row("requests", f"≈{rq['queued']:,.0f} requests queue at "
                                 f"{rq['request_rate_per_s']:g}/s; the first waits "
                                 f"{dur(rq['longest_wait_s'])}")
    rec = r["recurrence"]
    blocked = format_percent(rec["blocked_share"], 3)
    head.add_row("recurrence", f"at start-up, then every {format_duration(rec['gc_interval_s'])}"
                               f" after the previous pass ends ({blocked} of the time blocked)")
    wi = Table(title="what if", title_justify="left", box=None, padding=(0, 1))
    wi.add_column("scenario")
    wi.add_column("stall", justify="right")
    wi.add_column("range", justify="right")
    for w in r["what_if"]:
        wi.add_row(w["scenario"], dur(w["seconds"]),
                   f"{dur(w['range_s'][0])}–{dur(w['range_s'][1])}")
    parts: list = [Panel(head, title="sessdiag gc-estimate", title_align="left"), wi]
    if r["findings"]:
        f = Text()
        for line in r["findings"]:
            f.append("• ", style="yellow")
            f.append(line + "\n")
        parts.append(Panel(f, title="findings", title_align="left", border_style="yellow"))
    if r["notes"]:
        n = Text(style="dim")
        for line in r["notes"]:
            n.append("· " + line + "\n")
        parts.append(n)
    return Group(*parts)


