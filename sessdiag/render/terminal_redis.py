"""Human view of a Redis scan report: a pure function of the report, like terminal.scan_view."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sessdiag.core.units import format_bytes, format_count, format_duration, format_percent

BAR_WIDTH = 36
GROUPS_SHOWN = 6


def _bar(n: int, most: int, style: str = "cyan") -> Text:
    width = 0 if most == 0 else max(1 if n else 0, round(BAR_WIDTH * n / most))
    return Text("█" * width, style=style)


def _mem(n: int | None) -> str:
    return "not measured" if n is None else format_bytes(n)


def _pct(a: int, b: int) -> str:
    return f"{format_percent(a / b)}" if b else "0.0%"


def redis_scan_view(r: dict) -> Group:
    t = r["target"]
    srv = r.get("server", {})
    sc = r.get("scan", {})
    ks = r.get("keyspace", {})
    n = r["sessions"]
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column(overflow="fold")  # a long store path wraps, never cut to "…"
    dump = t["kind"] == "rdb" or t.get("part_kind") == "rdb"
    if t.get("parts"):
        mode = f"merged from {len(t['parts'])} " + ("dumps" if dump else "reports")
    else:
        mode = f"dump, RDB {t['rdb_version']}" if dump else t.get("mode", "standalone")
    where = f"{t['location']}  ({mode}"
    if srv.get("version"):
        where += f", Redis {srv['version']}"
    if t.get("nodes"):
        where += f", {len(t['nodes'])} primaries"
    head.add_row("store", where + ")")
    if t.get("as_of"):
        head.add_row("as of", f"{t['as_of']}  ({t['as_of_source']})")
    head.add_row("sessions", f"{n:,} in {len(r['groups'])} group(s); "
                             f"{ks.get('keys_seen', 0):,} keys scanned, "
                             f"{ks.get('other_keys', 0):,} not sessions")
    head.add_row("memory", f"{_mem(r['allocated_bytes'])} (payload {format_bytes(r['bytes'])})"
                 + (f"; Redis uses {format_bytes(srv['used_memory'])}" if srv.get("used_memory")
                    else "")
                 + (f" of {format_bytes(srv['maxmemory'])} ({srv.get('maxmemory_policy')})"
                    if srv.get("maxmemory") else ""))
    head.add_row("expired", f"{r['expired']:,}  ("
                            f"{format_percent(r['expired_fraction'])}) past their "
                            "lifetime and still present")
    orphans = r.get("orphans", 0)
    head.add_row("empty / never reused", f"{r['empty']:,} ({_pct(r['empty'], n)}) / "
                                         f"{orphans:,} ({_pct(orphans, n)})")
    head.add_row("no TTL", f"{r.get('no_ttl', 0):,} session keys")
    if srv.get("notify_keyspace_events") is not None:
        head.add_row("keyspace events", repr(srv["notify_keyspace_events"]))
    if sc and "bytes_read" in sc:
        head.add_row("read", f"{format_bytes(sc['bytes_read'])} in {sc['duration_s']:.2f}s "
                             f"({sc.get('mb_per_s') or 0:,.0f} MB/s); payloads: "
                             f"{r['payload_check']['method']} "
                             f"({r['payload_check']['decoded']:,} decoded)")
    elif sc and "commands" in sc:
        rate = f", capped at {sc['rate_limit']:g}/s" if sc.get("rate_limit") else ""
        head.add_row("scan", f"{sc['duration_s']:.2f}s, {sc['commands']:,} commands "
                             f"(≈{sc.get('rate_observed') or 0:,.0f}/s{rate}), "
                             f"{sc['rounds']:,} rounds; payloads: "
                             f"{r['payload_check']['method']} "
                             f"({r['payload_check']['decoded']:,} decoded)")

    title = "sessdiag scan (Redis dump)" if dump else "sessdiag scan (Redis)"
    parts: list = [Panel(head, title=title, title_align="left")]
    if r["groups"]:
        parts.extend(_groups(r["groups"]))
        parts.append(_age(r["age_histogram"], r["groups"]))
    for g in r["groups"][:GROUPS_SHOWN]:
        if g["sessions"]:
            parts.append(_ttl(g))
        tl = g.get("orphan_timeline") or []
        if tl:
            parts.append(_timeline(g, tl))
    comp = [g for g in r["groups"] if g.get("companions")]
    if comp:
        parts.extend(_companions(comp))
    if r.get("namespace_drift"):
        parts.append(_drift(r["namespace_drift"]))
    an = r["anomalies"]
    if an.get("undecodable"):
        parts.append(_undecodable(r["groups"]))
    if r.get("findings"):
        f = Text()
        for line in r["findings"]:
            f.append("• ", style="yellow")
            f.append(line + "\n")
        parts.append(Panel(f, title="findings", title_align="left", border_style="yellow"))
    return Group(*parts)


def _group_table(title: str, columns: tuple[str, ...]) -> Table:
    tab = Table(title=title, title_justify="left", box=None, padding=(0, 1, 0, 1),
                collapse_padding=True, pad_edge=False)
    # Profile and namespace share a column, one above the other: side by side they took a
    # third of an 100-column terminal and rich cut both to "spring-…".
    tab.add_column("profile / namespace", no_wrap=True)
    for col in columns:
        tab.add_column(col, justify="right", no_wrap=True)
    return tab


def _groups(groups: list[dict]) -> list[Table]:
    """Two tables of a few columns each: one of ten columns was cut at 80 (a pipe's width)."""
    size = _group_table("sessions by framework and namespace",
                        ("sessions", "memory", "expired", "empty"))
    health = _group_table("sessions by framework and namespace: reuse, TTLs, lifetime",
                          ("never reused", "no TTL", "undecodable", "lifetime"))
    health.add_column("ages from")
    for g in groups:
        name = f"{g['profile']}\n  {g['namespace'] or '(none)'}"
        size.add_row(name, format_count(g["sessions"]), _mem(g["allocated_bytes"]),
                     format_count(g["expired"]), format_count(g["empty"]))
        health.add_row(name, format_count(g["orphans"]), format_count(g["no_ttl"]),
                       f"{format_count(g['undecodable'])}/"
                       f"{format_count(g['decoded'] + g['undecodable'])}",
                       format_duration(g["lifetime_s"]) if g["lifetime_s"] else "?",
                       g.get("age_source") or "-")
    return [size, health]


def _age(hist: list[dict], groups: list[dict]) -> Table:
    life = min((g["lifetime_s"] for g in groups if g["lifetime_s"]), default=None)
    tab = Table(title="age since last access (all sessions)", title_justify="left", box=None,
                padding=(0, 1))
    tab.add_column("up to", justify="right")
    tab.add_column("sessions", justify="right")
    tab.add_column("")
    most = max((b["count"] for b in hist), default=0)
    for b in hist:
        label = "older" if b["upper_s"] is None else format_duration(b["upper_s"])
        old = life is not None and (b["upper_s"] is None or b["upper_s"] > life)
        tab.add_row(label, f"{b['count']:,}", _bar(b["count"], most, "red" if old else "cyan"))
    return tab


def _ttl(g: dict) -> Table:
    tab = Table(title=f"remaining TTL: {g['profile']} {g['namespace'] or '(none)'}",
                title_justify="left", box=None, padding=(0, 1))
    tab.add_column("up to", justify="right")
    tab.add_column("keys", justify="right")
    tab.add_column("")
    rows = [(format_duration(b["upper_s"]) if b["upper_s"] is not None else "longer",
             b["count"]) for b in g["ttl_histogram"]]
    rows.append(("no TTL", g["no_ttl"]))
    most = max((c for _, c in rows), default=0)
    for label, c in rows:
        tab.add_row(label, f"{c:,}", _bar(c, most, "red" if label == "no TTL" else "green"))
    return tab


def _timeline(g: dict, timeline: list[dict]) -> Table:
    per_day: dict[str, int] = {}
    for row in timeline:
        day = row["hour"][:10]
        per_day[day] = per_day.get(day, 0) + row["count"]
    days = sorted(per_day)[-14:]
    what = "never-reused" if g["profile"].startswith("spring") else "empty"
    tab = Table(title=f"{what} sessions created per day: {g['profile']} "
                      f"{g['namespace'] or '(none)'}", title_justify="left", box=None,
                padding=(0, 1))
    tab.add_column("day")
    tab.add_column("count", justify="right")
    tab.add_column("")
    most = max(per_day[d] for d in days)
    for d in days:
        tab.add_row(d, format_count(per_day[d]), _bar(per_day[d], most, "magenta"))
    return tab


def _companions(groups: list[dict]) -> list[Table]:
    """One stacked (name, count) table per namespace: nine columns side by side were cut."""
    out = []
    for g in groups:
        c = g["companions"]
        dead = c["index_members_dead"]
        tab = Table(title=f"Spring Session companion keys: {g['namespace']} "
                          f"({c['repository']} repository)",
                    title_justify="left", box=None, padding=(0, 1), show_header=False)
        tab.add_column("what")
        tab.add_column("keys", justify="right", no_wrap=True)
        for label, n in (("shadow keys (…:sessions:expires:<id>)", c["shadow_keys"]),
                         ("  of them without their session", c["shadow_keys_without_session"]),
                         ("expirations sets", c["expirations_sets"]),
                         ("  of them without a TTL", c["expirations_no_ttl"]),
                         ("  of them for a minute long past", c["expirations_past"]),
                         ("principal index sets", c["index_sets"]),
                         ("dead index entries", dead)):
            tab.add_row(label, "-" if n is None else format_count(n))
        out.append(tab)
    return out


def _drift(drift: list[dict]) -> Table:
    tab = Table(title="namespace drift", title_justify="left", box=None, padding=(0, 1))
    tab.add_column("framework")
    tab.add_column("namespace")
    tab.add_column("sessions", justify="right")
    tab.add_column("principals", justify="right")
    tab.add_column("in several namespaces", justify="right")
    for d in drift:
        for i, ns in enumerate(d["namespaces"]):
            tab.add_row(d["framework"] if i == 0 else "", ns["namespace"] or "(none)",
                        f"{ns['sessions']:,}", f"{ns['principals']:,}",
                        f"{d['shared_principals']:,}" if i == 0 else "")
    return tab


def _undecodable(groups: list[dict]) -> Table:
    tab = Table(title="undecodable values", title_justify="left", box=None, padding=(0, 1))
    tab.add_column("group")
    tab.add_column("count", justify="right")
    tab.add_column("reason", overflow="fold")
    tab.add_column("example", overflow="fold")
    for g in groups:
        for reason, c in list(g["undecodable_reasons"].items())[:5]:
            ex = (g["examples"].get("undecodable") or [""])[0]
            tab.add_row(f"{g['profile']} {g['namespace']}", f"{c:,}", reason,
                        Text(ex, style="dim"))
    return tab
