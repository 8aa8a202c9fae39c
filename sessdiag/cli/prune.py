"""`sessdiag prune TARGET --max-age DUR`: flags, signals, rendering, exit code."""

from __future__ import annotations

import signal
import sys
from typing import Annotated, Any

import typer

from sessdiag.cli.options import (
    AppConfOpt,
    JsonOpt,
    NoProgressOpt,
    OutputOpt,
    PhpDepthOpt,
    PromOpt,
    QuietOpt,
    SidPatternOpt,
    StoreOpt,
    check_php_depth,
    check_sample,
    emit,
    resolve_lifetime,
    show_progress,
)
from sessdiag.core.errors import SafetyRefusal, UsageError


def prune(
    target: Annotated[str, typer.Argument(help="Session directory (beego or PHP file store).")],
    max_age: Annotated[str | None, typer.Option(
        "--max-age", "--max-lifetime", metavar="DUR",
        help="Delete sessions not touched for longer than this (e.g. 30d). Default: "
             "sessiongcmaxlifetime from --app-conf.")] = None,
    app_conf: AppConfOpt = None,
    apply: Annotated[bool, typer.Option(
        "--apply", help="Really delete. Without it: a dry run that changes nothing.")] = False,
    grace: Annotated[str, typer.Option(
        "--grace", metavar="DUR", help="Extra margin on top of --max-age (clock skew, NFS "
                                       "attribute cache, longest request).")] = "60s",
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    prom: PromOpt = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="beego-file or php-files (default: detected; set it in cron).")] = None,
    php_depth: PhpDepthOpt = None,
    sid_pattern: SidPatternOpt = None,
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
    no_progress: NoProgressOpt = False,
    quiet: QuietOpt = False,
    store_name: StoreOpt = None,
) -> None:
    """Delete expired sessions safely; a dry run unless --apply."""
    del store_name  # expand_argv already turned it into TARGET and flags
    from sessdiag.core.units import parse_duration
    from sessdiag.render.progress import StderrProgress
    from sessdiag.stores import target_kind
    from sessdiag.stores.files.prune import (
        PruneOptions,
        StopControl,
        apply_priority,
        prune_file_store,
    )

    if target_kind(target) != "files":
        raise UsageError("prune supports file stores only in this version")
    age = resolve_lifetime(max_age, app_conf, required_flag="--max-age").seconds
    check_sample(sample)
    check_php_depth(php_depth)
    opts = PruneOptions(
        target=target, max_age=age, grace=parse_duration(grace, flag="--grace"), apply=apply,
        profile=profile, php_depth=php_depth, sid_pattern=sid_pattern, jobs=jobs,
        workers=workers, rate=rate, max_delete=max_delete,
        max_runtime=(parse_duration(max_runtime, flag="--max-runtime")
                     if max_runtime is not None else None),
        max_fraction=max_fraction, max_skew=parse_duration(max_skew, flag="--max-skew"),
        force=force,
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
        with StderrProgress(show_progress(no_progress, quiet, as_json), tasks) as prog:
            result = prune_file_store(opts, stop=stop, progress=_prune_progress(prog))
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    report = result.report
    report["warnings"].extend(notes)
    if prom:
        from sessdiag.render.prometheus import Metrics, prune_metrics, write_prom

        metrics = Metrics()
        prune_metrics(metrics, report)
        write_prom(prom, metrics)
    from sessdiag.render.prune_view import prune_view

    emit(report, as_json, output, quiet, prune_view)
    if result.refusals and apply:
        raise SafetyRefusal("refusing to apply, nothing deleted: " + "; ".join(result.refusals))
    if result.stopped_by in ("SIGINT", "SIGTERM"):
        sys.stderr.write(f"sessdiag: stopped by {result.stopped_by} after {report['deleted']:,} "
                         "deletions\n")
    elif result.errors and not quiet:
        sys.stderr.write(f"sessdiag: {result.errors:,} deletions failed\n")
    if result.unreadable:
        # Even with --quiet or --json: part of the store was never examined (exit 1).
        sys.stderr.write(f"sessdiag: warning: {result.unreadable:,} entries could not be read "
                         "(permission denied); that part of the store was never examined\n")
    code = result.exit_code
    if code:
        raise typer.Exit(code)


def _prune_progress(prog: Any) -> Any:
    """The engine reports (phase, n); ("apply:total", N) is the candidate count, known
    before the apply pass starts, so its bar shows a share and an ETA."""
    def progress(phase: str, n: int) -> None:
        if phase == "apply:total":
            prog.set_total(n, "apply")
        else:
            prog.advance(n, phase)
    return progress
