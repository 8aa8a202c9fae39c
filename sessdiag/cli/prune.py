"""`sessdiag prune TARGET`: flags, signals, rendering, exit code (backend: stores.pruning)."""

from __future__ import annotations

import signal
import sys
from typing import Annotated, Any

import typer

from sessdiag.cli.options import (
    AppConfOpt,
    JsonOpt,
    MaxInflightOpt,
    NoProgressOpt,
    NowOpt,
    OutputOpt,
    PartitionOpt,
    PasswordEnvOpt,
    PhpDepthOpt,
    PromOpt,
    QuietOpt,
    SidPatternOpt,
    StoreOpt,
    check_php_depth,
    check_sample,
    emit,
    parse_partition,
    resolve_lifetime,
    show_progress,
)
from sessdiag.core.errors import SafetyRefusal


def prune(
    target: Annotated[str, typer.Argument(
        help="Session directory (beego or PHP file store), or redis://… (docs/prune.md).")],
    max_age: Annotated[str | None, typer.Option(
        "--max-age", "--max-lifetime", metavar="DUR",
        help="Files: delete sessions not touched for longer than this (e.g. 30d; default: "
             "sessiongcmaxlifetime from --app-conf). Redis: the lifetime of frameworks that "
             "record no access time (default: the framework's own).")] = None,
    app_conf: AppConfOpt = None,
    apply: Annotated[bool, typer.Option(
        "--apply", help="Really delete. Without it: a dry run that changes nothing.")] = False,
    grace: Annotated[str | None, typer.Option(
        "--grace", metavar="DUR", help="Files: extra margin on top of --max-age (clock skew, "
                                       "NFS attribute cache, longest request; default 60s).")
    ] = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    prom: PromOpt = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="Files: beego-file or php-files (default: detected; set it in cron). "
                          "Redis: only sessions of this profile (e.g. php-redis).")] = None,
    php_depth: PhpDepthOpt = None,
    sid_pattern: SidPatternOpt = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", help="Parallel workers (default: cores on local disks, 32 threads on "
                             "network/FUSE mounts).")] = None,
    workers: Annotated[str | None, typer.Option(
        "--workers", help="threads or processes (default by filesystem type).")] = None,
    rate: Annotated[float | None, typer.Option(
        "--rate", metavar="N", help="At most N deletions (Redis: changes) per second, all "
                                    "workers together.")] = None,
    max_inflight: MaxInflightOpt = None,
    max_delete: Annotated[int | None, typer.Option(
        "--max-delete", metavar="N", help="Stop after N deletions.")] = None,
    max_runtime: Annotated[str | None, typer.Option(
        "--max-runtime", metavar="DUR", help="Stop cleanly after this long (e.g. 10m).")] = None,
    max_fraction: Annotated[float, typer.Option(
        "--max-fraction", help="Refuse (exit 4) when a larger share of sessions would go.")
    ] = 0.95,
    max_skew: Annotated[str | None, typer.Option(
        "--max-skew", metavar="DUR", help="Files: refuse (exit 4) when the filesystem clock is "
                                          "further than this from the local clock (default "
                                          "300s).")] = None,
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
    password_env: PasswordEnvOpt = None,
    namespace: Annotated[list[str] | None, typer.Option(
        "--namespace", metavar="NS", help="Redis: only keys of this namespace (repeatable; "
                                          "e.g. spring:session).")] = None,
    drop_namespace: Annotated[list[str] | None, typer.Option(
        "--drop-namespace", metavar="NS", help="Redis: delete every key of this stale "
                                               "namespace (repeatable; explicit only).")
    ] = None,
    fix_ttl: Annotated[bool, typer.Option(
        "--fix-ttl", help="Redis: give live sessions without a TTL the lifetime their "
                          "framework would have left them.")] = False,
    backup: Annotated[str | None, typer.Option(
        "--backup", metavar="FILE", help="Redis: append each key's DUMP and TTL (and each "
                                         "removed index member) to FILE before changing it; "
                                         "`sessdiag restore FILE TARGET` undoes.")] = None,
    lock_ttl: Annotated[str | None, typer.Option(
        "--lock-ttl", metavar="DUR", help="Redis: TTL of the lock key, refreshed while the "
                                          "run lives (default 60s).")] = None,
    partition: PartitionOpt = None,
    now: NowOpt = None,
    no_progress: NoProgressOpt = False,
    quiet: QuietOpt = False,
    store_name: StoreOpt = None,
) -> None:
    """Delete expired sessions (Redis: leaked keys) safely; a dry run unless --apply."""
    del store_name  # expand_argv already turned it into TARGET and flags
    from sessdiag.core.units import parse_duration
    from sessdiag.render.progress import StderrProgress
    from sessdiag.stores.files.prune import StopControl, apply_priority
    from sessdiag.stores.pruning import PruneFlags, prune_target

    age = (resolve_lifetime(max_age, app_conf, required_flag="--max-age").seconds
           if max_age is not None or app_conf is not None else None)
    check_sample(sample)
    check_php_depth(php_depth)
    flags = PruneFlags(
        target=target, max_age=age, apply=apply, rate=rate, max_delete=max_delete,
        max_runtime=(parse_duration(max_runtime, flag="--max-runtime")
                     if max_runtime is not None else None),
        max_fraction=max_fraction, force=force, sample_k=sample,
        grace=parse_duration(grace, flag="--grace") if grace is not None else None,
        profile=profile, php_depth=php_depth, sid_pattern=sid_pattern, jobs=jobs,
        workers=workers, max_inflight=max_inflight,
        max_skew=parse_duration(max_skew, flag="--max-skew") if max_skew is not None else None,
        lock_path=lock, journal=journal, quarantine=quarantine, direct_unlink=direct_unlink,
        seed=seed, check_processes=not no_process_check, password_env=password_env,
        namespaces=tuple(namespace or ()), drop_namespaces=tuple(drop_namespace or ()),
        fix_ttl=fix_ttl, backup=backup,
        lock_ttl=parse_duration(lock_ttl, flag="--lock-ttl") if lock_ttl is not None else None,
        now=now, partition=parse_partition(partition),
    )
    notes = apply_priority(ionice, nice)

    stop = StopControl()
    old = {s: signal.signal(s, lambda signum, _f: stop.request(signal.Signals(signum).name))
           for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        tasks = {"plan": "entries checked"} | ({"apply": "sessions removed"} if apply else {})
        with StderrProgress(show_progress(no_progress, quiet, as_json), tasks) as prog:
            result = prune_target(flags, stop=stop, progress=_prune_progress(prog))
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
