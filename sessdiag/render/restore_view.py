"""Renders the `sessdiag.restore/1` report for the terminal; a pure function of it."""

from __future__ import annotations

from typing import Any


def restore_view(r: dict) -> Any:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    would = "would be " if r["dry_run"] else ""
    b = r["backup"]
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column(overflow="fold")
    head.add_row("into", r["target"]["location"])
    head.add_row("mode", "DRY RUN (nothing changed; --apply to restore)" if r["dry_run"]
                 else "applied (RESTORE, never REPLACE)")
    head.add_row("backup", f"{b['path']} ({b['runs']:,} runs, {b['records']:,} records)")
    head.add_row("keys", f"{r['keys']:,}: {r['restored']:,} {would}restored, "
                         f"{r['skipped_existing']:,} exist (left as they are), "
                         f"{r['expired']:,} past their deadline (not restored)")
    if r["index_members"]:
        head.add_row("index members", f"{r['members_readded']:,} {would}added back, "
                                      f"{r['members_present']:,} present")
    if r["ttls"]:
        head.add_row("TTLs set by --fix-ttl", f"{r['ttl_reverted']:,} {would}taken off, "
                                              f"{r['ttl_changed']:,} changed since (kept)")
    if r["errors"]:
        head.add_row("errors", f"{r['errors']:,}")
    parts: list[Any] = [Panel(head, title="sessdiag restore", title_align="left")]
    for label, key in (("exist, not overwritten", "skipped_existing_keys"),
                       ("past their deadline", "expired_keys")):
        if r[key]:
            t = Text(f"{label}:\n", style="bold")
            for k in r[key][:20]:
                t.append(f"  {k}\n", style="dim")
            if len(r[key]) > 20:
                t.append(f"  … {len(r[key]) - 20:,} more (--json lists them)\n", style="dim")
            parts.append(t)
    for ex in r["error_examples"]:
        parts.append(Text(f"error: {ex}", style="red"))
    for w in r["warnings"]:
        parts.append(Text(f"warning: {w}", style="yellow"))
    return Group(*parts)
