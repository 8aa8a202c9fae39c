"""`sessdiag clients TARGET`: who creates the store's sessions, from access logs or payloads.

Flags, rendering, exit code; the work is `run_scan` (which attributes the access logs and,
with --client-attr, the payloads) plus the store's creation cadence.
"""

from __future__ import annotations

from typing import Annotated

import typer

from sessdiag.cli.options import (
    AccessLogOpt,
    AppEnvOpt,
    AppKeyOpt,
    AsOfOpt,
    ClientKeyOpt,
    CookieNameOpt,
    JobsOpt,
    JsonOpt,
    LogFieldOpt,
    LogFormatOpt,
    MaxLifetimeOpt,
    NowOpt,
    OutputOpt,
    PasswordEnvOpt,
    PhpDepthOpt,
    ProfileOpt,
    QuietOpt,
    RaceWindowOpt,
    SidPatternOpt,
    StoreOpt,
    StrictOpt,
    check_stdin,
    emit,
    parse_as_of,
    resolve_lifetime,
    use_app_env,
)
from sessdiag.core.errors import UsageError


def clients(
    target: Annotated[str | None, typer.Argument(
        help="Session directory, redis:// URL or Redis dump (optional with --access-log: "
        "logs only).")
    ] = None,
    access_log: AccessLogOpt = None,
    log_format: LogFormatOpt = "combined-cookies",
    log_field: LogFieldOpt = None,
    cookie_name: CookieNameOpt = None,
    strict: StrictOpt = False,
    app_key: AppKeyOpt = None,
    app_env: AppEnvOpt = None,
    client_key: ClientKeyOpt = "ip",
    race_window: RaceWindowOpt = "2s",
    login_path: Annotated[str | None, typer.Option(
        "--login-path", metavar="REGEX",
        help="Paths of login requests (default: /login, /signin, /auth …).")] = None,
    client_attr: Annotated[str | None, typer.Option(
        "--client-attr", metavar="KEY",
        help="Attribute sessions by this payload key (e.g. username) instead of logs.")] = None,
    max_tracked: Annotated[int | None, typer.Option(
        "--max-tracked", metavar="N",
        help="Session ids tracked at once before the oldest are retired (memory bound).")
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Clients shown in the terminal.")] = 15,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    max_lifetime: MaxLifetimeOpt = None,
    profile: ProfileOpt = None,
    php_depth: PhpDepthOpt = None,
    sid_pattern: SidPatternOpt = None,
    jobs: JobsOpt = None,
    password_env: PasswordEnvOpt = None,
    now: NowOpt = None,
    as_of: AsOfOpt = None,
    quiet: QuietOpt = False,
    store_name: StoreOpt = None,
) -> None:
    """Orphan sessions per client, machine-client cadence and login races."""
    del store_name  # expand_argv already turned it into TARGET and flags
    from sessdiag.analysis.clients import attach_store_cadence, logs_only_report
    from sessdiag.analysis.settings import LogSettings
    from sessdiag.core.units import parse_duration
    from sessdiag.scanning import ScanSettings, run_scan

    if top < 1:
        raise UsageError("--top must be at least 1")
    if max_tracked is not None and max_tracked < 1000:
        raise UsageError("--max-tracked must be at least 1000")
    if target is None and not access_log:
        raise UsageError("give a TARGET store, --access-log FILE, or both")
    if target is None and client_attr:
        raise UsageError("--client-attr reads session payloads: it needs a TARGET store")
    if target is not None:
        check_stdin(target, access_log)
    life = resolve_lifetime(max_lifetime, None)
    app = use_app_env(app_key, app_env, cookie_name, life)
    life, cookie_name = app.life, app.cookie_name
    settings = ScanSettings(max_lifetime=life.seconds, max_lifetime_given=life.given,
                            profile=profile, jobs=jobs, now=now, as_of=parse_as_of(as_of))
    logs = LogSettings(
        access_logs=tuple(access_log or ()), log_format=log_format, log_fields=log_field,
        cookie_name=cookie_name, cookie_hint=app.cookie_hint, client_key=client_key,
        race_window=parse_duration(race_window, flag="--race-window"),
        login_path=login_path, max_tracked=max_tracked, now=now, secret=app.secret,
        strict=strict,
    )
    if access_log:  # flag errors before a long store scan, not after it
        from sessdiag.analysis.accesslog import LogSpec

        LogSpec.build(log_format, cookie_name, client_key, log_field)
    if login_path:
        import re

        try:
            re.compile(login_path)
        except re.error as exc:
            raise UsageError(f"--login-path does not compile: {exc}") from exc
    if target is None:
        report = logs_only_report(logs, profile)
    else:
        report = run_scan(target, settings, logs, password_env=password_env,
                          php_depth=php_depth, sid_pattern=sid_pattern, client_attr=client_attr)
        attach_store_cadence(report)
    if not access_log and not client_attr:
        report.setdefault("warnings", []).append(
            "no --access-log and no --client-attr: only the store's own creation cadence "
            "can be reported")

    if as_json or quiet:
        emit(report, as_json, output, quiet)
        return
    from sessdiag.render.terminal_clients import clients_view

    emit(report, as_json, output, quiet, lambda r: clients_view(r, top=top))
