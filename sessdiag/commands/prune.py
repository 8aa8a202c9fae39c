"""`sessdiag prune TARGET --max-age DUR`: flags, signals, rendering, exit code. No logic."""

from __future__ import annotations

import signal
import sys
from typing import Annotated, Any

import typer

from sessdiag.errors import SafetyRefusal, UsageError
from sessdiag.render.progress import StderrProgress


def register(app: typer.Typer) -> None:
    app.command("prune")(prune)


def prune(
    target: Annotated[str, typer.Argument(help="Session directory (beego or PHP file store).")],
    max_age: Annotated[str | None, typer.Option(
        "--max-age", "--max-lifetime", metavar="DUR",
        help="Delete sessions not touched for longer than this (e.g. 30d). Default: "
             "sessiongcmaxlifetime from --app-conf.")] = None,
    app_conf: Annotated[str | None, typer.Option(
        "--app-conf", help="beego conf/app.conf to read sessiongcmaxlifetime from.")] = None,
    apply: Annotated[bool, typer.Option(
        "--apply", help="Really delete. Without it: a dry run that changes nothing.")] = False,
    grace: Annotated[str, typer.Option(
        "--grace", metavar="DUR", help="Extra margin on top of --max-age (clock skew, NFS "
                                       "attribute cache, longest request).")] = "60s",
    as_json: Annotated[bool, typer.Option(
        "--json", help="Machine report on stdout, nothing else.")] = False,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Also write the JSON report to FILE.")] = None,
    prom: Annotated[str | None, typer.Option(
        "--prom", metavar="FILE", help="Write Prometheus textfile metrics (atomically).")
    ] = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="beego-file or php-files (default: detected; set it in cron).")] = None,
    php_depth: Annotated[int | None, typer.Option(
        "--php-depth", help="PHP save_path 'N;/path' depth (default: detected).")] = None,
    sid_pattern: Annotated[str | None, typer.Option(
        "--sid-pattern", help="Regex of a session id (default per profile).")] = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", help="Parallel workers (default: cores on local disks, 32 threads on "
                             "network/FUSE mounts).")] = None,
    workers: Annotated[str | None, typer.Option(
        "--workers", help="threads or processes (default by filesystem type).")] = None,
    rate: Annotated[float | None, typer.Option(
        "--rate", metavar="N", help="At most N deletions per second, all workers together.")
    ] = None,
    max_delete: Annotated[int | None, typer.Option(
        "--max-delete", metavar="N", help="Stop after N deletions.")] = None,
    max_runtime: Annotated[str | None, typer.Option(
        "--max-runtime", metavar="DUR", help="Stop cleanly after this long (e.g. 10m).")] = None,
    max_fraction: Annotated[float, typer.Option(
        "--max-fraction", help="Refuse (exit 4) when a larger share of sessions would go.")
    ] = 0.95,
    max_skew: Annotated[str, typer.Option(
        "--max-skew", metavar="DUR", help="Refuse (exit 4) when the filesystem clock is "
                                          "further than this from the local clock.")] = "300s",
    force: Annotated[bool, typer.Option(
        "--force", help="Apply despite --max-fraction and root-looks-wrong refusals.")] = False,
    lock: Annotated[str | None, typer.Option(
        "--lock", metavar="PATH", help="Lock file (default: /run/sessdiag, $XDG_RUNTIME_DIR "
                                       "or /tmp, named from the root's device and inode).")
    ] = None,
    journal: Annotated[str | None, typer.Option(
        "--journal", metavar="FILE", help="Append one JSON line per deleted file (write-ahead; "
                                          "see docs/prune.md).")] = None,
    quarantine: Annotated[str | None, typer.Option(
        "--quarantine", metavar="DIR", help="Move files to DIR/<run>/<shard>/ (same "
                                            "filesystem) instead of deleting them.")] = None,
    direct_unlink: Annotated[bool, typer.Option(
        "--direct-unlink", help="Re-check then unlink, without the verifying rename (faster; "
                                "leaves a one-syscall race with the app).")] = False,
    ionice: Annotated[str | None, typer.Option(
        "--ionice", help="idle or best-effort (lowest priority within the class).")] = None,
    nice: Annotated[int | None, typer.Option("--nice", help="CPU niceness, e.g. 10.")] = None,
    sample: Annotated[int, typer.Option("--sample", help="Candidate paths shown.")] = 10,
    seed: Annotated[int | None, typer.Option("--seed", hidden=True)] = None,
    no_process_check: Annotated[bool, typer.Option(
        "--no-process-check", help="Do not look for processes using the store.")] = False,
    no_progress: Annotated[bool, typer.Option(
        "--no-progress", help="Never show a progress bar.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No human report, no progress (errors still on stderr).")] = False,
) -> None:
    """Delete expired sessions safely; a dry run unless --apply."""
    from sessdiag.stores.files.prune import (
        PruneOptions,
        StopControl,
        apply_priority,
        prune_file_store,
    )
    from sessdiag.units import parse_duration

    if target.startswith(("redis://", "rediss://", "unix://")):
        raise UsageError("prune supports file stores only in this version")
    age = _max_age(max_age, app_conf)
    if sample < 0:
        raise UsageError("--sample must not be negative")
    if php_depth is not None and not 0 <= php_depth <= 16:
        raise UsageError("--php-depth must be between 0 and 16")
    opts = PruneOptions(
        target=target, max_age=age, grace=parse_duration(grace), apply=apply, profile=profile,
        php_depth=php_depth, sid_pattern=sid_pattern, jobs=jobs, workers=workers, rate=rate,
        max_delete=max_delete,
        max_runtime=parse_duration(max_runtime) if max_runtime is not None else None,
        max_fraction=max_fraction, max_skew=parse_duration(max_skew), force=force,
        lock_path=lock, journal=journal, quarantine=quarantine, direct_unlink=direct_unlink,
        sample_k=sample, seed=seed, check_processes=not no_process_check,
    )
    opts.validate()
    notes = apply_priority(ionice, nice)

    stop = StopControl()
    old = {s: signal.signal(s, lambda signum, _f: stop.request(signal.Signals(signum).name))
           for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        tasks = {"plan": "entries checked"} | ({"apply": "sessions removed"} if apply else {})
        with StderrProgress(not (no_progress or quiet or as_json), tasks) as prog:
            result = prune_file_store(opts, stop=stop,
                                      progress=lambda phase, n: prog.advance(n, phase))
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    report = result.report
    report["warnings"].extend(notes)

    from sessdiag.render import jsonout

    if output:
        jsonout.write_atomic(output, jsonout.dumps(report))
    if prom:
        from sessdiag.render.prometheus import Metrics, prune_metrics, write_prom

        metrics = Metrics()
        prune_metrics(metrics, report)
        write_prom(prom, metrics)
    if as_json:
        jsonout.write_stdout(report)
    elif not quiet:
        from sessdiag.render.terminal import print_view

        print_view(prune_view(report))
    if result.refusals and apply:
        raise SafetyRefusal("refusing to apply, nothing deleted: " + "; ".join(result.refusals))
    if result.stopped_by in ("SIGINT", "SIGTERM"):
        sys.stderr.write(f"sessdiag: stopped by {result.stopped_by} after {report['deleted']:,} "
                         "deletions\n")
    elif result.errors and not quiet:
        sys.stderr.write(f"sessdiag: {result.errors:,} deletions failed\n")
    code = result.exit_code
    if code:
        raise typer.Exit(code)


def _max_age(max_age: str | None, app_conf: str | None) -> int:
    from sessdiag.units import parse_duration

    if max_age is not None:
        return parse_duration(max_age)
    if app_conf:
        from sessdiag.appconf import lifetime_from_app_conf

        value = lifetime_from_app_conf(app_conf)
        if value is not None:
            return value
        raise UsageError(f"{app_conf} sets no sessiongcmaxlifetime; pass --max-age")
    raise UsageError("--max-age is required (e.g. --max-age 30d), or --app-conf with "
                     "sessiongcmaxlifetime")



def prune_view(r: dict) -> Any:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from sessdiag.units import format_bytes, format_duration

    t = r["target"]
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    mode = "DRY RUN (nothing changed; --apply to delete)" if r["dry_run"] else (
        f"applied ({r['protocol']})" if r["applied"] else "apply: nothing done")
    head.add_row("store", f"{t['location']}  ({t['profile']}: {t['layout']})")
    head.add_row("mode", mode)
    head.add_row("max age", f"{format_duration(r['max_age_s'])} + grace "
                            f"{format_duration(r['grace_s'])}: last touched before {r['cutoff']}")
    c = r["clock"]
    head.add_row("clock", f"filesystem - local = {c['fs_minus_local_s']:+.3f} s "
                          f"(probe: {c['source']})")
    head.add_row("sessions", f"{r['sessions']:,} ({format_bytes(r['session_bytes'])})")
    head.add_row("candidates", f"{r['candidates']:,} ({r['candidate_fraction']:.1%}; "
                               f"{format_bytes(r['candidate_allocated_bytes'])} on disk)")
    if not r["dry_run"]:
        verb = "quarantined" if r["action"] == "quarantine" else "deleted"
        head.add_row(verb, f"{r['deleted']:,} ({format_bytes(r['bytes_freed'])} freed)")
        head.add_row("skipped (touched)", f"{r['skipped_fresh']:,}"
                     + (f", {r['restored']:,} put back" if r["restored"] else ""))
    if r["skipped_other"]:
        head.add_row("skipped (other)", ", ".join(f"{k} {v:,}"
                                                  for k, v in r["skip_reasons"].items()))
    for key, label in (("vanished", "vanished"), ("not_attempted", "not attempted"),
                       ("errors", "errors")):
        if r[key]:
            head.add_row(label, f"{r[key]:,}")
    head.add_row("run", f"{r['duration_s']:.2f}s, {r['jobs']} {r['workers']}"
                        + (f", {r['rate_per_s']:,.0f} deletions/s" if r["deleted"] else "")
                        + (f", stopped by {r['stopped_by']}" if r["stopped_by"] else ""))
    parts: list[Any] = [Panel(head, title="sessdiag prune", title_align="left")]

    hist = Table(box=None, padding=(0, 1))
    hist.add_column("up to", justify="right")
    hist.add_column("count", justify="right")
    for b in r["age_spread"]["histogram"]:
        if b["count"]:
            label = "older" if b["upper_s"] is None else format_duration(b["upper_s"])
            hist.add_row(label, f"{b['count']:,}")
    if r["candidates"]:
        parts.append(Text("candidates by age since last touch", style="italic"))
        parts.append(hist)
    if r["sample"] and r["dry_run"]:
        s = Text("sample of candidates:\n", style="bold")
        for p in r["sample"]:
            s.append(f"  {p}\n", style="dim")
        parts.append(s)
    an = [(k, v) for k, v in r["anomalies"].items() if v]
    if an:
        tbl = Table(title="not touched (anomalies)", title_justify="left", box=None,
                    padding=(0, 1))
        tbl.add_column("kind")
        tbl.add_column("count", justify="right")
        tbl.add_column("example")
        for k, v in an:
            ex = (r["anomaly_examples"].get(k) or [""])[0]
            tbl.add_row(k, f"{v:,}", Text(ex, style="dim"))
        parts.append(tbl)
    for ex in r["error_examples"]:
        parts.append(Text(f"error: {ex}", style="red"))
    for ref in r["safety"]["refusals"]:
        parts.append(Text(("would refuse: " if r["dry_run"] else "refused: ") + ref,
                          style="bold red"))
    for w in r["warnings"]:
        parts.append(Text(f"warning: {w}", style="yellow"))
    return Group(*parts)
