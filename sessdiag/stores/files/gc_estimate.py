"""`sessdiag gc-estimate TREE`: how long beego's session GC will block every request.

Counts what beego's filepath.Walk visits (a full census), measures this filesystem's
per-operation costs with a bounded probe (sessdiag.analysis.gcprobe), and sums them with
the model in sessdiag.analysis.gcstall. docs/gc-model.md describes the model.
"""

from __future__ import annotations

import os
import time

from sessdiag.core.errors import UsageError
from sessdiag.core.timefmt import iso

SCHEMA = "sessdiag.gc-estimate/1"
DECODE_SAMPLE = 200


def _fmt_latency(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:g}ms"
    return f"{seconds * 1e6:g}µs"


def root_link_old(location: str, now: float, max_lifetime: int) -> bool | None:
    """None when beego's Walk goes into savePath; else it is a symlink (no trailing slash),
    which filepath.Walk lstat's as a file, and whether that link is past the lifetime."""
    if location.endswith("/") or not os.path.islink(location):
        return None
    return int(os.lstat(location).st_mtime) + max_lifetime < int(now)


def tree_figure(location: str, census, *, now: float, max_lifetime: int,  # type: ignore[no-untyped-def]
                model) -> dict:  # type: ignore[no-untyped-def]
    """The GC stall figure of a censused tree (scan's gc_estimate, gc-estimate's seconds)."""
    from sessdiag.analysis.gcstall import GcCounts, gc_figure

    return gc_figure(GcCounts.of_census(census), model,
                     root_link_old=root_link_old(location, now, max_lifetime))


def probed_scan_model(scan, *, seed: int | None = None):  # type: ignore[no-untyped-def]
    """gc-estimate's probe on a scanned tree (scan/check --gc-probe): the measured model."""
    from sessdiag.analysis import gcprobe, gcstall

    c = scan.census
    shards = sorted(c.shards, key=lambda k: -c.shards[k])
    probed = gcprobe.run_probe(
        scan.params.root, shard_dirs=[s for s in shards if s != "."],
        sample_paths=[p for p, _ in c.sample_paths()], max_lifetime=scan.params.max_lifetime,
        now=scan.params.now, seed=seed, order="after-census",
        per_file_sync=scan.fs.fstype.startswith("fuse"))
    return gcstall.probed_model(probed, scan.fs.latency_bound)


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
    budget_s: float = 4.0,
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
    from sessdiag.frameworks import emptiness_check
    from sessdiag.stores.files.fsinfo import fs_info
    from sessdiag.stores.files.inflight import WalkStats
    from sessdiag.stores.files.layout import layout_for, resolve_root
    from sessdiag.stores.files.scan import choose_workers
    from sessdiag.stores.files.walker import ScanParams, plan_units, run_units

    t0 = time.perf_counter()
    notes: list[str] = []
    findings: list[str] = []
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
    walk = WalkStats()
    census.merge(run_units(params, units, jobs=jobs, mode=model, check=None,
                           progress=progress, walk=walk), params.sample_k)
    census_s = time.perf_counter() - t_census
    sample = [p for p, _ in census.sample_paths()]
    if probe and probed is None:
        shards = sorted(census.shards, key=lambda k: -census.shards[k])
        probed = do_probe([s for s in shards if s != "."], sample, "after-census")

    c = census
    counts = gcstall.GcCounts.of_census(c)
    files = counts.files
    if probed is not None:
        gm = gcstall.probed_model(probed, fs.latency_bound)
        notes.extend(gm.notes)
    else:
        gm = gcstall.static_model()
        notes.append("no probe (--no-probe): " + gm.basis)
    costs = gm.costs
    fig = tree_figure(tree, c, now=now, max_lifetime=max_lifetime, model=gm)
    est = fig.get("if_walked", fig)  # the walk's figure, also when savePath is a link

    cache = probed.cache if probed is not None else "warm"
    cold_bound = None
    if cold and cache != "cold":
        lo, hi = est["seconds"] * 1.4, est["seconds"] * 3.3
        cold_bound = [round(lo, 3), round(hi, 3)]
        notes.append(f"--cold: {cache_note or 'caches not dropped'}; a cold GC (after a reboot "
                     "or a cache drop) walked 1.4-3.3x slower than a warm one with real beego on "
                     f"ext4 (docs/gc-model.md, Warm vs cold): expect {lo:.1f}-{hi:.1f} s")
    elif cache == "warm":
        notes.append("warm: the probe ran with the tree in the page cache (right after the "
                     "census walked it), like a GC on a server that has been running; use "
                     "--cold (root) for a GC after a reboot")

    # beego's Walk of a symlinked savePath (no trailing slash) lstat's only the link.
    walks_nothing = bool(fig.get("walks_nothing"))
    seconds = fig["seconds"]
    if walks_nothing:
        findings.append(
            f"{tree} is a symlink: beego's filepath.Walk lstat's it as a file and walks nothing, "
            "so sessions under it never expire (the estimate for the real tree is under "
            "'if_walked'); point savePath at the directory or add a trailing slash")
        if fig["expired"]:
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
        from sessdiag.core.units import format_duration

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
        # Examples of entries past the lifetime only (not every foreign entry: a 27-day-old
        # README at a 30-day lifetime is not deleted).
        ex = ", ".join((c.examples.get("old_non_sessions") or [])[:2])
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
    if unsettled := gcstall.not_quiet_finding(fig):
        findings.append(unsettled)
    if seconds >= 1:
        from sessdiag.core.units import format_duration

        findings.insert(0, f"beego's GC will hold the session lock ≈{format_duration(seconds)} "
                           f"(range {format_duration(est['range_s'][0])}–"
                           f"{format_duration(est['range_s'][1])}): every request waits that "
                           "long after a restart")

    report: dict = {
        "schema": SCHEMA,
        "target": {"kind": "files", "location": tree, "root": root, "profile": layout.profile,
                   "filesystem": {"mountpoint": fs.mountpoint, "fstype": fs.fstype,
                                  "latency_bound": fs.latency_bound}},
        "generated_at": iso(now),
        "max_lifetime_s": max_lifetime,
        # The figure (gcstall.gc_figure), as scan and check report it for the same model.
        **{k: fig[k] for k in ("seconds", "range_s", "files", "dirs", "expired", "model",
                               "measured", "basis", "breakdown")},
        "expired_sessions": c.expired,
        "old_non_sessions": c.old_non_sessions,
        "sessions": c.sessions,
        "stat_latency_us": _us(costs.lstat_s),
        "stat_latency_p95_us": probed.lstat.p95_us if probed else None,
        "readdir_per_entry_us": _us(costs.readdir_per_entry_s),
        "unlink_latency_us": _us(costs.unlink_s),
        "unlink_source": costs.unlink_source,
        "go_overhead_per_entry_us": _us(costs.overhead_s),
        "quiet": fig.get("quiet"),
        "cpu_slowdown": fig.get("cpu_slowdown"),
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
                   "undecodable": undecodable, "walk": walk.report(files)},
        "findings": findings + warnings,
        "notes": notes,
        "duration_s": round(time.perf_counter() - t0, 3),
    }
    if walks_nothing:
        report["if_walked"] = fig["if_walked"]
    if cold_bound is not None:
        report["cold_bound_s"] = cold_bound
    return report


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)


def _decode_sample(root: str, rels: list[str], check) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    from sessdiag.census import Census
    from sessdiag.stores.files.walker import decode_sample

    c = Census()
    decode_sample(root, rels, c, check)  # fd-relative: a swapped-in symlink is not followed
    return c.undecodable, c.decoded


