"""`sessdiag scan TARGET`: read-only census of a session store."""

from __future__ import annotations

from typing import Annotated

import typer

from sessdiag.cli.options import (
    AccessLogOpt,
    AppConfOpt,
    AppEnvOpt,
    AppKeyOpt,
    AsOfOpt,
    ClientKeyOpt,
    CookieNameOpt,
    DeepOpt,
    GcProbeOpt,
    JobsOpt,
    JsonOpt,
    LogFieldOpt,
    LogFormatOpt,
    MaxInflightOpt,
    MaxLifetimeOpt,
    NoProgressOpt,
    NowOpt,
    OutputOpt,
    PartitionOpt,
    PasswordEnvOpt,
    PhpDepthOpt,
    ProfileOpt,
    PromOpt,
    QuietOpt,
    RaceWindowOpt,
    RateOpt,
    SidPatternOpt,
    StoreOpt,
    StrictOpt,
    WorkersOpt,
    check_php_depth,
    check_sample,
    check_stdin,
    emit,
    parse_as_of,
    parse_partition,
    resolve_lifetime,
    show_progress,
    use_app_env,
)
from sessdiag.core.errors import UsageError


def scan(
    target: Annotated[str, typer.Argument(
        help="Session directory, redis:// URL, or Redis dump (dump.rdb, .rdb.gz, - for "
             "standard input).")],
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    max_lifetime: MaxLifetimeOpt = None,
    app_conf: AppConfOpt = None,
    profile: ProfileOpt = None,
    deep: DeepOpt = False,
    sample: Annotated[int, typer.Option(
        "--sample", help="Payloads decoded without --deep.")] = 1000,
    buckets: Annotated[str | None, typer.Option(
        "--buckets", help="Age histogram edges, e.g. 1h,1d,7d,30d,90d.")] = None,
    jobs: JobsOpt = None,
    workers: WorkersOpt = None,
    php_depth: PhpDepthOpt = None,
    sid_pattern: SidPatternOpt = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the payload sample.")] = None,
    password_env: PasswordEnvOpt = None,
    rate: RateOpt = None,
    max_inflight: MaxInflightOpt = None,
    pattern: Annotated[str | None, typer.Option(
        "--pattern", help="Redis: SCAN MATCH pattern of session keys.")] = None,
    access_log: AccessLogOpt = None,
    log_format: LogFormatOpt = "combined-cookies",
    log_field: LogFieldOpt = None,
    cookie_name: CookieNameOpt = None,
    strict: StrictOpt = False,
    app_key: AppKeyOpt = None,
    app_env: AppEnvOpt = None,
    client_key: ClientKeyOpt = "ip",
    race_window: RaceWindowOpt = "2s",
    prom: PromOpt = None,
    gc_probe: GcProbeOpt = False,
    partition: PartitionOpt = None,
    now: NowOpt = None,
    as_of: AsOfOpt = None,
    no_progress: NoProgressOpt = False,
    quiet: QuietOpt = False,
    store_name: StoreOpt = None,
) -> None:
    """Read-only census of a session store."""
    del store_name  # expand_argv already turned it into TARGET and flags
    from sessdiag.analysis.settings import LogSettings
    from sessdiag.core.units import parse_duration
    from sessdiag.render.progress import StderrProgress
    from sessdiag.scanning import ScanSettings, run_scan

    life = resolve_lifetime(max_lifetime, app_conf)
    app = use_app_env(app_key, app_env, cookie_name, life)
    life, cookie_name = app.life, app.cookie_name
    check_sample(sample)
    check_php_depth(php_depth)
    check_stdin(target, access_log)
    settings = ScanSettings(
        max_lifetime=life.seconds, max_lifetime_given=life.given,
        max_lifetime_source=life.source, profile=profile, deep=deep,
        sample=sample, age_edges=_edges(buckets), jobs=jobs, workers=workers, seed=seed,
        now=now, as_of=parse_as_of(as_of), notes=tuple(life.notes), rate=rate,
        pattern=pattern,
        partition=parse_partition(partition),
        max_inflight=max_inflight, gc_probe=gc_probe,
    )
    logs = LogSettings(
        access_logs=tuple(access_log or ()), log_format=log_format, log_fields=log_field,
        cookie_name=cookie_name, cookie_hint=app.cookie_hint, client_key=client_key,
        race_window=parse_duration(race_window, flag="--race-window"),
        secret=app.secret, strict=strict,
    )
    with StderrProgress(show_progress(no_progress, quiet, as_json), {"scan": "scanning"},
                        unit="entries") as prog:
        report = run_scan(target, settings, logs, password_env=password_env,
                          php_depth=php_depth, sid_pattern=sid_pattern,
                          progress=prog.callback())
    if prom:
        from sessdiag.render.prometheus import Metrics, scan_metrics, write_prom

        metrics = Metrics()
        scan_metrics(metrics, report)
        write_prom(prom, metrics)
    if as_json or quiet:  # the terminal renderer's imports cost a cron run ~40 ms
        emit(report, as_json, output, quiet)
        return
    from sessdiag.render.terminal import scan_view

    emit(report, as_json, output, quiet, scan_view)


def _edges(buckets: str | None) -> tuple[int, ...]:
    from sessdiag.census import DEFAULT_AGE_EDGES
    from sessdiag.core.units import parse_duration

    if not buckets:
        return DEFAULT_AGE_EDGES
    edges = tuple(parse_duration(b, flag="--buckets") for b in buckets.split(",") if b.strip())
    if not edges or list(edges) != sorted(set(edges)) or edges[0] <= 0:
        raise UsageError("--buckets must be ascending positive durations, e.g. 1h,1d,7d,30d")
    return edges
