"""What attribution from access logs reads: a declared dataclass, cheap to import (the CLI
builds it for every scan; the log parsing modules load only when logs are given)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LogSettings:
    """How to read access logs and attribute sessions to clients."""

    access_logs: tuple[str, ...] = ()
    log_format: str = "combined-cookies"
    log_fields: str | None = None
    cookie_name: str | None = None
    cookie_hint: str | None = None  # the app's own cookie name, when the log names none
    client_key: str = "ip"
    race_window: float = 2.0
    login_path: str | None = None
    max_tracked: int | None = None
    max_clients_shown: int | None = None
    secret: object = field(default=None, repr=False)  # opens a sealed cookie (Laravel's APP_KEY)
    now: float | None = None
    strict: bool = False  # too many unparsable lines is an error, not a finding
