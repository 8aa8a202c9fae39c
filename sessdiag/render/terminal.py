"""Human output: rich tables and bar charts, pure functions of a report."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sessdiag.core.units import format_bytes, format_count, format_duration, format_percent

BAR_WIDTH = 36


def _bar(n: int, most: int, style: str = "cyan") -> Text:
    width = 0 if most == 0 else max(1 if n else 0, round(BAR_WIDTH * n / most))
    return Text("█" * width, style=style)


def scan_view(r: dict) -> Group:
    # a dump is read by the Redis analysis, and shown as Redis
    if r["target"]["kind"] in ("redis", "rdb") or r["target"].get("part_kind") in ("redis", "rdb"):
        from sessdiag.render.terminal_redis import redis_scan_view
        return redis_scan_view(r)
    t = r["target"]
    n = r["sessions"]
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column(overflow="fold")  # a long store path wraps, never cut to "…"
    part = t.get("partition")
    head.add_row("store", f"{t['location']}  ({t['profile']}: {t.get('layout', '')})"
                 + (f"  part {part['index']}/{part['count']}" if part else "")
                 + (f"  merged from {len(t['parts'])} reports" if t.get("parts") else ""))
    head.add_row("sessions", f"{n:,}")
    head.add_row("payload", f"{format_bytes(r['bytes'])}  (allocated on disk "
                            f"{format_bytes(r['allocated_bytes'])})")
    life = format_duration(r["max_lifetime_s"])
    if r.get("max_lifetime_source") == "default":
        life += ", a default: pass --max-lifetime"
    head.add_row("expired", f"{r['expired']:,}  ("
                            f"{format_percent(r['expired_fraction'])} older than "
                            f"{life})")
    head.add_row("empty", f"{r['empty']:,}  ({format_percent(r.get('empty_fraction', 0))})")
    if r.get("oldest"):
        head.add_row("oldest / newest",
                     f"{_when(r['oldest']['mtime'])} ({format_duration(r['oldest']['age_s'])} "
                     f"ago) / {_when(r['newest']['mtime'])} "
                     f"({format_duration(r['newest']['age_s'])} ago)")
    gc = r.get("gc_estimate")
    if gc:
        head.add_row("beego GC stall",
                     f"≈{format_duration(gc['seconds'])} over {gc['files']:,} files, "
                     f"{gc['dirs']:,} dirs ({gc['model']}"
                     f"{'' if gc.get('measured') else ', static fallback: not measured'})")
    fs = r.get("filesystem")
    if fs:
        inodes = format_percent(fs["store_inode_share_of_used"])
        used = format_percent(fs["store_byte_share_of_used"])
        head.add_row("filesystem", f"{fs['mountpoint']} ({fs['fstype']}): store uses "
                                   f"{inodes} of used inodes, {used} of used bytes")
    sc = r.get("scan")
    if sc:
        pc = r.get("payload_check", {})
        head.add_row("scan", f"{sc['duration_s']:.2f}s, {sc['jobs']} {sc['workers']}; payloads: "
                             f"{pc.get('method', '?')} ({pc.get('decoded', 0):,} decoded)")

    hist = Table(title="age since last access", title_justify="left", box=None,
                 padding=(0, 1))
    hist.add_column("up to", justify="right")
    hist.add_column("sessions", justify="right")
    hist.add_column("")
    most = max((b["count"] for b in r["age_histogram"]), default=0)
    for b in r["age_histogram"]:
        label = "older" if b["upper_s"] is None else format_duration(b["upper_s"])
        life = r["max_lifetime_s"]
        expired = b["upper_s"] is None or b["upper_s"] > life
        hist.add_row(label, f"{b['count']:,}", _bar(b["count"], most, "red" if expired else "cyan"))

    an = Table(title="anomalies", title_justify="left", box=None, padding=(0, 1))
    an.add_column("kind")
    an.add_column("count", justify="right")
    an.add_column("example")
    examples = r.get("anomaly_examples", {})
    for k, v in r["anomalies"].items():
        ex = (examples.get(k) or [""])[0]
        an.add_row(k, f"{v:,}", Text(ex, style="dim"))

    parts: list = [Panel(head, title="sessdiag scan", title_align="left"), hist]
    timeline = r.get("empty_timeline") or []
    if timeline:
        parts.append(_timeline(timeline, r["target"].get("profile") == "beego-file"))
    parts.append(an)
    if r.get("clients") or r.get("races"):
        from sessdiag.render.terminal_clients import clients_parts

        parts.extend(clients_parts(r))
    if r.get("findings"):
        f = Text()
        for line in r["findings"]:
            f.append("• ", style="yellow")
            f.append(line + "\n")
        parts.append(Panel(f, title="findings", title_align="left", border_style="yellow"))
    del n
    return Group(*parts)


def _when(iso: str) -> str:
    """2026-11-18T11:06:00.500000Z -> 2026-11-18 11:06:00Z (seconds are enough to read)."""
    return iso[:19].replace("T", " ") + "Z"


def _timeline(timeline: list[dict], beego: bool) -> Table:
    """Empty sessions created per day (from the hourly timeline), newest last."""
    per_day: dict[str, int] = {}
    for row in timeline:
        day = row["hour"][:10]
        per_day[day] = per_day.get(day, 0) + row["count"]
    days = sorted(per_day)[-14:]
    # An empty beego session is never written again, so its mtime is its birth; PHP
    # rewrites the file whenever the session is used, so there it is only the last access.
    what = " (orphan creation)" if beego else ""
    tab = Table(title=f"empty sessions by day of last access{what}",
                title_justify="left", box=None, padding=(0, 1))
    tab.add_column("day")
    tab.add_column("count", justify="right")
    tab.add_column("")
    most = max(per_day[d] for d in days)
    for d in days:
        tab.add_row(d, format_count(per_day[d]), _bar(per_day[d], most, "magenta"))
    return tab


def inspect_view(r: dict) -> Group:
    head = Text()
    head.append(f"{r.get('path') or r['sid']}\n", style="bold")
    head.append(f"profile {r['profile']}, {r['size']} bytes, {len(r['entries'])} entries")
    if r.get("mtime") or r.get("last_access"):
        head.append(f", last access {r.get('mtime') or r['last_access']}")
    tab = Table(box=None, padding=(0, 1))
    tab.add_column("key")
    tab.add_column("type", style="cyan")
    tab.add_column("value")
    for e in r["entries"]:
        k = e["key"]
        v = e["value"]
        # Text, not str: a value such as "[b]" must not be read as rich markup.
        shown = (Text(f"[redacted, {v.get('length', '?')} chars]", style="dim")
                 if v.get("redacted") else Text(_value_cell(k["value"], v["value"])))
        tab.add_row(Text(_short(k["value"])), Text(str(v["type"])), shown)
    if not r["entries"]:
        tab.add_row(Text("(empty session: no attributes)", style="dim"), "", "")
    parts: list = [head, tab]
    for w in r.get("warnings") or []:
        parts.append(Text(w, style="yellow"))
    return Group(*parts)


def _value_cell(key: object, value: object) -> str:
    """A value as a person reads it: epoch timestamps in time-named keys (Spring's
    lastAccessedTime, creationTime: milliseconds) as UTC times, the raw number after."""
    if (isinstance(key, str) and key.lower().endswith(("time", "_at", "timestamp"))
            and isinstance(value, int) and not isinstance(value, bool)):
        from sessdiag.core.timefmt import iso

        when = (iso(value / 1000) if 10**12 <= value < 10**14  # epoch ms: 2001 .. 5138
                else iso(value) if 10**9 <= value < 10**11 else None)  # epoch seconds
        if when:
            unit = " ms" if value >= 10**12 else ""
            return f"{_when(when)} ({value}{unit})"
    if key == "maxInactiveInterval" and isinstance(value, int) and value > 0:
        return f"{format_duration(value)} ({value} s)"
    return _short(value)


def _short(v: object, limit: int = 100) -> str:
    import json

    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def print_view(view: Group, *, to_stderr: bool = False) -> None:
    Console(stderr=to_stderr, highlight=False).print(view)
