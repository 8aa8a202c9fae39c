"""The command line: parse, call, render, exit code. No logic lives here."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from sessdiag.errors import SessdiagError, UsageError
from sessdiag.render.progress import StderrProgress

app = typer.Typer(
    name="sessdiag",
    help="Session-store forensics: size, age, expiry, orphans and GC stalls.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
fixtures_app = typer.Typer(help="Materialise realistic session trees and Redis keyspaces.",
                           no_args_is_help=True)
app.add_typer(fixtures_app, name="fixtures")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine report on stdout, nothing else.")]
OutputOpt = Annotated[str | None, typer.Option("--output", "-o", metavar="FILE",
                                               help="Also write the JSON report to FILE.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No human report, no progress.")]
NoProgressOpt = Annotated[bool, typer.Option("--no-progress", help="Never show a progress bar.")]


def _lifetime(max_lifetime: str | None, app_conf: str | None) -> tuple[int, list[str]]:
    from sessdiag.appconf import lifetime_from_app_conf
    from sessdiag.units import parse_duration

    notes: list[str] = []
    if max_lifetime is not None:
        return parse_duration(max_lifetime), notes
    if app_conf:
        value = lifetime_from_app_conf(app_conf)
        if value is not None:
            return value, notes
        notes.append(f"{app_conf} sets no sessiongcmaxlifetime; using beego's default 3600 s")
    return 3600, notes


def _edges(buckets: str | None) -> tuple[int, ...]:
    from sessdiag.census import DEFAULT_AGE_EDGES
    from sessdiag.units import parse_duration

    if not buckets:
        return DEFAULT_AGE_EDGES
    edges = tuple(parse_duration(b) for b in buckets.split(",") if b.strip())
    if not edges or list(edges) != sorted(set(edges)) or edges[0] <= 0:
        raise UsageError("--buckets must be ascending positive durations, e.g. 1h,1d,7d,30d")
    return edges



def _emit(report: dict, as_json: bool, output: str | None, quiet: bool, view) -> None:  # type: ignore[no-untyped-def]
    from sessdiag.render import jsonout

    if output:
        jsonout.write_atomic(output, jsonout.dumps(report))
    if as_json:
        jsonout.write_stdout(report)
    elif not quiet:
        from sessdiag.render.terminal import print_view

        print_view(view(report))


@app.command()
def scan(
    target: Annotated[str, typer.Argument(help="Session directory, or redis:// URL.")],
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    max_lifetime: Annotated[str | None, typer.Option(
        "--max-lifetime", help="Session lifetime (e.g. 30d); default beego's 3600 s.")] = None,
    app_conf: Annotated[str | None, typer.Option(
        "--app-conf", help="beego conf/app.conf to read sessiongcmaxlifetime from.")] = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="beego-file, php-files, or a Redis profile: spring-session, "
        "connect-redis, … (docs/frameworks/; default: detected).")] = None,
    deep: Annotated[bool, typer.Option(
        "--deep", help="Decode every payload, not a sample.")] = False,
    sample: Annotated[int, typer.Option(
        "--sample", help="Payloads decoded without --deep.")] = 1000,
    buckets: Annotated[str | None, typer.Option(
        "--buckets", help="Age histogram edges, e.g. 1h,1d,7d,30d,90d.")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Parallel workers.")] = None,
    workers: Annotated[str | None, typer.Option(
        "--workers", help="threads (network mounts) or processes (local disks).")] = None,
    php_depth: Annotated[int | None, typer.Option(
        "--php-depth", help="PHP save_path 'N;/path' depth (default: detected).")] = None,
    sid_pattern: Annotated[str | None, typer.Option(
        "--sid-pattern", help="Regex of a session id (default per profile).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the payload sample.")] = None,
    password_env: Annotated[str | None, typer.Option(
        "--password-env", metavar="VAR", help="Redis: password from this variable.")] = None,
    rate: Annotated[float | None, typer.Option(
        "--rate", help="Redis: cap on commands per second.")] = None,
    pattern: Annotated[str | None, typer.Option(
        "--pattern", help="Redis: SCAN MATCH pattern of session keys.")] = None,
    access_log: Annotated[list[str] | None, typer.Option(
        "--access-log", help="Access log (repeatable; .gz and - accepted).")] = None,
    log_format: Annotated[str, typer.Option(
        "--log-format", help="combined-cookies, jsonl or 'regex:…'.")] = "combined-cookies",
    log_field: Annotated[str | None, typer.Option(
        "--log-field", help="jsonl field mapping, NAME=FIELD,….")] = None,
    cookie_name: Annotated[str | None, typer.Option(
        "--cookie-name", help="Session cookie name (default per profile).")] = None,
    client_key: Annotated[str, typer.Option(
        "--client-key", help="ip, ip+ua or ua.")] = "ip",
    race_window: Annotated[str, typer.Option(
        "--race-window", help="Login-race window.")] = "2s",
    prom: Annotated[str | None, typer.Option(
        "--prom", metavar="FILE", help="Write Prometheus textfile metrics (atomically).")] = None,
    now: Annotated[float | None, typer.Option("--now", hidden=True)] = None,
    no_progress: NoProgressOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Read-only census of a session store."""
    from sessdiag.scanning import ScanOptions, run_scan
    from sessdiag.units import parse_duration

    life, notes = _lifetime(max_lifetime, app_conf)
    if sample < 0:
        raise UsageError("--sample must not be negative")
    if php_depth is not None and not 0 <= php_depth <= 16:
        raise UsageError("--php-depth must be between 0 and 16")
    opts = ScanOptions(
        target=target, max_lifetime=life,
        max_lifetime_given=max_lifetime is not None or app_conf is not None, profile=profile,
        deep=deep, sample=sample, age_edges=_edges(buckets), jobs=jobs, workers=workers,
        php_depth=php_depth, sid_pattern=sid_pattern, seed=seed, now=now, notes=notes,
        password_env=password_env, rate=rate, pattern=pattern, access_logs=access_log or [],
        log_format=log_format, log_fields=log_field, cookie_name=cookie_name,
        client_key=client_key, race_window=parse_duration(race_window),
    )
    with StderrProgress(not (no_progress or quiet or as_json), {"scan": "scanning"},
                        unit="entries") as prog:
        opts.progress = prog.advance
        report = run_scan(opts)
    if prom:
        from sessdiag.render.prometheus import Metrics, scan_metrics, write_prom

        metrics = Metrics()
        scan_metrics(metrics, report)
        write_prom(prom, metrics)
    if as_json or quiet:  # the terminal renderer's imports cost a cron run ~40 ms
        _emit(report, as_json, output, quiet, None)
        return
    from sessdiag.render.terminal import scan_view

    _emit(report, as_json, output, quiet, scan_view)


