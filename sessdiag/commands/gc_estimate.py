"""`sessdiag gc-estimate TREE`: how long beego's session GC will block every request.

Counts what beego's filepath.Walk visits (a full census), measures this filesystem's
per-operation costs with a bounded probe (sessdiag.analysis.gcprobe), and sums them with
the model in sessdiag.analysis.gcstall. docs/gc-model.md describes the model.
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime
from typing import Annotated

import typer

from sessdiag.errors import UsageError

SCHEMA = "sessdiag.gc-estimate/1"
DEFAULT_ASSUME_LATENCY = ("5ms",)
CASDOOR_GC_INTERVAL_S = 30 * 86400
DECODE_SAMPLE = 200
_LATENCY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s)?\s*$")
_LATENCY_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, None: 1e-3}


def parse_latency(text: str) -> float:
    """'5ms', '800us', '0.06s', or a bare number of milliseconds -> seconds."""
    m = _LATENCY_RE.match(str(text))
    if not m:
        raise UsageError(f"not a latency: {text!r} (use e.g. 800us, 5ms, 0.06s)")
    value = float(m.group(1)) * _LATENCY_UNITS[m.group(2)]
    if value <= 0 or value > 60:
        raise UsageError(f"--assume-latency must be between 0 and 60 s, not {text!r}")
    return value


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _fmt_latency(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:g}ms"
    return f"{seconds * 1e6:g}µs"


def _lifetime(max_lifetime: str | None, app_conf: str | None) -> tuple[int, list[str]]:
    from sessdiag.appconf import lifetime_from_app_conf
    from sessdiag.units import parse_duration

    if max_lifetime is not None:
        return parse_duration(max_lifetime), []
    if app_conf:
        value = lifetime_from_app_conf(app_conf)
        if value is not None:
            return value, []
        return 3600, [f"{app_conf} sets no sessiongcmaxlifetime; using beego's default 3600 s"]
    return 3600, []


def gc_estimate_report(
    tree: str,
    *,
    max_lifetime: int = 3600,
    gc_interval: int = 3600,
    request_rate: float | None = None,
    what_if_ages: list[int] | None = None,
    assume_latencies: list[float] | None = None,
    cold: bool = False,
    probe: bool = True,
    unlink_probe: bool = True,
    scratch: str | None = None,
    budget_s: float = 2.0,
    budget_ops: int = 2000,
    profile: str | None = None,
    jobs: int | None = None,
    workers: str | None = None,
    seed: int | None = None,
    now: float | None = None,
    progress=None,  # type: ignore[no-untyped-def]
) -> dict:
    from sessdiag.analysis import gcprobe, gcstall
    from sessdiag.census import DEFAULT_AGE_EDGES
    from sessdiag.profiles import emptiness_check
    from sessdiag.stores.files.fsinfo import fs_info
    from sessdiag.stores.files.layout import layout_for, resolve_root
    from sessdiag.stores.files.scan import choose_workers
    from sessdiag.stores.files.walker import ScanParams, plan_units, run_units

    t0 = time.perf_counter()
    notes: list[str] = []
    findings: list[str] = []
    # beego's filepath.Walk lstat's savePath: a symlink without a trailing slash is a leaf.
    root_link = not tree.endswith("/") and os.path.islink(tree)
    root, warnings = resolve_root(tree)  # "link/" is followed there, as beego's Walk does
    layout = layout_for(root, profile)
    if layout.profile != "beego-file":
        raise UsageError(f"{tree} looks like a {layout.profile} store: gc-estimate models "
                         "beego's file-provider GC (pass --profile beego-file to model it anyway)")
    fs = fs_info(root)
    now = time.time() if now is None else now
    ages = sorted({a for a in (what_if_ages or []) if a > 0})
    edges = tuple(sorted({*DEFAULT_AGE_EDGES, max_lifetime, *ages}))
    jobs, model = choose_workers(fs, jobs, workers)
    params = ScanParams(root=root, layout=layout, now=now, max_lifetime=max_lifetime,
                        age_edges=edges, sample_k=1000, seed=seed, root_dev=os.stat(root).st_dev)

    cache_note: str | None = None
    probed = None

    def do_probe(shards: list[str], sample: list[str], order: str):  # type: ignore[no-untyped-def]
        nonlocal cache_note
        dropped = False
        if cold:
            why = gcprobe.drop_caches()
            dropped = why is None
            if why:
                cache_note = why
        return gcprobe.run_probe(
            root, shard_dirs=shards, sample_paths=sample, max_lifetime=max_lifetime, now=now,
            budget_s=budget_s, budget_ops=budget_ops, unlink=unlink_probe, scratch=scratch,
            seed=seed, cold=dropped, order=order,
            per_file_sync=fs.fstype.startswith("fuse"))

    # Latency-bound mounts cache attributes for seconds only (FUSE 1 s, NFS 3-60 s): probe
    # before the census so the census' own lstats do not answer the probe from the cache.
    # Local disks: census first, so the probe sees the tree as a GC right after a walk does
    # (warm) and samples paths uniformly from the census.
    if probe and fs.latency_bound:
        probed = do_probe([], [], "before-census")
    t_census = time.perf_counter()
    census, units = plan_units(params)
    census.merge(run_units(params, units, jobs=jobs, mode=model, check=None,
                           progress=progress), params.sample_k)
    census_s = time.perf_counter() - t_census
    sample = [p for p, _ in census.sample_paths()]
    if probe and probed is None:
        shards = sorted(census.shards, key=lambda k: -census.shards[k])
        probed = do_probe([s for s in shards if s != "."], sample, "after-census")

    c = census
    files = c.sessions + c.misplaced + c.symlinks + c.foreign - c.other_fs
    counts = gcstall.GcCounts(files=files, dirs=c.dirs, expired_sessions=c.expired,
                              old_non_sessions=c.old_non_sessions)
    if probed is not None:
        costs, cost_notes = gcstall.costs_from_probe(probed, fs.latency_bound)
        notes.extend(cost_notes)
        model_name = gcstall.PROBED_COLD_MODEL if probed.cache == "cold" else gcstall.PROBED_MODEL
    else:
        costs = gcstall.static_costs()
        model_name = gcstall.STATIC_MODEL
        notes.append("no probe (--no-probe): costs measured with real beego on warm local ext4")
    est = gcstall.stall(counts, costs)

    cache = probed.cache if probed is not None else "warm"
    if cold and cache != "cold":
        lo, hi = est["seconds"] * 1.4, est["seconds"] * 3.3
        est["cold_bound_s"] = [round(lo, 3), round(hi, 3)]
        notes.append(f"--cold: {cache_note or 'caches not dropped'}; a cold GC (after a reboot "
                     "or a cache drop) walked 1.4-3.3x slower than a warm one with real beego on "
                     f"ext4 (docs/gc-model.md, Warm vs cold): expect {lo:.1f}-{hi:.1f} s")
    elif cache == "warm":
        notes.append("warm: the probe ran with the tree in the page cache (right after the "
                     "census walked it), like a GC on a server that has been running; use "
                     "--cold (root) for a GC after a reboot")

    # beego's Walk of a symlinked savePath (no trailing slash) lstat's only the link.
    walks_nothing = root_link
    seconds = est["seconds"]
    if walks_nothing:
        link_age = now - os.lstat(tree).st_mtime
        seconds = round(costs.lstat_s + (costs.unlink_s if link_age > max_lifetime else 0), 6)
        findings.append(
            f"{tree} is a symlink: beego's filepath.Walk lstat's it as a file and walks nothing, "
            "so sessions under it never expire (the estimate for the real tree is under "
            "'if_walked'); point savePath at the directory or add a trailing slash")
        if link_age > max_lifetime:
            findings.append(f"the savePath symlink {tree} is older than the max lifetime: the "
                            "next GC deletes the link itself, and every request then fails to "
                            "find its session directory")

    def what_if_prune(age: int) -> dict:
        if age == max_lifetime:
            removed = c.expired
        else:
            older = sum(n for e, n in zip((*edges, None), c.hist, strict=True)
                        if e is None or e > age)
            removed = older
        after = gcstall.GcCounts(files=files - removed, dirs=c.dirs,
                                 expired_sessions=max(c.expired - removed, 0),
                                 old_non_sessions=c.old_non_sessions)
        r = gcstall.stall(after, costs)
        from sessdiag.units import format_duration

        return {"scenario": f"after pruning sessions older than {format_duration(age)}",
                "kind": "prune", "age_s": age, "files": after.files,
                "deletions": after.deletions, "seconds": r["seconds"], "range_s": r["range_s"]}

    what_if: list[dict] = [what_if_prune(a) for a in sorted({max_lifetime, *ages})]
    for lat in assume_latencies or []:
        r = gcstall.stall(counts, costs.at_latency(lat), readdir_calls_latency_s=lat)
        what_if.append({"scenario": f"at {_fmt_latency(lat)} per metadata operation",
                        "kind": "latency", "latency_s": lat, "files": counts.files,
                        "deletions": counts.deletions, "seconds": r["seconds"],
                        "range_s": r["range_s"], "breakdown": r["breakdown"]})

    # -- GC failure modes ------------------------------------------------------------------
    if c.unreadable:
        ex = ", ".join((c.examples.get("unreadable") or [])[:3])
        findings.append(
            f"{c.unreadable} entries cannot be read ({ex}): beego's gcpath returns the first "
            "lstat/readdir error and filepath.Walk aborts the whole GC pass there, silently; "
            "everything after it in walk order is never collected (the stall is shorter, the "
            "tree keeps growing)")
    if c.vanished:
        findings.append(f"{c.vanished} entries vanished during the census: an entry deleted "
                        "between beego's readdir and its lstat aborts that GC pass")
    if c.old_non_sessions:
        kinds = [k for k in ("foreign", "symlinks", "misplaced") if c.examples.get(k)]
        ex = ", ".join(c.examples[kinds[0]][:2]) if kinds else ""
        findings.append(
            f"{c.old_non_sessions} non-session "
            f"{'entry' if c.old_non_sessions == 1 else 'entries'} older than the max lifetime "
            "will be "
            f"deleted by beego's GC ({ex}): it removes any old non-directory under savePath — "
            "foreign files, symlinks (the link, not its target) — not only sessions")
    if c.other_fs:
        findings.append(f"{c.other_fs} directories are mount points of other filesystems: "
                        "beego's filepath.Walk descends into them (the census did not)")
    notes.append(f"beego's GC never removes directories: it opens and lists all {c.dirs:,} "
                 "on every pass, empty or not")
    undecodable, decoded = 0, 0
    if not fs.latency_bound and sample:
        undecodable, decoded = _decode_sample(root, sample[:DECODE_SAMPLE],
                                              emptiness_check(layout.profile))
        if undecodable:
            findings.append(
                f"{undecodable} of {decoded} sampled sessions do not decode: beego's SessionRead "
                "refreshes a session's mtime before decoding it, so a corrupt session that a "
                "client keeps presenting is re-touched on every request and never expires")
    else:
        notes.append("payloads not sampled on a latency-bound mount (corrupt sessions that "
                     "clients keep presenting are re-touched forever: run 'sessdiag scan')")
    if seconds >= 1:
        from sessdiag.units import format_duration

        findings.insert(0, f"beego's GC will hold the session lock ≈{format_duration(seconds)} "
                           f"(range {format_duration(est['range_s'][0])}–"
                           f"{format_duration(est['range_s'][1])}): every request waits that "
                           "long after a restart")

    report: dict = {
        "schema": SCHEMA,
        "target": {"kind": "files", "location": tree, "root": root, "profile": layout.profile,
                   "filesystem": {"mountpoint": fs.mountpoint, "fstype": fs.fstype,
                                  "latency_bound": fs.latency_bound}},
        "generated_at": _iso(now),
        "max_lifetime_s": max_lifetime,
        "seconds": seconds,
        "range_s": [0.0, seconds] if walks_nothing else est["range_s"],
        "files": files,
        "dirs": c.dirs,
        "expired": counts.deletions,
        "expired_sessions": c.expired,
        "old_non_sessions": c.old_non_sessions,
        "sessions": c.sessions,
        "stat_latency_us": _us(costs.lstat_s),
        "stat_latency_p95_us": probed.lstat.p95_us if probed else None,
        "readdir_per_entry_us": _us(costs.readdir_per_entry_s),
        "unlink_latency_us": _us(costs.unlink_s),
        "unlink_source": costs.unlink_source,
        "go_overhead_per_entry_us": _us(costs.overhead_s),
        "model": model_name,
        "breakdown": est["breakdown"],
        "cache": cache,
        "walks_nothing": walks_nothing,
        "requests": gcstall.queued_requests(seconds, request_rate),
        "recurrence": gcstall.recurrence(seconds, gc_interval),
        "what_if": what_if,
        "probe": probed.to_dict() if probed else None,
        "census": {"duration_s": round(census_s, 3), "jobs": jobs, "workers": model,
                   "symlinks": c.symlinks, "foreign": c.foreign, "misplaced": c.misplaced,
                   "unreadable": c.unreadable, "vanished": c.vanished,
                   "other_filesystem": c.other_fs, "payloads_decoded": decoded,
                   "undecodable": undecodable},
        "findings": findings + warnings,
        "notes": notes,
        "duration_s": round(time.perf_counter() - t0, 3),
    }
    if walks_nothing:
        report["if_walked"] = est
    if "cold_bound_s" in est:
        report["cold_bound_s"] = est["cold_bound_s"]
    return report


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)


def _decode_sample(root: str, rels: list[str], check) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    from sessdiag.census import Census
    from sessdiag.stores.files.walker import classify_payload, read_payload

    c = Census()
    for rel in rels:
        path = os.path.join(root, rel)
        try:
            st = os.lstat(path)
            fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            data = read_payload(c, fd, os.path.basename(path), st)
        finally:
            os.close(fd)
        if data is not None:
            classify_payload(c, check, data, rel)
    return c.undecodable, c.decoded


def gc_view(r: dict):  # type: ignore[no-untyped-def]
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from sessdiag.units import format_duration

    def dur(s: float) -> str:
        if s < 1:
            return f"{s * 1000:.0f}ms"
        return f"{s:.1f}s" if s < 90 else format_duration(s)

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    t = r["target"]
    head.add_row("store", f"{t['location']}  ({t['filesystem']['fstype']} on "
                          f"{t['filesystem']['mountpoint']})")
    lo, hi = r["range_s"]
    head.add_row("GC stall", Text(f"≈{dur(r['seconds'])}  (range {dur(lo)}–{dur(hi)}), "
                                  f"model {r['model']}, {r['cache']} cache", style="bold red"))
    head.add_row("walk", f"{r['files']:,} files, {r['dirs']:,} dirs; deletes {r['expired']:,} "
                         f"({r['expired_sessions']:,} expired sessions + "
                         f"{r['old_non_sessions']:,} old non-session"
                         f"{'' if r['old_non_sessions'] == 1 else 's'})")
    b = r["breakdown"]
    head.add_row("breakdown", f"stat {dur(b['stat_s'])} + readdir {dur(b['readdir_s'])} + "
                              f"unlink {dur(b['unlink_s'])} + Go {dur(b['go_overhead_s'])}")
    p = r.get("probe") or {}
    lst = p.get("lstat", {})
    head.add_row("measured", f"lstat median {r['stat_latency_us']:.1f} µs (p95 "
                             f"{lst.get('p95_us') or 0:.1f}, n={lst.get('n', 0)}), listing "
                             f"{r['readdir_per_entry_us']:.2f} µs/entry, unlink "
                             f"{r['unlink_latency_us']:.1f} µs ({r['unlink_source']})")
    if p:
        head.add_row("probe", f"{p['operations']} operations in {p['seconds']:.2f}s "
                              f"(budget {p['budget']['operations']} / {p['budget']['seconds']}s)")
    rq = r.get("requests")
    if rq:
        head.add_row("requests", f"≈{rq['queued']:,.0f} requests queue at "
                                 f"{rq['request_rate_per_s']:g}/s; the first waits "
                                 f"{dur(rq['longest_wait_s'])}")
    rec = r["recurrence"]
    head.add_row("recurrence", f"at start-up, then every {format_duration(rec['gc_interval_s'])}"
                               f" after the previous pass ends ({rec['blocked_share']:.3%} of the "
                               "time blocked)")
    wi = Table(title="what if", title_justify="left", box=None, padding=(0, 1))
    wi.add_column("scenario")
    wi.add_column("stall", justify="right")
    wi.add_column("range", justify="right")
    for w in r["what_if"]:
        wi.add_row(w["scenario"], dur(w["seconds"]),
                   f"{dur(w['range_s'][0])}–{dur(w['range_s'][1])}")
    parts: list = [Panel(head, title="sessdiag gc-estimate", title_align="left"), wi]
    if r["findings"]:
        f = Text()
        for line in r["findings"]:
            f.append("• ", style="yellow")
            f.append(line + "\n")
        parts.append(Panel(f, title="findings", title_align="left", border_style="yellow"))
    if r["notes"]:
        n = Text(style="dim")
        for line in r["notes"]:
            n.append("· " + line + "\n")
        parts.append(n)
    return Group(*parts)


def register(app: typer.Typer) -> None:
    @app.command("gc-estimate")
    def gc_estimate(
        tree: Annotated[str, typer.Argument(help="beego session directory (savePath).")],
        as_json: Annotated[bool, typer.Option("--json", help="Machine report on stdout.")] = False,
        output: Annotated[str | None, typer.Option(
            "--output", "-o", metavar="FILE", help="Also write the JSON report to FILE.")] = None,
        max_lifetime: Annotated[str | None, typer.Option(
            "--max-lifetime", help="Session lifetime (e.g. 30d); default beego's 3600 s.")] = None,
        app_conf: Annotated[str | None, typer.Option(
            "--app-conf", help="beego conf/app.conf to read sessiongcmaxlifetime from.")] = None,
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
            "--probe-budget", metavar="SECONDS", help="Probe time budget.")] = 2.0,
        probe_ops: Annotated[int, typer.Option(
            "--probe-ops", metavar="N", help="Probe operation budget.")] = 2000,
        profile: Annotated[str | None, typer.Option(
            "--profile", help="beego-file (default: detected).")] = None,
        jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Census workers.")] = None,
        workers: Annotated[str | None, typer.Option(
            "--workers", help="threads or processes for the census.")] = None,
        seed: Annotated[int | None, typer.Option("--seed", help="Seed of the samples.")] = None,
        now: Annotated[float | None, typer.Option("--now", hidden=True)] = None,
        no_progress: Annotated[bool, typer.Option(
            "--no-progress", help="Never show a progress bar.")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No human report.")] = False,
    ) -> None:
        """How long beego's session GC will block every request on this tree."""
        from sessdiag.render import jsonout
        from sessdiag.units import parse_duration

        life, notes = _lifetime(max_lifetime, app_conf)
        if request_rate is not None and request_rate < 0:
            raise UsageError("--request-rate must not be negative")
        if not 0.05 <= probe_budget <= 600:
            raise UsageError("--probe-budget must be between 0.05 and 600 seconds")
        if probe_ops < 50:
            raise UsageError("--probe-ops must be at least 50")
        interval = parse_duration(gc_interval)
        ages = [parse_duration(a) for a in (what_if_age or [])]
        lats = [parse_latency(x) for x in (assume_latency or DEFAULT_ASSUME_LATENCY)]
        if scratch is not None and not os.path.isdir(scratch):
            raise UsageError(f"--scratch {scratch}: not a directory")
        from sessdiag.render.progress import StderrProgress

        with StderrProgress(not (no_progress or quiet or as_json), {"count": "counting"},
                            unit="entries") as prog:
            report = gc_estimate_report(
                tree, max_lifetime=life, gc_interval=interval, request_rate=request_rate,
                what_if_ages=ages, assume_latencies=lats, cold=cold, probe=not no_probe,
                unlink_probe=not no_unlink_probe, scratch=scratch, budget_s=probe_budget,
                budget_ops=probe_ops, profile=profile, jobs=jobs, workers=workers, seed=seed,
                now=now, progress=prog.advance)
        report["notes"].extend(notes)
        if interval == CASDOOR_GC_INTERVAL_S:
            report["notes"].append("30 d interval: casdoor's SessionGCMaxLifetime, which beego "
                                   "also uses as Gclifetime")
        if output:
            jsonout.write_atomic(output, jsonout.dumps(report))
        if as_json:
            jsonout.write_stdout(report)
        elif not quiet:
            from sessdiag.render.terminal import print_view

            print_view(gc_view(report))
