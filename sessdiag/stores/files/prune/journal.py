"""The write-ahead journal: intents (fsync'ed) before acting, one result line per intent.

`read_journal` parses one back; `pending` holds the intents a killed run left unresolved
(reconcile.py resolves them before the next run acts).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from sessdiag.core.errors import UsageError
from sessdiag.core.timefmt import iso

JOURNAL_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def iso_ns(ns: int) -> str | None:
    """Journal times keep microseconds: reconciliation compares them with file mtimes."""
    return iso(ns / 1e9, "microseconds")


class Journal:
    """Appends JSON lines; each worker has its own fd (O_APPEND: whole-line writes)."""

    def __init__(self, path: str) -> None:
        try:
            self.fd = os.open(path, JOURNAL_FLAGS, 0o640)
        except OSError as exc:
            raise UsageError(f"cannot open journal {path}: {exc.strerror}") from exc
        self.buf: list[str] = []
        # A run killed mid-write can leave a torn last line: start ours on a fresh one.
        size = os.fstat(self.fd).st_size
        if size and os.pread(self.fd, 1, size - 1) != b"\n":
            os.write(self.fd, b"\n")

    def add(self, rec: dict[str, Any]) -> None:
        self.buf.append(json.dumps(rec, separators=(",", ":")) + "\n")

    def flush(self, sync: bool = False) -> None:
        if self.buf:
            data = "".join(self.buf).encode("utf-8", "surrogateescape")
            self.buf.clear()
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        if sync:
            os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            try:
                self.flush(sync=True)
            finally:
                os.close(self.fd)
                self.fd = -1


GONE_EVENTS = ("deleted", "quarantined", "vanished")
RESULT_EVENTS = (*GONE_EVENTS, "skipped", "failed", "not-deleted")


@dataclass
class JournalState:
    """What a journal says: files it removed, files gone otherwise, unresolved intents."""

    deleted: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> last record
    vanished: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)  # run -> root
    lines: int = 0
    bad_lines: int = 0

    @property
    def gone(self) -> set[str]:
        return set(self.deleted) | set(self.vanished)


def read_journal(path: str) -> JournalState:
    """Parse a journal; `pending` holds intents with no result (a run was killed)."""
    js = JournalState()
    try:
        fh = open(path, encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
    except FileNotFoundError:
        return js
    with fh:
        for line in fh:
            js.lines += 1
            try:
                rec = json.loads(line)
                ev = rec["event"]
                run = rec["run"]
            except (ValueError, KeyError, TypeError):
                js.bad_lines += 1  # a torn last line after a crash, or foreign text
                continue
            if ev == "run-start":
                js.roots[run] = rec.get("root", "")
                continue
            p = rec.get("path")
            if not isinstance(p, str):
                continue
            if ev == "intent":
                js.pending[(run, p)] = rec
            elif ev in RESULT_EVENTS:
                js.pending.pop((run, p), None)
                if ev in ("deleted", "quarantined"):
                    js.deleted[p] = rec
                    js.vanished.pop(p, None)
                elif ev == "vanished":
                    js.vanished[p] = rec
                else:
                    # Present again (restored, skipped, or re-created later by the app).
                    js.deleted.pop(p, None)
                    js.vanished.pop(p, None)
    return js
