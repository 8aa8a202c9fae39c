"""Prints the `sessdiag.check/1` result for a person: one line per rule, then the verdict."""

from __future__ import annotations


def print_check(out: dict, *, failures_only: bool = False) -> None:
    """Every rule on stdout; with `failures_only` (--quiet) the violated ones on stderr."""
    from rich.console import Console
    from rich.text import Text

    from sessdiag.core.textsafe import terminal_safe

    out = terminal_safe(out)

    # soft_wrap: a rule's line stays one line, so `grep FAIL` in a cron mail finds it whole.
    console = Console(highlight=False, soft_wrap=True, stderr=failures_only)
    for t in out["targets"]:
        if failures_only and t["ok"]:
            continue
        console.print(Text(t["target"], style="bold"))
        for r in t["results"]:
            if failures_only and r["status"] != "fail":
                continue
            mark, style = {"pass": ("ok  ", "green"), "fail": ("FAIL", "bold red"),
                           "skipped": ("skip", "dim")}[r["status"]]
            line = Text(f"  {mark} ", style=style)
            line.append(f"{r['rule']}: {r['message']}")
            console.print(line)
    verdict = "all rules hold" if out["ok"] else f"{out['violations']} rule(s) violated"
    console.print(Text(verdict, style="green" if out["ok"] else "bold red"))
