"""Human output of who mints sessions: top routes and user agents by orphans."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from sessdiag.core.units import format_count, format_percent

TOP = 10
_CLASS_STYLE = {"browser": "green", "crawler": "magenta", "monitor": "yellow", "tool": "cyan",
                "unknown": "dim"}


def routes_table(r: dict, top: int = TOP) -> Table | None:
    rows = r.get("routes") or []
    if not rows:
        return None
    tab = Table(title="routes that issued sessions (by orphans)", title_justify="left",
                box=None, padding=(0, 1))
    tab.add_column("route", overflow="fold", min_width=12, max_width=44)
    tab.add_column("issued", justify="right", no_wrap=True)
    tab.add_column("orphans", justify="right", no_wrap=True)
    tab.add_column("share", justify="right", no_wrap=True)
    tab.add_column("paths", justify="right", no_wrap=True)
    for row in rows[:top]:
        paths = row.get("distinct_routes", 1)
        cell = f"{format_count(paths)}+" if row.get("distinct_routes_capped") else (
            format_count(paths) if paths > 1 else "")
        tab.add_row(row["route"], format_count(row["issued"]), format_count(row["orphans"]),
                    _share(row["orphans"], row["issued"]), cell)
    total = (r.get("minters_summary") or {}).get("routes", len(rows))
    if total > top:
        tab.caption = f"{total - min(top, len(rows)):,} more routes in --json"
    return tab


def agents_table(r: dict, top: int = TOP) -> Table | None:
    rows = r.get("user_agents") or []
    if not rows:
        return None
    tab = Table(title="user agents that issued sessions (by orphans)", title_justify="left",
                box=None, padding=(0, 1))
    tab.add_column("user agent", overflow="ellipsis", no_wrap=True, min_width=12,
                   max_width=40)
    tab.add_column("class", no_wrap=True)
    tab.add_column("clients", justify="right", no_wrap=True)
    tab.add_column("issued", justify="right", no_wrap=True)
    tab.add_column("orphans", justify="right", no_wrap=True)
    for row in rows[:top]:
        tab.add_row(row["user_agent"], Text(row["class"], style=_CLASS_STYLE.get(
            row["class"], "")), format_count(row["clients"]), format_count(row["issued"]),
            format_count(row["orphans"]))
    total = (r.get("minters_summary") or {}).get("user_agents", len(rows))
    if total > top:
        tab.caption = f"{total - min(top, len(rows)):,} more user agents in --json"
    return tab


def _share(part: int, whole: int) -> str:
    return format_percent(part / whole, 0) if whole else ""


def minters_parts(r: dict, top: int = TOP) -> list:
    return [t for t in (routes_table(r, top), agents_table(r, top)) if t is not None]
