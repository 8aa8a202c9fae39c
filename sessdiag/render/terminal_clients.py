"""Human output of client attribution: top clients with bars, login races, cadence."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sessdiag.core.units import format_bytes, format_count, format_duration, format_percent
from sessdiag.render.terminal_minters import minters_parts

BAR_WIDTH = 12


def _bar(n: float, most: float, style: str) -> Text:
    width = 0 if most <= 0 else max(1 if n else 0, round(BAR_WIDTH * n / most))
    return Text("█" * width, style=style)


def clients_table(r: dict, top: int = 15) -> Table | None:
    rows = r.get("clients") or []
    if not rows:
        return None
    from_logs = "issued" in rows[0]
    src = (r.get("clients_summary") or {}).get("source", "access-log")
    tab = Table(title=f"top clients by orphan sessions ({src})", title_justify="left",
                box=None, padding=(0, 1))
    tab.add_column("client", no_wrap=True, overflow="ellipsis", min_width=9, max_width=40)
    if from_logs:
        tab.add_column("reqs", justify="right", no_wrap=True)
        tab.add_column("no ck", justify="right", no_wrap=True)
        tab.add_column("issued", justify="right", no_wrap=True)
        tab.add_column("back", justify="right", no_wrap=True)
    else:
        tab.add_column("sessions", justify="right")
    tab.add_column("orphans", justify="right", no_wrap=True)
    with_store = from_logs and any(c.get("store") for c in rows[:top])
    if from_logs:
        tab.add_column("/hour", justify="right", no_wrap=True)
    if with_store:
        tab.add_column("of store", justify="right", no_wrap=True)
    tab.add_column("", no_wrap=True)
    shown = rows[:top]
    most = max((c["orphans"] for c in shown), default=0)
    for c in shown:
        cells = [c["client"]]
        if from_logs:
            req = c["requests"] or 1
            cells += [format_count(c["requests"]),
                      f"{format_percent(c['requests_without_cookie'] / req, 0)}",
                      format_count(c["issued"]), format_count(c["presented_back"])]
        else:
            cells.append(format_count(c["sessions"]))
        cells.append(format_count(c["orphans"]))
        if from_logs:
            cells.append(_rate_cell(c))
        if with_store:
            share = (c.get("store") or {}).get("share_of_sessions")
            cells.append("" if share is None else f"{format_percent(share)}")
        cells.append(_bar(c["orphans"], most, "red" if c["orphans"] else "cyan"))
        tab.add_row(*cells)
    rest = len(rows) - len(shown)
    total = (r.get("clients_summary") or {}).get("clients", len(rows))
    if total > len(shown):
        tab.caption = f"{total - len(shown) if rest >= 0 else 0:,} more clients not shown"
    return tab


def races_table(r: dict, limit: int = 20) -> Table | None:
    races = r.get("races") or []
    if not races:
        return None
    tab = Table(title=f"login races ({len(races)})", title_justify="left", box=None,
                padding=(0, 1))
    tab.add_column("at (UTC)", no_wrap=True)
    tab.add_column("client", overflow="fold")
    tab.add_column("requests: time path → new id", no_wrap=True)
    tab.add_column("kept", no_wrap=True)
    tab.add_column("login\nlost", justify="center")
    for ev in races[:limit]:
        reqs = "\n".join(f"{q['at'][11:19]} {q['path'].split('?')[0][:18]} → "
                         f"{(q['issued'] or '')[:8]}…" for q in ev["requests"])
        lost = ev["lost_login"]
        mark = Text("yes", style="bold red") if lost else (
            Text("no", style="green") if lost is False else Text("?", style="dim"))
        tab.add_row(ev["at"][5:19].replace("T", " "), ev["client"], reqs,
                    (ev["kept"] or "-")[:8] + "…", mark)
    if len(races) > limit:
        tab.caption = f"{len(races) - limit} more in --json"
    return tab


def clients_parts(r: dict, top: int = 15) -> list:
    parts: list = []
    t = clients_table(r, top)
    if t is not None:
        parts.append(t)
    parts.extend(minters_parts(r))
    rt = races_table(r)
    if rt is not None:
        parts.append(rt)
    return parts


def clients_view(r: dict, top: int = 15) -> Group:
    """The `clients` command: store summary, clients, races, findings."""
    head = Text()
    tgt = r.get("target")
    if tgt:
        head.append(f"{tgt.get('location', '')}", style="bold")
        head.append(f"  ({tgt.get('profile', '?')}): {r.get('sessions', 0):,} sessions, "
                    f"{r.get('empty', 0):,} empty, "
                    f"{format_bytes(r.get('allocated_bytes') or 0)} allocated\n")
    else:
        head.append("no store given: access logs only\n", style="bold")
    log = r.get("access_log")
    if log:
        head.append(f"access log: {log['parsed']:,} requests from {log['first']} to "
                    f"{log['last']}, session cookie {log['cookie_name']!r} "
                    f"({log['cookie_name_source']}), client key {log['client_key']}")
        if log.get("skipped"):
            share = log.get("skipped_fraction") or 0
            if share > (log.get("skipped_warn_fraction") or 0):
                head.append(f"\n{format_percent(share, 0)} of access-log lines "
                            f"({log['skipped']:,} of {log['lines']:,}) did not parse: see findings",
                            style="bold yellow")
            else:
                head.append(f", {log['skipped']:,} lines skipped", style="yellow")
    parts: list = [Panel(head, title="sessdiag clients", title_align="left")]
    parts.extend(clients_parts(r, top))
    if not r.get("clients"):
        parts.append(Text("no client attribution: give --access-log or --client-attr",
                          style="dim"))
    if r.get("findings"):
        f = Text()
        for line in r["findings"]:
            f.append("• ", style="yellow")
            f.append(line + "\n")
        parts.append(Panel(f, title="findings", title_align="left", border_style="yellow"))
    return Group(*parts)


def _rate_cell(c: dict) -> str:
    """Orphans per hour, only over a span long enough to be a rate.

    40 sessions minted within one second are not '40.0/hour': under an hour of activity
    the cell says what happened ('40 in <1m', '300 in 25m') instead of extrapolating.
    """
    span_h = c.get("span_hours") or 0.0
    if span_h < 1:
        span = "<1m" if span_h * 60 < 1 else format_duration(span_h * 3600)
        return f"{format_count(c['orphans'])} in {span}"
    return f"{c['orphan_rate_per_hour']:,.1f}"
