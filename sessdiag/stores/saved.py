"""A saved `sessdiag.scan/1` report (`report.json`, or one `sessdiag merge` wrote) as a target.

`check` evaluates a policy against it as against a live store: the fleet scans where the data
is, merges the reports, and checks once. Nothing is measured again, so settings that would
change the measurement (another lifetime) are refused rather than silently ignored.
"""

from __future__ import annotations

import os
import stat

from sessdiag.core.contract import SCAN_SCHEMA
from sessdiag.core.errors import UsageError
from sessdiag.stores.base import Progress, ScanSettings, SessionLookup

HEAD_BYTES = 4096


def is_report(target: str) -> bool:
    """A regular file holding a JSON object that names the scan schema near its start."""
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        head = os.read(fd, HEAD_BYTES) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        return False
    finally:
        os.close(fd)
    return head.lstrip()[:1] == b"{" and SCAN_SCHEMA.encode() in head


class SavedReport:
    kind = "report"

    def __init__(self, target: str) -> None:
        self.target = target
        self.location = target

    def scan(self, settings: ScanSettings, progress: Progress | None = None) -> dict:
        from sessdiag.merging import load_report

        report = load_report(self.target)
        if settings.max_lifetime_given and settings.max_lifetime != report["max_lifetime_s"]:
            raise UsageError(
                f"{self.target} was scanned with max_lifetime_s {report['max_lifetime_s']}, "
                f"not {settings.max_lifetime} ({settings.max_lifetime_source}): a saved report "
                "cannot be measured again; scan the store with that lifetime")
        return report

    def inspect(self, sid: str | None, profile: str | None = None) -> dict:
        raise UsageError(f"{self.target} is a saved report: inspect the store it was made from")

    def lookup(self, profile: str | None, cookie_name: str,
               secret: object = None) -> SessionLookup | None:
        return None

    def attribute(self, attr: str) -> list[dict] | None:
        return None

    def close(self) -> None:
        pass