@app.command()
def inspect(
    target: Annotated[str, typer.Argument(help="A session file, or a store directory.")],
    sid: Annotated[str | None, typer.Argument(help="Session id, when TARGET is a store.")] = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="beego-file, php-files, or a Redis profile (default: detected).")] = None,
    password_env: Annotated[str | None, typer.Option(
        "--password-env", metavar="VAR", help="Redis: password from this variable.")] = None,
) -> None:
    """Decode one session and show its keys, types and values."""
    from sessdiag.scanning import is_redis_target

    if is_redis_target(target):
        if sid is None:
            raise UsageError("give the session's key (or id) too: sessdiag inspect "
                             "redis://HOST:PORT/DB KEY")
        from sessdiag.render.terminal import inspect_view
        from sessdiag.stores.redis.inspect import inspect_redis

        report = inspect_redis(target, sid, password_env=password_env, profile=profile)
        _emit(report, as_json, output, False, inspect_view)
        return
    from sessdiag.inspect import inspect_file
    from sessdiag.render.terminal import inspect_view

    report = inspect_file(target, sid, profile=profile)
    _emit(report, as_json, output, False, inspect_view)


@fixtures_app.command("make")
def fixtures_make(
    directory: Annotated[str, typer.Argument(
        metavar="TARGET",
        help="Empty (or new) directory to fill, or redis:// / unix:// URL of an empty "
             "Redis database (with a Spring Session --spec).")],
    spec: Annotated[str | None, typer.Option("--spec", help="YAML spec (fixtures/*.yaml).")] = None,
    profile: Annotated[str | None, typer.Option("--profile")] = None,
    sessions: Annotated[int | None, typer.Option("--sessions")] = None,
    expired_fraction: Annotated[float | None, typer.Option("--expired-fraction")] = None,
    empty_fraction: Annotated[float | None, typer.Option("--empty-fraction")] = None,
    max_lifetime: Annotated[str | None, typer.Option("--max-lifetime")] = None,
    age_max: Annotated[str | None, typer.Option("--age-max")] = None,
    zero_byte: Annotated[int | None, typer.Option("--zero-byte")] = None,
    undecodable: Annotated[int | None, typer.Option("--undecodable")] = None,
    symlinks: Annotated[int | None, typer.Option("--symlinks")] = None,
    foreign: Annotated[int | None, typer.Option("--foreign")] = None,
    misplaced: Annotated[int | None, typer.Option("--misplaced")] = None,
    fifos: Annotated[int | None, typer.Option("--fifos")] = None,
    php_depth: Annotated[int | None, typer.Option("--php-depth")] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    now: Annotated[int | None, typer.Option("--now", help="Epoch seconds ages count from.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Redis: empty the target database first (FLUSHDB of that database "
                        "only) instead of refusing a non-empty one.")] = False,
    password_env: Annotated[str | None, typer.Option(
        "--password-env", metavar="VAR", help="Redis: password from this variable.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the expected report.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a realistic session tree or Redis keyspace (flags override the spec) and its
    expected counts."""
    from sessdiag.fixture_redis import RedisFixtureSpec, load_spec, make_redis
    from sessdiag.fixtures import FixtureSpec, make_tree
    from sessdiag.scanning import is_redis_target

    overrides = {"profile": profile, "sessions": sessions, "expired_fraction": expired_fraction,
                 "empty_fraction": empty_fraction, "max_lifetime": max_lifetime,
                 "age_max": age_max, "zero_byte": zero_byte, "undecodable": undecodable,
                 "symlinks": symlinks, "foreign": foreign, "misplaced": misplaced,
                 "fifos": fifos, "php_depth": php_depth, "now": now}
    loaded = load_spec(spec) if spec else None
    if is_redis_target(directory):
        if not isinstance(loaded, RedisFixtureSpec):
            raise UsageError("a Redis fixture needs --spec with 'profile: spring-session' and "
                             "its groups (e.g. fixtures/spring-healthy.yaml)")
        given = [f"--{k.replace('_', '-')}" for k, v in overrides.items() if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)}: for file trees only; a Redis fixture takes "
                             "its groups from --spec (and --seed)")
        if seed is not None:
            loaded.seed = seed
        expected = make_redis(directory, loaded, force=force, password_env=password_env)
        if as_json:
            from sessdiag.render.jsonout import write_stdout

            write_stdout(expected)
        elif not quiet:
            print(f"wrote {expected['sessions']} Spring sessions to {expected['target']} in "
                  f"{len(expected['namespaces'])} namespace(s) "
                  f"({expected['orphans']} never reused, {expected['logged_in']} logged in, "
                  f"{expected['no_ttl']} without TTL)")
        return
    if isinstance(loaded, RedisFixtureSpec):
        raise UsageError(f"{spec} describes a Redis keyspace; give a redis:// or unix:// URL "
                         "as TARGET")
    if force or password_env:
        raise UsageError("--force and --password-env are for Redis targets; a directory must "
                         "be empty or new")
    data: dict = loaded.__dict__.copy() if isinstance(loaded, FixtureSpec) else {}
    overrides["seed"] = seed
    data.update({k: v for k, v in overrides.items() if v is not None})
    if "payloads" in data and data.get("profile") == "php-files" and not spec:
        data.pop("payloads")
    expected = make_tree(directory, FixtureSpec.from_mapping(data, spec or "flags"))
    if as_json:
        from sessdiag.render.jsonout import write_stdout

        write_stdout(expected)
    elif not quiet:
        print(f"wrote {expected['sessions']} {expected['profile']} sessions to {directory} "
              f"({expected['expired']} expired, {expected['empty']} empty)")


from sessdiag.commands import register_all  # noqa: E402

register_all(app)

try:  # typer >= 0.24 vendors click; older releases use click itself
    from typer._click.exceptions import ClickException as _ParseError
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import ClickException as _ParseError  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> None:
    """Entry point: every failure is one line on stderr and a contract exit code."""
    try:
        from sessdiag.config import expand_argv

        args = expand_argv(list(sys.argv[1:] if argv is None else argv), _resolve_command)
        rv = app(args=args, prog_name="sessdiag", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except _ParseError as exc:
        _fail(exc.format_message(), 2)
    except SessdiagError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); quiet exit like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except RecursionError:
        _fail("input nested too deeply", 2)
    except Exception as exc:  # an unexpected bug: still one line, and a way to see more
        if os.environ.get("SESSDIAG_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (set SESSDIAG_DEBUG=1 for details)",
              70)
    sys.exit(rv if isinstance(rv, int) else 0)


def _resolve_command(argv: list[str]) -> tuple[list[str], set[str] | None]:
    """The words of argv that name a command, and that command's option names."""
    cmd = typer.main.get_command(app)
    words: list[str] = []
    for token in argv:
        children = getattr(cmd, "commands", None)
        if children is None or token not in children:
            break
        cmd = children[token]
        words.append(token)
    if not words or hasattr(cmd, "commands"):
        return words, None
    return words, {o for p in cmd.params for o in getattr(p, "opts", []) if o.startswith("--")}


def _fail(message: str, code: int) -> None:
    line = " ".join(str(message).split())
    sys.stderr.write(f"sessdiag: error: {line}\n")
    sys.exit(code)
