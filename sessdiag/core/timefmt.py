"""The one ISO 8601 format of every time a report writes.

Whole seconds in UTC with a `Z` (`2026-11-22T01:30:00Z`) is the default: `generated_at`,
hours of timelines, oldest/newest access, cutoffs. Session ages are counted in seconds and
lifetimes in minutes or more, so a fraction would only make two reports of the same store
differ in width (docs/report.md shows `generated_at` in whole seconds).

Two kinds of field need more, and ask for it with `timespec`:
- `"milliseconds"`: access-log times (`races[].at`, `clients[].first_seen`/`last_seen`, the
  requests of a race): a login race happens within a second or two, and the order of its
  requests is the evidence.
- `"microseconds"`: the prune journal's `mtime`/`deleted_at`, which are compared with a
  file's own mtime when a run is reconciled.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

Timespec = Literal["seconds", "milliseconds", "microseconds"]


def iso(ts: float | None, timespec: Timespec = "seconds") -> str | None:
    """Epoch seconds -> `YYYY-MM-DDTHH:MM:SS[.fff[fff]]Z` (UTC).

    None, and a time no calendar can show (a corrupt timestamp in a payload), give None.
    Whole seconds truncate, as `datetime.isoformat` does: never into the next second.
    """
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec=timespec).replace(
            "+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None
