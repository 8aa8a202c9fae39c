#!/usr/bin/env python3
"""sessdiag scan vs `du -s` on a latency-bound mount (tools/slowfs, slowfs3), same run.

    python benchmarks/scan_slowfs.py --files 20000 --delay-ms 1 --attr-cache off,on
    python benchmarks/scan_slowfs.py --files 20000 --delay-ms 5 --old /tmp/sessdiag-old
    python benchmarks/scan_slowfs.py --files 20000 --ramp 1:5 --fixed 16,64,128

Builds (or reuses) a beego tree as benchmarks/scan_files.py does, then for each delay and
attribute-cache setting mounts it on a fresh slowfs3 mount per command (64 server threads;
attribute cache "off" = attr/entry timeout 0, "on" = 1 s, libfuse's default) and times
`du -s`, `sessdiag scan --json` and, with --old DIR, the scan of another checkout of
sessdiag (PYTHONPATH=DIR, e.g. `git archive OLD | tar -x -C DIR`). Prints medians, ratios
to du, the delayed operations each command cost and what the scan's `walk` report says.

--ramp A:B is the back-off experiment: every scan starts at A ms and the mount's delay is
raised to B ms (set_delay) once the scan has done a third of its operations; it compares the
adaptive default with fixed limits (SESSDIAG_FIXED_INFLIGHT=N: no adaptation) and prints how
the in-flight limit moved (walk.limit_trace).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "slowfs"))
from scan_files import build  # type: ignore[import-not-found]  # noqa: E402
from slowfs import fuse_available, mount_slowfs  # type: ignore[import-not-found]  # noqa: E402


def scan_cmd(mnt: str, flags: list[str]) -> list[str]:
    return [sys.executable, "-m", "sessdiag", "scan", mnt, "--json", "--max-lifetime", "30d",
            "--no-progress", *flags]


def run_one(src: str, mnt: str, cmd: list[str], *, delay: float, cache: str, threads: int,
            env: dict[str, str] | None = None, ramp_to: float | None = None,
            ramp_after_ops: int = 0) -> tuple[float, dict, dict | None]:
    timeout = 1.0 if cache == "on" else 0.0
    cmd = [mnt if a == "{MNT}" else a for a in cmd]
    with mount_slowfs(src, mnt, delay_ms=delay, impl="c", threads=threads,
                      attr_timeout=timeout, entry_timeout=timeout) as fs:
        fs.reset()
        stop = threading.Event()
        raised: list[float] = []

        def watch() -> None:  # raise the delay once the command has done enough operations
            t_start = time.perf_counter()
            while not stop.wait(0.05):
                st = fs.stats()
                if sum(st.get("delayed", {}).values()) >= ramp_after_ops:
                    fs.set_delay(ramp_to)  # type: ignore[arg-type]
                    raised.append(time.perf_counter() - t_start)
                    return

        th = None
        if ramp_to is not None:
            th = threading.Thread(target=watch, daemon=True)
            th.start()
        t0 = time.perf_counter()
        # cwd "/": `python -m` puts the working directory first on sys.path, before
        # PYTHONPATH, so a run from a checkout would time that checkout, not --old.
        proc = subprocess.run(cmd, capture_output=True, env=env, check=False, cwd="/")
        elapsed = time.perf_counter() - t0
        stop.set()
        if th is not None:
            th.join()
        st = fs.stats()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed ({proc.returncode}): "
                         f"{proc.stderr.decode()[-800:]}")
    report = None
    if b"sessdiag.scan/1" in proc.stdout[:200]:
        report = json.loads(proc.stdout)
    if raised:
        st["raised_at_s"] = round(raised[0], 2)
    return elapsed, st, report


def walk_line(report: dict | None) -> str:
    w = (report or {}).get("walk")
    if not w:
        return ""
    lat = w.get("latency_us") or {}
    inf = w.get("inflight") or {}
    return (f"inflight max {inf.get('max')} mean {inf.get('mean')} limit {inf.get('limit')}; "
            f"latency p50 {lat.get('p50')} us p95 {lat.get('p95')} us; "
            f"ops/file {w.get('ops_per_file')}")


def measure(args: argparse.Namespace, src: str, mnt: str, delay: float, cache: str) -> None:
    tools: dict[str, tuple[list[str], dict[str, str] | None]] = {"du -s": (["du", "-s", "{MNT}"],
                                                                           None)}
    if args.old:
        env = dict(os.environ, PYTHONPATH=args.old)
        tools["sessdiag scan (old)"] = (scan_cmd("{MNT}", []), env)
    tools["sessdiag scan"] = (scan_cmd("{MNT}", []), None)
    for spec in args.variant or []:
        name, _, flags = spec.partition("=")
        tools[f"scan {name}"] = (scan_cmd("{MNT}", [f for f in flags.split(",") if f]), None)
    if args.skip_du:
        del tools["du -s"]
    times: dict[str, list[float]] = {k: [] for k in tools}
    ops: dict[str, int] = {}
    walks: dict[str, str] = {}
    loads = []
    for run in range(args.runs):
        order = list(tools) if run % 2 == 0 else list(tools)[::-1]
        for name in order:
            cmd, env = tools[name]
            loads.append(os.getloadavg()[0])
            t, st, rep = run_one(src, mnt, cmd, delay=delay, cache=cache,
                                 threads=args.fuse_threads, env=env)
            times[name].append(t)
            ops[name] = sum(st.get("delayed", {}).values())
            walks[name] = walk_line(rep)
            print(f"  {name:<24} {t:8.2f}s  delayed ops {ops[name]:,}  {walks[name]}",
                  file=sys.stderr, flush=True)
    du = statistics.median(times["du -s"]) if "du -s" in times else None
    print(f"\n{args.files:,} files, slowfs3 ({args.fuse_threads} server threads), {delay:g} ms "
          f"per getattr/readdir, attribute cache {cache}; {os.cpu_count()} cores, "
          f"{args.runs} run(s); 1-min load before the commands: median "
          f"{statistics.median(loads):.2f}, max {max(loads):.2f}")
    print(f"{'command':<26}{'median s':>10}{'min s':>9}{'x du':>8}{'delayed ops':>13}  walk")
    for name, ts in times.items():
        med = statistics.median(ts)
        ratio = f"{med / du:>8.3f}" if du else f"{'-':>8}"
        print(f"{name:<26}{med:>10.2f}{min(ts):>9.2f}{ratio}{ops[name]:>13,}  {walks[name]}")
    sys.stdout.flush()


def ramp(args: argparse.Namespace, src: str, mnt: str) -> None:
    a, b = (float(x) for x in args.ramp.split(":"))
    files = args.files
    # A scan costs ~1 delayed operation per file plus one readdir per directory.
    after = files // 3
    # Fixed settings: SESSDIAG_FIXED_INFLIGHT=N keeps the limit at N (no adaptation).
    settings: list[tuple[str, dict[str, str] | None]] = [("adaptive (default)", None)]
    for n in (args.fixed or "").split(","):
        if n.strip():
            settings.append((f"fixed {n.strip()}",
                             dict(os.environ, SESSDIAG_FIXED_INFLIGHT=n.strip())))
    times: dict[str, list[float]] = {k: [] for k, _ in settings}
    for run in range(args.runs):
        order = settings if run % 2 == 0 else settings[::-1]
        for name, env in order:
            t, st, rep = run_one(src, mnt, scan_cmd("{MNT}", []), delay=a,
                                 cache=args.attr_cache.split(",")[0], env=env,
                                 threads=args.fuse_threads, ramp_to=b, ramp_after_ops=after)
            times[name].append(t)
            w = (rep or {}).get("walk") or {}
            trace = w.get("limit_trace") or []
            print(f"  {name:<22} {t:8.2f}s  delay raised {a:g}->{b:g} ms at "
                  f"{st.get('raised_at_s')} s; {walk_line(rep)}", file=sys.stderr, flush=True)
            if trace and name.startswith("adaptive"):
                print("    limit trace [t_s, limit, inflight, p50_us]: "
                      + json.dumps(trace), file=sys.stderr, flush=True)
    best = min(statistics.median(v) for k, v in times.items() if k.startswith("fixed"))
    print(f"\nback-off: {files:,} files, slowfs3, delay {a:g} ms raised to {b:g} ms after "
          f"~{after:,} operations; {args.runs} run(s)")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<26}{med:>10.2f}s  x best fixed {med / best:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/tmp/sessdiag-bench/fuse")
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--delay-ms", default="1", help="comma list, e.g. 1,5")
    ap.add_argument("--attr-cache", default="off,on", help="off (timeouts 0), on (1 s)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--fuse-threads", type=int, default=64)
    ap.add_argument("--old", help="a checkout of another sessdiag to time too (PYTHONPATH)")
    ap.add_argument("--variant", action="append", help="name=--flag,value (repeatable)")
    ap.add_argument("--skip-du", action="store_true")
    ap.add_argument("--ramp", help="A:B: raise the delay from A to B ms mid-scan")
    ap.add_argument("--fixed", default="32,64,128,256", help="fixed limits for --ramp")
    args = ap.parse_args()
    args.dir = os.path.abspath(args.dir)
    why = fuse_available(impl="c")
    if why:
        raise SystemExit(f"cannot mount slowfs3: {why}")
    src = os.path.join(args.dir, f"tree{args.files}")
    mnt = os.path.join(args.dir, f"mnt{os.getpid()}")
    print(f"building {args.files:,} files under {src}", file=sys.stderr)
    build(src, args.files, args.seed)
    try:
        if args.ramp:
            ramp(args, src, mnt)
            return
        for delay in (float(d) for d in args.delay_ms.split(",")):
            for cache in args.attr_cache.split(","):
                measure(args, src, mnt, delay, cache)
    finally:
        if os.path.isdir(mnt) and not os.path.ismount(mnt):
            os.rmdir(mnt)


if __name__ == "__main__":
    main()
