"""Scan a tree whole and as N partitions in one process; print the reports as one JSON list.

Run as a child whose DAC-override capabilities were dropped (tests/merging/test_parity.py),
so that a mode-000 directory is unreadable even when the suite runs as root; one process for
all N + 1 scans keeps a hypothesis example under a second.
usage: scan_parts.py ROOT PROFILE PHP_DEPTH NOW LIFETIME N
"""

from __future__ import annotations

import json
import sys

from sessdiag.scanning import ScanSettings, run_scan


def main(root: str, profile: str, php_depth: str, now: str, life: str, n: str) -> None:
    base = {"max_lifetime": int(life), "max_lifetime_given": True,
            "max_lifetime_source": "--max-lifetime", "profile": profile, "deep": True,
            "now": float(now)}
    depth = int(php_depth) if profile == "php-files" else None
    # The whole on processes, the parts on threads: the merge must not depend on the pool.
    reports = [run_scan(root, ScanSettings(**base, jobs=2, workers="processes"),
                        php_depth=depth)]
    for k in range(1, int(n) + 1):
        reports.append(run_scan(root, ScanSettings(**base, jobs=2, workers="threads",
                                                   partition=(k, int(n))), php_depth=depth))
    json.dump(reports, sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:])
