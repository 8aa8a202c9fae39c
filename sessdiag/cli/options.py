"""Options several commands share, declared once, and how their values resolve.

A command takes these as parameter annotations (`as_json: JsonOpt = False`), so a flag has
one spelling and one help text across the CLI (docs/report.md and the README's common flags).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from sessdiag.core.errors import UsageError

BEEGO_DEFAULT_LIFETIME = 3600  # beego's sessiongcmaxlifetime when neither flag nor conf sets it

# -- config -------------------------------------------------------------------------------
# Taken out of argv before parsing (sessdiag.config.expand_argv): declared so --help shows it.
StoreOpt = Annotated[str | None, typer.Option(
    "--store", metavar="NAME", help="A store named in sessdiag.yaml (or --config FILE): its "
    "target and settings; flags given here win.")]

# -- output -------------------------------------------------------------------------------
JsonOpt = Annotated[bool, typer.Option(
    "--json", help="Machine report (JSON) on stdout, nothing else; with --output FILE, "
    "the same JSON goes to FILE too.")]
OutputOpt = Annotated[str | None, typer.Option(
    "--output", "-o", metavar="FILE", help="Write the JSON report to FILE (atomically); "
    "the terminal still gets the human report (none with --quiet, JSON with --json).")]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No human report, no progress (errors still on stderr).")]
NoProgressOpt = Annotated[bool, typer.Option("--no-progress", help="Never show a progress bar.")]
GcProbeOpt = Annotated[bool, typer.Option(
    "--gc-probe", help="beego: measure the GC stall like gc-estimate (creates and removes "
    "probe files beside the store) instead of the static fallback.")]
PromOpt = Annotated[str | None, typer.Option(
    "--prom", metavar="FILE", help="Write Prometheus textfile metrics (atomically).")]

# -- the store ----------------------------------------------------------------------------
MaxLifetimeOpt = Annotated[str | None, typer.Option(
    "--max-lifetime", help="Session lifetime (e.g. 30d); default beego's 3600 s.")]
AppConfOpt = Annotated[str | None, typer.Option(
    "--app-conf", help="beego conf/app.conf to read sessiongcmaxlifetime from.")]
ProfileOpt = Annotated[str | None, typer.Option(
    "--profile", help="beego-file, php-files, laravel-files, or a Redis profile: "
    "spring-session, connect-redis, laravel-redis, … (docs/frameworks/; default: detected).")]
JobsOpt = Annotated[int | None, typer.Option(
    "--jobs", "-j", help="Parallel workers (default by filesystem type).")]
WorkersOpt = Annotated[str | None, typer.Option(
    "--workers", help="threads (network mounts) or processes (local disks).")]
PhpDepthOpt = Annotated[int | None, typer.Option(
    "--php-depth", help="PHP save_path 'N;/path' depth (default: detected).")]
SidPatternOpt = Annotated[str | None, typer.Option(
    "--sid-pattern", help="Regex of a session id (default per profile).")]
DeepOpt = Annotated[bool, typer.Option("--deep", help="Decode every payload, not a sample.")]
RateOpt = Annotated[float | None, typer.Option(
    "--rate", metavar="N", help="Cap on operations per second: Redis commands, or "
    "filesystem operations of a file store (spare a busy server).")]
MaxInflightOpt = Annotated[int | None, typer.Option(
    "--max-inflight", metavar="N", help="File stores: at most N filesystem operations in "
    "flight (default: adaptive, up to 256; it backs off when the mount slows down).")]
PasswordEnvOpt = Annotated[str | None, typer.Option(
    "--password-env", metavar="VAR", help="Redis: password from this variable.")]
NowOpt = Annotated[float | None, typer.Option("--now", hidden=True)]
AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", metavar="TIME", help="Redis dumps: count ages and expiry as of TIME (ISO 8601 "
    "such as 2026-11-22T01:30:00Z, or epoch seconds); default: the dump's ctime, else its "
    "file time.")]


def check_stdin(target: str, access_logs: list[str] | None) -> None:
    """Standard input is read once: it can carry the dump or an access log, not both."""
    if target == "-" and access_logs and "-" in access_logs:
        raise UsageError("standard input can carry the dump or an access log, not both: "
                         "give one of them as a file")


def parse_as_of(value: str | None) -> float | None:
    """--as-of TIME -> epoch seconds (a time without an offset is UTC)."""
    if value is None:
        return None
    from datetime import UTC, datetime

    v = value.strip()
    try:
        return float(v)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--as-of {value!r}: not a time (ISO 8601 such as "
                         "2026-11-22T01:30:00Z, or epoch seconds)") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
PartitionOpt = Annotated[str | None, typer.Option(
    "--partition", metavar="PART", help="K/N (file trees): only the K-th of N disjoint parts (by "
    "first-level shard), so N machines share one tree; join the reports with `merge`.")]


def parse_partition(text: str | None) -> tuple[int, int] | None:
    """--partition K/N -> (K, N), checked; None when not given."""
    from sessdiag.stores.files.partition import parse_partition as parse

    part = parse(text)
    return None if part is None else (part.index, part.count)

# -- access logs --------------------------------------------------------------------------
AccessLogOpt = Annotated[list[str] | None, typer.Option(
    "--access-log", help="Access log (repeatable; .gz and - for stdin).")]
LogFormatOpt = Annotated[str, typer.Option(
    "--log-format", help="combined-cookies, jsonl or 'regex:…' with named groups.")]
LogFieldOpt = Annotated[str | None, typer.Option(
    "--log-field", help="jsonl field mapping NAME=FIELD,… (names: client, ip, time, "
                        "request, method, path, status, ua, cookie, set_cookie, "
                        "set_cookie_value).")]
CookieNameOpt = Annotated[str | None, typer.Option(
    "--cookie-name", help="Session cookie name (default: from the logs' Set-Cookie, "
                          "else per profile).")]
ClientKeyOpt = Annotated[str, typer.Option(
    "--client-key", help="ip, ip+ua, ua, or a field of the jsonl/regex format.")]
StrictOpt = Annotated[bool, typer.Option(
    "--strict", help="Exit 2 when more than 1 % of access-log lines do not parse (default: a "
    "finding and a warning).")]
RaceWindowOpt = Annotated[str, typer.Option(
    "--race-window", help="Login race: new sessions issued within this window.")]

# -- Laravel (its session cookie is encrypted) ----------------------------------------------
AppKeyOpt = Annotated[str | None, typer.Option(
    "--app-key", metavar="KEY", help="Laravel: APP_KEY (base64:…) to decrypt the session "
                                     "cookie; never printed. Prefer --app-env.")]
AppEnvOpt = Annotated[str | None, typer.Option(
    "--app-env", metavar="PATH", help="Laravel: the app's .env (APP_KEY, APP_NAME, "
                                      "SESSION_COOKIE, SESSION_LIFETIME, prefixes).")]


@dataclass(frozen=True)
class Lifetime:
    seconds: int
    given: bool  # set by the user (flag or app.conf): a store's own lifetime must not win
    notes: list[str] = field(default_factory=list)
    source: str = "default"  # "--max-lifetime", "--app-conf FILE" or "default"


def resolve_lifetime(max_lifetime: str | None, app_conf: str | None, *,
                     required_flag: str | None = None) -> Lifetime:
    """The session lifetime from `--max-lifetime`, else beego's app.conf, else 3600 s.

    With `required_flag` (prune) there is no default: deleting by a guessed lifetime is
    not safe, so a missing value is a usage error naming that flag.
    """
    from sessdiag.core.units import parse_duration

    given = max_lifetime is not None or app_conf is not None
    if max_lifetime is not None:
        flag = required_flag or "--max-lifetime"
        return Lifetime(parse_duration(max_lifetime, flag=flag), given, source=flag)
    if app_conf:
        from sessdiag.appconf import lifetime_from_app_conf

        value = lifetime_from_app_conf(app_conf)
        if value is not None:
            return Lifetime(value, given, source=f"--app-conf {app_conf}")
        if required_flag:
            raise UsageError(f"{app_conf} sets no sessiongcmaxlifetime; pass {required_flag}")
        return Lifetime(BEEGO_DEFAULT_LIFETIME, given,
                        [f"{app_conf} sets no sessiongcmaxlifetime; using beego's default "
                         "3600 s"])
    if required_flag:
        raise UsageError(f"{required_flag} is required (e.g. {required_flag} 30d), or "
                         "--app-conf with sessiongcmaxlifetime")
    return Lifetime(BEEGO_DEFAULT_LIFETIME, given)


@dataclass(frozen=True)
class AppKeys:
    """`--app-key`/`--app-env` resolved: the lifetime, the cookie secret, the cookie name."""

    life: Lifetime
    secret: Any = field(default=None, repr=False)  # never printed
    cookie_name: str | None = None
    # The name the app's settings give, for a log that names no cookie ("$upstream_cookie_…"
    # logs a bare value): what the log's Set-Cookie shows still wins.
    cookie_hint: str | None = None


def use_app_env(app_key: str | None, app_env: str | None, cookie_name: str | None,
                life: Lifetime) -> AppKeys:
    """Laravel's key and .env: the .env's SESSION_LIFETIME is the lifetime and its
    SESSION_COOKIE/APP_NAME the cookie name, unless given by flags."""
    if not app_key and not app_env:
        return AppKeys(life, None, cookie_name)
    from sessdiag.frameworks import laravel

    app = laravel.load_app(app_key, app_env)
    if app.lifetime_s is not None and not life.given:
        life = Lifetime(app.lifetime_s, True, [*life.notes, *app.notes])
    if app.cookie_name == laravel.COOKIE:  # the default: the logs' Set-Cookie tells it
        return AppKeys(life, app.key, cookie_name, app.cookie_name)
    return AppKeys(life, app.key, cookie_name or app.cookie_name, app.cookie_name)


def check_php_depth(php_depth: int | None) -> None:
    if php_depth is not None and not 0 <= php_depth <= 16:
        raise UsageError("--php-depth must be between 0 and 16")


def check_sample(sample: int) -> None:
    if sample < 0:
        raise UsageError("--sample must not be negative")


def show_progress(no_progress: bool, quiet: bool, as_json: bool) -> bool:
    return not (no_progress or quiet or as_json)


def emit(report: dict, as_json: bool, output: str | None, quiet: bool,
         view: Any = None) -> None:
    """--output, then --json or the human view (unless --quiet): the same for every command.

    `view` is a callable report -> rich renderable, imported by the caller only when it is
    needed (the terminal renderer's imports cost a cron run ~40 ms).
    """
    from sessdiag.render import jsonout

    if output:
        jsonout.write_atomic(output, jsonout.dumps(report))
    if as_json:
        jsonout.write_stdout(report)
    elif not quiet and view is not None:
        from sessdiag.core.textsafe import terminal_safe
        from sessdiag.render.terminal import print_view

        print_view(view(terminal_safe(report)))
