"""`sessdiag check`: evaluate a YAML policy against one or more stores (CI and cron)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from sessdiag.errors import UsageError

CHECK_SCHEMA = "sessdiag.check/1"


def check(
    target: Annotated[str | None, typer.Argument(
        help="Store to check (default: the policy's targets).")] = None,
    policy: Annotated[str, typer.Option("--policy", help="YAML policy file.")] = ...,  # type: ignore[assignment]
    as_json: Annotated[bool, typer.Option("--json", help="Machine report on stdout.")] = False,
    output: Annotated[str | None, typer.Option("--output", "-o", metavar="FILE",
                                               help="Also write the JSON report here.")] = None,
    junit: Annotated[str | None, typer.Option("--junit", metavar="FILE",
                                              help="Write a JUnit XML report.")] = None,
    prom: Annotated[str | None, typer.Option("--prom", metavar="FILE",
                                             help="Write Prometheus textfile metrics.")] = None,
    max_lifetime: Annotated[str | None, typer.Option("--max-lifetime")] = None,
    app_conf: Annotated[str | None, typer.Option("--app-conf")] = None,
    profile: Annotated[str | None, typer.Option("--profile")] = None,
    deep: Annotated[bool, typer.Option("--deep")] = False,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j")] = None,
    password_env: Annotated[str | None, typer.Option("--password-env", metavar="VAR")] = None,
    access_log: Annotated[list[str] | None, typer.Option("--access-log")] = None,
    log_format: Annotated[str, typer.Option("--log-format")] = "combined-cookies",
    log_field: Annotated[str | None, typer.Option("--log-field")] = None,
    cookie_name: Annotated[str | None, typer.Option("--cookie-name")] = None,
    client_key: Annotated[str, typer.Option("--client-key")] = "ip",
    now: Annotated[float | None, typer.Option("--now", hidden=True)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Evaluate a policy; exit 1 listing every violated rule (measured vs allowed)."""
    from sessdiag.cli import _lifetime
    from sessdiag.policy import PolicyTarget, evaluate, load_policy
    from sessdiag.render import jsonout
    from sessdiag.render.prometheus import Metrics, check_metrics, scan_metrics, write_prom
    from sessdiag.scanning import ScanOptions, run_scan

    pol = load_policy(policy)
    targets = [PolicyTarget(target=target)] if target else pol.targets
    if not targets:
        raise UsageError(f"no target: give one, or list 'targets:' in {policy}")
    life, notes = _lifetime(max_lifetime, app_conf)
    suites: list[dict] = []
    metrics = Metrics()
    for t in targets:
        t0 = time.perf_counter()
        opts = ScanOptions(
            target=t.target, max_lifetime=t.max_lifetime or life,
            max_lifetime_given=bool(t.max_lifetime or max_lifetime or app_conf),
            profile=t.profile or profile, deep=deep, jobs=jobs, now=now, notes=list(notes),
            password_env=password_env, access_logs=access_log or [], log_format=log_format,
            log_fields=log_field, cookie_name=cookie_name, client_key=client_key,
        )
        report = run_scan(opts)
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
    if output:
        jsonout.write_atomic(output, jsonout.dumps(out))
    if as_json:
        jsonout.write_stdout(out)
    elif not quiet:
        _print_human(out)
    raise typer.Exit(0 if violations == 0 else 1)


def _print_human(out: dict) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True)
    for t in out["targets"]:
        console.print(Text(t["target"], style="bold"))
        for r in t["results"]:
            mark, style = {"pass": ("ok  ", "green"), "fail": ("FAIL", "bold red"),
                           "skipped": ("skip", "dim")}[r["status"]]
            line = Text(f"  {mark} ", style=style)
            line.append(f"{r['rule']}: {r['message']}")
            console.print(line)
    verdict = "all rules hold" if out["ok"] else f"{out['violations']} rule(s) violated"
    console.print(Text(verdict, style="green" if out["ok"] else "bold red"))


def register(app: typer.Typer) -> None:
    app.command("check")(check)
