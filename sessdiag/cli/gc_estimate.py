"""`sessdiag gc-estimate TREE`: how long beego's session GC will block every request.

The estimate itself is `sessdiag.stores.files.gc_estimate`; docs/gc-model.md the model.
"""

from __future__ import annotations

import os
import re
from typing import Annotated

import typer

from sessdiag.cli.options import (
    AppConfOpt,
    JobsOpt,
    JsonOpt,
    MaxLifetimeOpt,
    NoProgressOpt,
    NowOpt,
    OutputOpt,
    PromOpt,
    QuietOpt,
    StoreOpt,
    WorkersOpt,
    emit,
    resolve_lifetime,
    show_progress,
)
from sessdiag.core.errors import UsageError

DEFAULT_ASSUME_LATENCY = ("5ms",)
CASDOOR_GC_INTERVAL_S = 30 * 86400
_LATENCY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s)?\s*$")
_LATENCY_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, None: 1e-3}


def parse_latency(text: str) -> float:
    """'5ms', '800us', '0.06s', or a bare number of milliseconds -> seconds."""
    m = _LATENCY_RE.match(str(text))
    if not m:
        raise UsageError(f"--assume-latency: not a latency: {text!r} (use e.g. 800us, 5ms, 0.06s)")
    value = float(m.group(1)) * _LATENCY_UNITS[m.group(2)]
    if value <= 0 or value > 60:
        raise UsageError(f"--assume-latency must be between 0 and 60 s, not {text!r}")
    return value


def gc_estimate(
    tree: Annotated[str, typer.Argument(help="beego session directory (savePath).")],
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    max_lifetime: MaxLifetimeOpt = None,
    app_conf: AppConfOpt = None,
    request_rate: Annotated[float | None, typer.Option(
        "--request-rate", metavar="R", help="Requests per second: how many queue.")] = None,
    gc_interval: Annotated[str, typer.Option(
        "--gc-interval", help="Time between GC passes (beego 3600s; casdoor 30d).")] = "3600",
    what_if_age: Annotated[list[str] | None, typer.Option(
        "--what-if-age", metavar="DUR",
        help="Also estimate after pruning sessions older than DUR (repeatable).")] = None,
    assume_latency: Annotated[list[str] | None, typer.Option(
        "--assume-latency", metavar="LAT",
        help="Project with LAT more per lstat/unlink/readdir, e.g. 5ms (repeatable; "
        "default 5ms).",
    )] = None,
    cold: Annotated[bool, typer.Option(
        "--cold", help="Probe after dropping caches (root), else give the bound.")] = False,
    no_probe: Annotated[bool, typer.Option(
        "--no-probe", help="Static model only: count, measure nothing.")] = False,
    no_unlink_probe: Annotated[bool, typer.Option(
        "--no-unlink-probe", help="Do not create and unlink probe files.")] = False,
    scratch: Annotated[str | None, typer.Option(
        "--scratch", metavar="DIR", help="Scratch directory for the unlink probe "
        "(same filesystem; default the store's parent).")] = None,
    probe_budget: Annotated[float, typer.Option(
        "--probe-budget", metavar="SECONDS",
        help="Probe time budget (~1s on a quiet disk; the rest waits for a busy one).")] = 4.0,
    probe_ops: Annotated[int, typer.Option(
        "--probe-ops", metavar="N", help="Probe operation budget.")] = 2000,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="beego-file (default: detected).")] = None,
    jobs: JobsOpt = None,
    workers: WorkersOpt = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the samples.")] = None,
    prom: PromOpt = None,
    now: NowOpt = None,
    no_progress: NoProgressOpt = False,
    quiet: QuietOpt = False,
    store_name: StoreOpt = None,
) -> None:
    """How long beego's session GC will block every request on this tree."""
    del store_name  # expand_argv already turned it into TARGET and flags
    from sessdiag.core.units import parse_duration
    from sessdiag.render.progress import StderrProgress
    from sessdiag.stores.files.gc_estimate import gc_estimate_report

    life = resolve_lifetime(max_lifetime, app_conf)
    if request_rate is not None and request_rate < 0:
        raise UsageError("--request-rate must not be negative")
    if not 0.05 <= probe_budget <= 600:
        raise UsageError("--probe-budget must be between 0.05 and 600 seconds")
    if probe_ops < 50:
        raise UsageError("--probe-ops must be at least 50")
    interval = parse_duration(gc_interval, flag="--gc-interval")
    ages = [parse_duration(a, flag="--what-if-age") for a in (what_if_age or [])]
    lats = [parse_latency(x) for x in (assume_latency or DEFAULT_ASSUME_LATENCY)]
    if scratch is not None and not os.path.isdir(scratch):
        raise UsageError(f"--scratch {scratch}: not a directory")

    with StderrProgress(show_progress(no_progress, quiet, as_json), {"count": "counting"},
                        unit="entries") as prog:
        report = gc_estimate_report(
            tree, max_lifetime=life.seconds, gc_interval=interval, request_rate=request_rate,
            what_if_ages=ages, assume_latencies=lats, cold=cold, probe=not no_probe,
            unlink_probe=not no_unlink_probe, scratch=scratch, budget_s=probe_budget,
            budget_ops=probe_ops, profile=profile, jobs=jobs, workers=workers, seed=seed,
            now=now, progress=prog.callback())
    report["notes"].extend(life.notes)
    if interval == CASDOOR_GC_INTERVAL_S:
        report["notes"].append("30 d interval: casdoor's SessionGCMaxLifetime, which beego "
                               "also uses as Gclifetime")
    if prom:
        from sessdiag.render.prometheus import Metrics, gc_metrics, store_label, write_prom

        metrics = Metrics()
        gc_metrics(metrics, store_label(report), report)
        write_prom(prom, metrics)
    from sessdiag.render.gc_view import gc_view

    emit(report, as_json, output, quiet, gc_view)
