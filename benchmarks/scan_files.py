#!/usr/bin/env python3
"""sessdiag scan vs du -s and find -printf on the same beego tree, in the same run.

    python benchmarks/scan_files.py --files 1000000 --runs 5 [--grow-to 2000000]

Builds (or reuses) a beego tree under --dir: 32-hex sids in ROOT/s/i/sid, 99 % empty
20-byte sessions and 1 % real beego payloads, last access uniform over 60 days. Warms the
cache with one `du -s`, then times each tool --runs times (interleaved) and prints medians
and ratios. Peak RSS of sessdiag is sampled over its whole process tree (parent + workers).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from sessdiag.fixture_payloads import BEEGO_REAL_PAYLOADS
from sessdiag.fixtures import BEEGO_EMPTY, HEX


def build(root: str, total: int, seed: int) -> None:
    """Add files until the tree holds `total` sessions (ids from a seeded stream)."""
    os.makedirs(root, exist_ok=True)
    for a in HEX:
        for b in HEX:
            os.makedirs(os.path.join(root, a, b), exist_ok=True)
    marker = os.path.join(os.path.dirname(root), os.path.basename(root) + ".count")
    have = int(Path(marker).read_text()) if os.path.exists(marker) else 0
    if have >= total:
        return
    rnd = random.Random(seed)
    payloads = [bytes.fromhex(h) for h in BEEGO_REAL_PAYLOADS.values()]
    now = time.time()
    t0 = time.perf_counter()
    for i in range(total):
        sid = f"{rnd.getrandbits(128):032x}"
        age = rnd.random() * 60 * 86400
        data = payloads[i % len(payloads)] if rnd.random() < 0.01 else BEEGO_EMPTY
        if i < have:
            continue
        path = f"{root}/{sid[0]}/{sid[1]}/{sid}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.close(fd)
        os.utime(path, (now - age, now - age))
        if i and i % 200_000 == 0:
            print(f"  built {i:,} files ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    with open(marker, "w") as fh:
        fh.write(str(total))
    # Write back the new files now: timing while the kernel flushes a million dirty inodes
    # measured the flush (a 1 M run read 4.4 s right after building, 3.9 s after a sync).
    os.sync()


def timed(cmd: list[str], *, sample_rss: bool = False,
          env: dict[str, str] | None = None) -> tuple[float, int, float]:
    """Wall seconds, peak RSS, and CPU seconds (user + sys of the command's process tree:
    on a shared machine it varies far less than wall)."""
    peak = 0
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # cwd "/": `python -m` puts the working directory first on sys.path, before PYTHONPATH,
    # so a run from a checkout would time that checkout instead of --old.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            cwd="/")
    if sample_rss:
        ps = psutil.Process(proc.pid)
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                try:
                    procs = [ps, *ps.children(recursive=True)]
                    rss = sum(p.memory_info().rss for p in procs)
                except psutil.Error:
                    rss = 0
                peak = max(peak, rss)
                stop.wait(0.02)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if sample_rss:
        stop.set()
        th.join()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {err.decode()[-500:]}")
    return elapsed, peak, ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime


def measure(root: str, runs: int, old: str | None = None) -> dict:
    sessdiag = [sys.executable, "-m", "sessdiag", "scan", root, "--json", "--max-lifetime", "30d",
                "--no-progress"]
    tools = {
        "du -s": ["du", "-s", root],
        "find -printf": ["find", root, "-type", "f", "-printf", "%s %T@\n"],
        "sessdiag scan": sessdiag,
    }
    envs: dict[str, dict[str, str] | None] = {k: None for k in tools}
    if old:  # another checkout of sessdiag (e.g. `git archive OLD | tar -x -C DIR`)
        tools["scan (old)"] = sessdiag
        envs["scan (old)"] = dict(os.environ, PYTHONPATH=old)
    subprocess.run(["du", "-s", root], stdout=subprocess.DEVNULL, check=True)  # warm the cache
    times: dict[str, list[float]] = {k: [] for k in tools}
    cpus: dict[str, list[float]] = {k: [] for k in tools}
    peaks: list[int] = []
    for run in range(runs):
        for name in (list(tools) if run % 2 == 0 else list(tools)[::-1]):
            t, _, cpu = timed(tools[name], env=envs[name])
            times[name].append(t)
            cpus[name].append(cpu)
    # Peak RSS from runs of their own: the sampler walks /proc every 20 ms and, on a 2-core
    # machine, took enough CPU from the timed scan to add ~10 % to its wall time.
    for _ in range(2):
        _, peak, _ = timed(sessdiag, sample_rss=True)
        peaks.append(peak)
    return {"median": {k: statistics.median(v) for k, v in times.items()},
            "min": {k: min(v) for k, v in times.items()}, "peak_rss": max(peaks),
            "cpu": {k: statistics.median(v) for k, v in cpus.items()}}


def report(label: str, res: dict) -> None:
    med = res["median"]
    du = med["du -s"]
    print(f"\n{label}")
    print(f"{'tool':<16}{'median s':>10}{'min s':>10}{'x du':>8}{'cpu s':>8}")
    for name, t in med.items():
        print(f"{name:<16}{t:>10.2f}{res['min'][name]:>10.2f}{t / du:>8.2f}"
              f"{res['cpu'][name]:>8.2f}")
    print(f"sessdiag peak RSS (parent + workers): {res['peak_rss'] / 2**20:.0f} MiB")
    print(f"ratio sessdiag/du = {med['sessdiag scan'] / du:.2f} (target <= 1.5); "
          f"sessdiag/find = {med['sessdiag scan'] / med['find -printf']:.2f} (target < 1)")
    if "scan (old)" in med:
        print(f"this checkout / old: median {med['sessdiag scan'] / med['scan (old)']:.3f}, "
              f"min {res['min']['sessdiag scan'] / res['min']['scan (old)']:.3f}, "
              f"cpu {res['cpu']['sessdiag scan'] / res['cpu']['scan (old)']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/tmp/sessdiag-bench/tree")
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--grow-to", type=int, default=0, help="then grow the tree and measure again")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--old", help="a checkout of another sessdiag to time too (PYTHONPATH)")
    args = ap.parse_args()
    args.dir = os.path.abspath(args.dir)
    print(f"building {args.files:,} files under {args.dir}", file=sys.stderr)
    build(args.dir, args.files, args.seed)
    first = measure(args.dir, args.runs, args.old)
    report(f"{args.files:,} files, warm cache, {os.cpu_count()} cores, {args.runs} runs", first)
    if args.grow_to > args.files:
        build(args.dir, args.grow_to, args.seed)
        second = measure(args.dir, args.runs, args.old)
        report(f"{args.grow_to:,} files", second)
        growth = second["peak_rss"] / first["peak_rss"] - 1
        print(f"peak RSS growth {args.files:,} -> {args.grow_to:,} files: {growth:+.1%} "
              "(target <= +10%)")


if __name__ == "__main__":
    main()
