"""Keys no framework pattern names (`--profile generic`, or `--pattern`): sessions by fiat."""

from __future__ import annotations

from sessdiag.frameworks.base import Framework

GENERIC = Framework(
    name="generic", family="generic", medium="redis",
    orphan_fix="let the routes that need no session skip the session middleware",
)
