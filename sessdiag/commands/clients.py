"""`sessdiag clients TARGET`: who creates the store's sessions, from access logs or payloads.

Flags, rendering, exit code; the work is `run_scan` (which attributes the access logs) plus
`attribute_by_payload` and the store's creation cadence.
"""

from __future__ import annotations

from typing import Annotated

import typer

from sessdiag.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("clients")(clients)


def clients(
    target: Annotated[str | None, typer.Argument(
        help="Session directory, or redis:// URL (optional with --access-log: logs only).")
    ] = None,
    access_log: Annotated[list[str] | None, typer.Option(
        "--access-log", help="Access log (repeatable; .gz and - for stdin).")] = None,
    log_format: Annotated[str, typer.Option(
        "--log-format", help="combined-cookies, jsonl or 'regex:…' with named groups.")
    ] = "combined-cookies",
    log_field: Annotated[str | None, typer.Option(
        "--log-field", help="jsonl field mapping NAME=FIELD,… (names: client, ip, time, "
                            "request, method, path, status, ua, cookie, set_cookie).")] = None,
    cookie_name: Annotated[str | None, typer.Option(
        "--cookie-name", help="Session cookie name (default: from the logs' Set-Cookie, "
                              "else per profile).")] = None,
    client_key: Annotated[str, typer.Option(
        "--client-key", help="ip, ip+ua, ua, or a field of the jsonl/regex format.")] = "ip",
    race_window: Annotated[str, typer.Option(
        "--race-window", help="Login race: new sessions issued within this window.")] = "2s",
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
    as_json: Annotated[bool, typer.Option(
        "--json", help="Machine report on stdout, nothing else.")] = False,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Also write the JSON report to FILE.")] = None,
    max_lifetime: Annotated[str | None, typer.Option(
        "--max-lifetime", help="Session lifetime (e.g. 30d); default beego's 3600 s.")] = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="Store profile (default: detected).")] = None,
    php_depth: Annotated[int | None, typer.Option("--php-depth")] = None,
    sid_pattern: Annotated[str | None, typer.Option("--sid-pattern")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j")] = None,
    password_env: Annotated[str | None, typer.Option(
        "--password-env", metavar="VAR", help="Redis: password from this variable.")] = None,
    now: Annotated[float | None, typer.Option("--now", hidden=True)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Orphan sessions per client, machine-client cadence and login races."""
    from sessdiag.analysis.clients import (
        attach_store_cadence,
        attribute_by_payload,
        logs_only_report,
    )
    from sessdiag.render import jsonout
    from sessdiag.scanning import ScanOptions, run_scan
    from sessdiag.units import parse_duration

    if top < 1:
        raise UsageError("--top must be at least 1")
    if max_tracked is not None and max_tracked < 1000:
        raise UsageError("--max-tracked must be at least 1000")
    if target is None and not access_log:
        raise UsageError("give a TARGET store, --access-log FILE, or both")
    if target is None and client_attr:
        raise UsageError("--client-attr reads session payloads: it needs a TARGET store")
    life = parse_duration(max_lifetime) if max_lifetime is not None else 3600
    opts = ScanOptions(
        target=target or "", max_lifetime=life, max_lifetime_given=max_lifetime is not None,
        profile=profile, php_depth=php_depth, sid_pattern=sid_pattern, jobs=jobs, now=now,
        password_env=password_env, access_logs=access_log or [], log_format=log_format,
        log_fields=log_field, cookie_name=cookie_name, client_key=client_key,
        race_window=parse_duration(race_window),
    )
    # Options only attribution reads; ScanOptions carries the scan's own.
    opts.login_path = login_path  # type: ignore[attr-defined]
    opts.max_tracked = max_tracked  # type: ignore[attr-defined]
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
        report = logs_only_report(opts)
    else:
        report = run_scan(opts)
        attach_store_cadence(report)
    if client_attr:
        attribute_by_payload(report, opts, client_attr)
    if not access_log and not client_attr:
        report.setdefault("warnings", []).append(
            "no --access-log and no --client-attr: only the store's own creation cadence "
            "can be reported")

    if output:
        jsonout.write_atomic(output, jsonout.dumps(report))
    if as_json:
        jsonout.write_stdout(report)
    elif not quiet:
        from sessdiag.render.terminal import print_view
        from sessdiag.render.terminal_clients import clients_view

        print_view(clients_view(report, top=top))
