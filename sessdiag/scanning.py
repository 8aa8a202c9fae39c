"""One entry point for every scan: open the store the target names, scan it, add what logs tell.

`scan`, `check` and `clients` all build their report here: the backend is chosen by
`sessdiag.stores.open_store` (the one place that looks at the target), and the same store
object then answers the cookie lookups of access-log attribution and `--client-attr`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from sessdiag.core.errors import UsageError
from sessdiag.core.progress import Progress
from sessdiag.stores import open_store
from sessdiag.stores.base import ScanSettings

if TYPE_CHECKING:
    from sessdiag.analysis.settings import LogSettings

__all__ = ["ScanSettings", "run_scan"]


def run_scan(target: str, settings: ScanSettings, logs: LogSettings | None = None, *,
             password_env: str | None = None, php_depth: int | None = None,
             sid_pattern: str | None = None, client_attr: str | None = None,
             progress: Progress | None = None) -> dict:
    """The scan report (docs/report.md) for any target, with clients when logs are given."""
    if not (logs is not None and logs.access_logs):
        settings = replace(settings, lookup=False)
    store = open_store(target, password_env=password_env, php_depth=php_depth,
                       sid_pattern=sid_pattern)
    try:
        if settings.partition and store.kind != "files":
            raise UsageError(f"--partition splits a file tree; {target} is a {store.kind} "
                             "store (a live scan covers every primary of a cluster; per-node "
                             "reports come from each primary's dump, joined by sessdiag merge)")
        report = store.scan(settings, progress)
        if logs is not None and logs.access_logs:
            from sessdiag.analysis.clients import attach_clients

            attach_clients(report, logs, store, settings.profile)
        else:
            # Without logs the store's own creation timeline still shows a machine client
            # (cadence alone: the log parsing modules are not imported for a plain scan).
            from sessdiag.analysis.cadence import attach_store_cadence

            attach_store_cadence(report)
        if client_attr:
            from sessdiag.analysis.clients import attribute_by_payload

            attribute_by_payload(report, store, client_attr)
    finally:
        store.close()
    return report
