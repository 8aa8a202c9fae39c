"""The file-store and inspect views (pure functions of a report)."""

from __future__ import annotations

import io

from rich.console import Console

from sessdiag.render.terminal import inspect_view


def _render(view, width: int = 120) -> str:  # type: ignore[no-untyped-def]
    con = Console(file=io.StringIO(), width=width, highlight=False, color_system=None)
    con.print(view)
    return con.file.getvalue()  # type: ignore[attr-defined]


def _typed(t: str, v: object) -> dict:
    return {"type": t, "value": v}


def test_spring_times_read_as_times_not_epoch_milliseconds():
    report = {"sid": "4a1c", "profile": "spring-session", "size": 120,
              "last_access": "2026-11-22T01:30:00Z", "entries": [
                  {"key": _typed("string", "creationTime"),
                   "value": _typed("java.lang.Long", 1_795_000_000_000)},
                  {"key": _typed("string", "lastAccessedTime"),
                   "value": _typed("java.lang.Long", 1_795_000_123_456)},
                  {"key": _typed("string", "maxInactiveInterval"),
                   "value": _typed("java.lang.Integer", 1800)},
                  {"key": _typed("string", "sessionAttr:count"),
                   "value": _typed("java.lang.Long", 1_795_000_000_000)}]}
    out = _render(inspect_view(report))
    assert "2026-11-18 11:08:43Z (1795000123456 ms)" in out
    assert "2026-11-18 11:06:40Z (1795000000000 ms)" in out
    assert "30m (1800 s)" in out
    assert "last access 2026-11-22T01:30:00Z" in out
    count = next(ln for ln in out.splitlines() if "sessionAttr:count" in ln)
    assert "1795000000000" in count and "Z" not in count  # not a time-named key


def test_values_are_not_rich_markup():
    report = {"sid": "x", "profile": "beego-file", "size": 3, "entries": [
        {"key": _typed("string", "[b]k"), "value": _typed("string", "[red]v[/red]")}]}
    out = _render(inspect_view(report))
    assert "[b]k" in out and "[red]v[/red]" in out
