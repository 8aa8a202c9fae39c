"""Progress on stderr for the commands: counters with a spinner, only on a terminal."""

from __future__ import annotations

import sys
from typing import Any

from sessdiag.core.progress import Progress


def share_eta(completed: float, total: float | None, remaining_s: float | None) -> str:
    """'42% of 20,000, ETA 1m' once a total is known; nothing for an open-ended count."""
    if not total:
        return ""
    from sessdiag.core.units import format_count, format_duration, format_percent

    text = f"{format_percent(min(completed / total, 1.0), 0)} of {format_count(total)}"
    if remaining_s is not None and completed < total:
        text += f", ETA {format_duration(remaining_s)}"
    return text


def _eta_column() -> type:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class _ShareEta(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(share_eta(task.completed, task.total, task.time_remaining))

    return _ShareEta


def ShareEtaColumn() -> Any:
    return _eta_column()()


class StderrProgress:
    """One counter per named task; nothing at all when stderr is not a TTY (cron, pipes)."""

    def __init__(self, enabled: bool, tasks: dict[str, str], unit: str = "") -> None:
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}
        self.descriptions = dict(tasks)
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            count = "{task.completed:,.0f}" + (f" {unit}" if unit else "")
            self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                TextColumn(count), TimeElapsedColumn(), ShareEtaColumn(),
                                console=Console(stderr=True), transient=True)
            self.tasks = {k: self.bar.add_task(d, total=None) for k, d in tasks.items()}

    def __enter__(self) -> StderrProgress:
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.stop()

    def callback(self, task: str | None = None) -> Progress:
        """The plain `progress(n, total=None)` a store or analysis reports to (core.progress)."""
        def progress(n: int, total: int | None = None) -> None:
            if total is not None:
                self.set_total(total, task)
            if n:
                self.advance(n, task)
        return progress

    def set_total(self, total: int, task: str | None = None) -> None:
        if self.bar:
            key = task if task is not None else next(iter(self.tasks))
            if key in self.tasks:
                tid = self.tasks[key]
                desc = self.descriptions[key]
                self.bar.update(tid, total=total, description=f"{desc} (≈{total:,})")

    def advance(self, n: int, task: str | None = None) -> None:
        """Add n to `task` (the first task when None)."""
        if self.bar:
            key = task if task is not None else next(iter(self.tasks))
            if key in self.tasks:
                self.bar.advance(self.tasks[key], n)
