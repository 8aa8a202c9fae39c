#!/usr/bin/env python3
"""Scale-out figures: N partition scans in parallel vs one whole scan on a latency-bound
mount (tools/slowfs, slowfs3), and the time to merge many reports, in one run.

    nice python benchmarks/partition_slowfs.py --files 20000 --delay-ms 1 --parts 4 --reports 100

1. A beego tree (benchmarks/scan_files.py's build) is mounted on a fresh slowfs3 mount with
   `--delay-ms` per getattr/readdir and the attribute cache off; `du -s` (the peer), one
   `sessdiag scan --deep` of the whole and then `--parts` scans `--partition K/N --deep`
   started together are timed by wall clock, each on a fresh mount. The merge of the parts
   is checked to equal the whole scan (what a run measures of its machine aside).
2. A flat PHP tree of the same size is scanned (local disk, one process) as `--reports`
   partitions; `sessdiag merge` of those reports is timed as users run it (a process), and
   in-process against the floor of only parsing the reports (json.load) and against one
   `sessdiag scan --deep` of the whole tree (the work the merge replaces).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "slowfs"))
from scan_files import build  # type: ignore[import-not-found]  # noqa: E402
from slowfs import fuse_available, mount_slowfs  # type: ignore[import-not-found]  # noqa: E402

from sessdiag.fixtures import FixtureSpec, make_tree  # noqa: E402
from sessdiag.merging import merge_reports  # noqa: E402
from sessdiag.scanning import ScanSettings, run_scan  # noqa: E402

NOW = 1_790_000_000  # every scan judges ages at the same instant: the merge is comparable
# Measured per run, not per tree (as tests/merging/test_parity.py): left out of the check.
PER_RUN = ("scan", "walk", "filesystem", "target")


def scan_cmd(root: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sessdiag", "scan", root, "--deep", "--json",
            "--max-lifetime", "30d", "--now", str(NOW), "--no-progress", *extra]


def ops(fs: object) -> int:
    return sum(fs.stats().get("delayed", {}).values())  # type: ignore[attr-defined]


def timed_mount(src: str, mnt: str, delay: float, threads: int,
                cmds: list[list[str]]) -> tuple[float, list[bytes], int]:
    """Start every command at once on a fresh mount; wall time until the last one ends."""
    with mount_slowfs(src, mnt, delay_ms=delay, impl="c", threads=threads,
                      attr_timeout=0.0, entry_timeout=0.0) as fs:
        fs.reset()
        t0 = time.perf_counter()
        procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for c in cmds]
        outs = [p.communicate() for p in procs]
        elapsed = time.perf_counter() - t0
        n = ops(fs)
    for p, (_out, err) in zip(procs, outs, strict=True):
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(p.args[:5])} failed ({p.returncode}): "  # type: ignore[index]
                             f"{err.decode()[-800:]}")
    return elapsed, [o for o, _ in outs], n


def comparable(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in PER_RUN}


def partitions_on_slowfs(args: argparse.Namespace) -> None:
    src = os.path.join(args.dir, f"tree{args.files}")
    mnt = os.path.join(args.dir, f"mnt{os.getpid()}")
    print(f"building {args.files:,} beego files under {src}", file=sys.stderr)
    build(src, args.files, args.seed)
    n = args.parts
    try:
        t_du, _, ops_du = timed_mount(src, mnt, args.delay_ms, args.fuse_threads,
                                      [["du", "-s", mnt]])
        t_whole, (out,), ops_whole = timed_mount(src, mnt, args.delay_ms, args.fuse_threads,
                                                 [scan_cmd(mnt)])
        t_parts, outs, ops_parts = timed_mount(
            src, mnt, args.delay_ms, args.fuse_threads,
            [scan_cmd(mnt, "--partition", f"{k}/{n}") for k in range(1, n + 1)])
    finally:
        if os.path.isdir(mnt) and not os.path.ismount(mnt):
            os.rmdir(mnt)
    whole = json.loads(out)
    parts = [json.loads(o) for o in outs]
    merged = merge_reports(parts, [f"part{k}.json" for k in range(1, n + 1)])
    same = comparable(merged) == comparable(whole)
    sizes = [p["sessions"] for p in parts]
    print(f"\n{args.files:,} files (beego, 16 first-level shards), slowfs3 "
          f"({args.fuse_threads} server threads), {args.delay_ms:g} ms per getattr/readdir, "
          f"attribute cache off; {os.cpu_count()} cores, 1-min load "
          f"{os.getloadavg()[0]:.2f}; one run")
    print(f"{'command':<34}{'wall s':>9}{'x whole':>9}{'x du':>8}{'delayed ops':>13}")
    for name, t, o in (("du -s (peer)", t_du, ops_du),
                       ("scan --deep, whole", t_whole, ops_whole),
                       (f"{n} x scan --deep --partition K/{n}", t_parts, ops_parts)):
        print(f"{name:<34}{t:>9.2f}{t / t_whole:>9.3f}{t / t_du:>8.3f}{o:>13,}")
    print(f"speed-up of {n} parallel partitions over one whole scan: {t_whole / t_parts:.2f}x "
          f"(sessions per part {sizes}: the largest part is "
          f"{max(sizes) / max(1, sum(sizes)):.0%} of the tree, a bound of "
          f"{sum(sizes) / max(1, max(sizes)):.2f}x)")
    print(f"merge of the {n} part reports equals the whole scan: {'yes' if same else 'NO'}")
    if not same:
        diff = [k for k in comparable(whole) if comparable(whole)[k] != comparable(merged).get(k)]
        print(f"  fields that differ: {diff}")


def merge_of_many(args: argparse.Namespace) -> None:
    n = args.reports
    with tempfile.TemporaryDirectory(prefix="sessdiag-bench-merge-") as tmp:
        root = os.path.join(tmp, "php")
        make_tree(root, FixtureSpec.from_mapping({
            "profile": "php-files", "php_depth": 0, "sessions": args.files, "seed": args.seed,
            "now": NOW, "max_lifetime": 30 * 86400, "expired_fraction": 0.3,
            "empty_fraction": 0.4, "zero_byte": 20, "undecodable": 20, "foreign": 20,
            "symlinks": 10}))
        base = {"max_lifetime": 30 * 86400, "max_lifetime_given": True,
                "max_lifetime_source": "--max-lifetime", "profile": "php-files",
                "deep": True, "now": float(NOW), "jobs": 1, "workers": "threads"}
        print(f"scanning {args.files:,} PHP files as {n} partitions", file=sys.stderr)
        paths = []
        for k in range(1, n + 1):
            rep = run_scan(root, ScanSettings(**base, partition=(k, n)), php_depth=0)
            path = os.path.join(tmp, f"part{k:03d}.json")
            with open(path, "w") as fh:
                json.dump(rep, fh)
            paths.append(path)
        size = sum(os.path.getsize(p) for p in paths)
        t0 = time.perf_counter()
        whole = subprocess.run([*scan_cmd(root), "-j", "1"], capture_output=True, check=True)
        t_scan = time.perf_counter() - t0
        out = os.path.join(tmp, "merged.json")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sessdiag", "merge", *paths, "--output", out,
                        "--quiet"], check=True)
        t_cli = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import sessdiag.cli"], check=True)
        t_start = time.perf_counter() - t0
        loads, merges = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            reports = []
            for p in paths:
                with open(p) as fh:
                    reports.append(json.load(fh))
            loads.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            merged = merge_reports(reports, paths)
            merges.append(time.perf_counter() - t0)
        same = comparable(merged) == comparable(json.loads(whole.stdout))
    t_load, t_merge = statistics.median(loads), statistics.median(merges)
    print(f"\nmerge of {n} reports ({size / 1e6:.1f} MB of JSON, partitions of a flat PHP "
          f"store of {args.files:,} sessions, --deep); 1-min load {os.getloadavg()[0]:.2f}")
    print(f"{'step':<44}{'wall s':>9}{'ratio':>24}")
    print(f"{f'sessdiag merge (CLI process, {n} files)':<44}{t_cli:>9.3f}"
          f"{t_cli / t_scan:>14.3f} x scan")
    print(f"{'  of which interpreter + CLI import':<44}{t_start:>9.3f}")
    print(f"{'merge_reports in-process (median of 3)':<44}{t_merge:>9.3f}"
          f"{t_merge / t_load:>14.2f} x parse")
    print(f"{'json.load of the reports (floor, median)':<44}{t_load:>9.3f}")
    print(f"{'scan --deep of the whole tree (local disk)':<44}{t_scan:>9.3f}")
    print(f"merged report equals the whole scan: {'yes' if same else 'NO'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/tmp/sessdiag-bench/fuse")
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--delay-ms", type=float, default=1.0)
    ap.add_argument("--parts", type=int, default=4)
    ap.add_argument("--reports", type=int, default=100)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--fuse-threads", type=int, default=64)
    ap.add_argument("--skip-fuse", action="store_true", help="only the merge figures")
    args = ap.parse_args()
    if not args.skip_fuse:
        why = fuse_available(impl="c")
        if why:
            raise SystemExit(f"cannot mount slowfs3: {why}")
        partitions_on_slowfs(args)
    merge_of_many(args)


if __name__ == "__main__":
    main()
