"""`sessdiag check`: evaluate a YAML policy against one or more stores (CI and cron)."""

from __future__ import annotations

import time
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
    MaxLifetimeOpt,
    NowOpt,
    OutputOpt,
    PasswordEnvOpt,
    ProfileOpt,
    PromOpt,
    QuietOpt,
    RateOpt,
    StoreOpt,
    StrictOpt,
    check_stdin,
    emit,
    parse_as_of,
    resolve_lifetime,
    use_app_env,
)
from sessdiag.core.errors import UsageError

CHECK_SCHEMA = "sessdiag.check/1"


def check(
    target: Annotated[str | None, typer.Argument(
        help="Store to check (default: the policy's targets).")] = None,
    policy: Annotated[str, typer.Option("--policy", help="YAML policy file.")] = ...,  # type: ignore[assignment]
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    junit: Annotated[str | None, typer.Option("--junit", metavar="FILE",
                                              help="Write a JUnit XML report.")] = None,
    prom: PromOpt = None,
    gc_probe: GcProbeOpt = False,
    max_lifetime: MaxLifetimeOpt = None,
    app_conf: AppConfOpt = None,
    profile: ProfileOpt = None,
    deep: DeepOpt = False,
    jobs: JobsOpt = None,
    password_env: PasswordEnvOpt = None,
    rate: RateOpt = None,
    access_log: AccessLogOpt = None,
    log_format: LogFormatOpt = "combined-cookies",
    log_field: LogFieldOpt = None,
    cookie_name: CookieNameOpt = None,
    strict: StrictOpt = False,
    app_key: AppKeyOpt = None,
    app_env: AppEnvOpt = None,
    client_key: ClientKeyOpt = "ip",
    now: NowOpt = None,
    as_of: AsOfOpt = None,
    quiet: QuietOpt = False,
    store_name: StoreOpt = None,
) -> None:
    """Evaluate a policy; exit 1 listing every violated rule (measured vs allowed)."""
    del store_name  # expand_argv already turned it into TARGET and flags
    from sessdiag.analysis.settings import LogSettings
    from sessdiag.policy import PolicyTarget, evaluate, load_policy
    from sessdiag.render.prometheus import Metrics, check_metrics, scan_metrics, write_prom
    from sessdiag.scanning import ScanSettings, run_scan

    pol = load_policy(policy)
    targets = [PolicyTarget(target=target)] if target else pol.targets
    if not targets:
        raise UsageError(f"no target: give one, or list 'targets:' in {policy}")
    life = resolve_lifetime(max_lifetime, app_conf)
    app = use_app_env(app_key, app_env, cookie_name, life)
    life, cookie_name = app.life, app.cookie_name
    suites: list[dict] = []
    metrics = Metrics()
    for t in targets:
        check_stdin(t.target, access_log)
        t0 = time.perf_counter()
        settings = ScanSettings(
            max_lifetime=t.max_lifetime or life.seconds,
            max_lifetime_given=bool(t.max_lifetime) or life.given,
            max_lifetime_source=f"policy {policy}" if t.max_lifetime else life.source,
            profile=t.profile or profile, deep=deep, jobs=jobs, now=now, notes=tuple(life.notes),
            rate=rate, as_of=parse_as_of(as_of), gc_probe=gc_probe,
        )
        logs = LogSettings(access_logs=tuple(access_log or ()), log_format=log_format,
                           log_fields=log_field, cookie_name=cookie_name,
                           cookie_hint=app.cookie_hint, client_key=client_key,
                           secret=app.secret, strict=strict)
        report = run_scan(t.target, settings, logs, password_env=password_env)
        results = [r.to_dict() for r in evaluate(report, pol.rules_for(t if not target else None))]
        suites.append({"name": t.target, "results": results, "time": time.perf_counter() - t0,
                       "report": report})
        scan_metrics(metrics, report)
        check_metrics(metrics, report["target"]["location"], results)
    violations = sum(r["status"] == "fail" for s in suites for r in s["results"])
    out = {
        "schema": CHECK_SCHEMA,
        "policy": policy,
        "ok": violations == 0,
        "violations": violations,
        "targets": [{"target": s["name"], "ok": all(r["status"] != "fail" for r in s["results"]),
                     "results": s["results"],
                     "summary": {k: s["report"].get(k) for k in
                                 ("sessions", "allocated_bytes", "expired_fraction", "empty")}}
                    for s in suites],
    }
    if junit:
        from sessdiag.render.junit import write_junit

        write_junit(junit, suites)
    if prom:
        write_prom(prom, metrics)
    emit(out, as_json, output, quiet)
    if not as_json and (not quiet or violations):
        from sessdiag.render.check_view import print_check

        # --quiet is for cron: silent when every rule holds, but a failure must still say
        # which rules failed (on stderr), or the mail cron sends is empty.
        print_check(out, failures_only=quiet)
    raise typer.Exit(0 if violations == 0 else 1)
