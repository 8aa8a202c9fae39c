#!/usr/bin/env python3
"""`find -mmin +N -delete` vs `sessdiag prune --apply` on identical beego trees, same run.

    python benchmarks/prune_files.py --files 500000 --runs 1
    python benchmarks/prune_files.py --files 50000 --variant default --variant direct \\
        --variant threads
    python benchmarks/prune_files.py --files 20000 --fuse-delay-ms 1   # via tools/slowfs
    python benchmarks/prune_files.py --files 20000 --fuse-delay-ms 1 --fuse-impl c \\
        --fuse-threads 64 --runs 3 --variant j32=--jobs,32 \\
        --variant direct-j32=--direct-unlink,--jobs,32

Each run builds fresh trees in one pass (ROOT/s/i/sid, 32-hex sids, 20-byte empty beego
sessions, last access uniform over 60 days, so ~50 % are older than the 30-day cutoff); the
copies get the same names and the same mtimes. The page cache is warmed with `du -s` on each
copy, then `find COPY -type f -mmin +43200 -delete` and each sessdiag variant run one after
the other, alternating which goes first. Prints wall times, files deleted and ratios, and
checks that every command deleted exactly the expired files (the same set as `find`), by name.

On slowfs (--fuse-delay-ms) each command gets its own fresh mount; the counters are reset
right before the command, so the delayed operations reported are the command's own.
--fuse-impl python is tools/slowfs/slowfs.py (libfuse 2.9, at most 10 requests served at a
time); --fuse-impl c is tools/slowfs/slowfs3.c (libfuse 3, --fuse-threads server threads,
built on demand).

Variants: default (processes on local disks, verified rename), direct (--direct-unlink),
threads (--workers threads), serial (--jobs 1), or any "name=--flag,--flag" string.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from sessdiag.fixtures import BEEGO_EMPTY, HEX

DAY = 86400
MAX_AGE_DAYS = 30
FUSE_OPS = ("getattr", "readdir", "unlink", "rename", "link")
VARIANTS = {
    "default": [],
    "direct": ["--direct-unlink"],
    "threads": ["--workers", "threads"],
    "serial": ["--jobs", "1"],
}


def build(roots: list[str], n: int, seed: int) -> set[str]:
    """Write the same n sessions into every root; returns the paths (relative to a root) of
    those older than 30 days."""
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)
        for a in HEX:
            for b in HEX:
                os.makedirs(os.path.join(root, a, b))
    rnd = random.Random(seed)
    now = time.time()
    old: set[str] = set()
    for _ in range(n):
        sid = f"{rnd.getrandbits(128):032x}"
        age = rnd.random() * 60 * DAY
        # Keep clear of the cutoff so find's whole-minute rounding cannot disagree with us.
        if abs(age - MAX_AGE_DAYS * DAY) < 3 * 3600:
            age += 6 * 3600
        rel = f"{sid[0]}/{sid[1]}/{sid}"
        if age > MAX_AGE_DAYS * DAY:
            old.add(rel)
        mtime = now - age
        for root in roots:
            path = f"{root}/{rel}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, BEEGO_EMPTY)
            os.close(fd)
            os.utime(path, (mtime, mtime))
    return old


def files_in(root: str) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root)
            for d, _s, files in os.walk(root) for f in files}


def check_deleted(label: str, root: str, before: set[str], old: set[str]) -> int:
    """Number deleted; warns unless exactly the expired files went (compared by name)."""
    left = files_in(root)
    gone = before - left
    if gone != old or left - before:
        print(f"  WARNING: {label} deleted {len(gone):,} files, expected exactly the "
              f"{len(old):,} expired ones: {len(gone - old)} unexpected, "
              f"{len(old - gone)} missed, {len(left - before)} new", file=sys.stderr)
    return len(gone)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds, and the command's CPU seconds (user + sys, its whole process tree): on a
    shared machine CPU varies far less than wall."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # cwd "/": `python -m` puts the working directory first on sys.path, before PYTHONPATH,
    # so a run from a checkout would time that checkout instead of --old.
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False,
                          env=env, cwd="/")
    elapsed = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}… failed ({proc.returncode}): "
                         f"{proc.stderr.decode()[-800:]}")
    return elapsed, ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime


def prune_cmd(root: str, flags: list[str]) -> list[str]:
    return [sys.executable, "-m", "sessdiag", "prune", root, "--max-age", f"{MAX_AGE_DAYS}d",
            "--profile", "beego-file", "--apply", "--quiet", *flags]


def find_cmd(root: str) -> list[str]:
    return ["find", root, "-type", "f", "-mmin", f"+{MAX_AGE_DAYS * 1440}", "-delete"]


OLD: str | None = None  # --old DIR: variants named "old..." run that checkout (PYTHONPATH)


def parse_variant(spec: str) -> tuple[str, list[str]]:
    if spec in VARIANTS:
        return spec, VARIANTS[spec]
    name, _, flags = spec.partition("=")
    return name, [f for f in flags.split(",") if f]


def variant_env(label: str) -> dict[str, str] | None:
    if OLD and label.removeprefix("prune ").startswith("old"):
        return dict(os.environ, PYTHONPATH=OLD)
    return None


def local_runs(args: argparse.Namespace, variants: list[tuple[str, list[str]]]) -> None:
    base = args.dir
    times: dict[str, list[float]] = {"find -delete": []}
    for name, _ in variants:
        times[f"prune {name}"] = []
    cpus: dict[str, list[float]] = {label: [] for label in times}
    loads: list[float] = []
    for run in range(args.runs):
        roots = {"find -delete": f"{base}/find"}
        for name, _ in variants:
            roots[f"prune {name}"] = f"{base}/prune-{name}"
        t0 = time.perf_counter()
        old = build(list(roots.values()), args.files, args.seed + run)
        before = files_in(roots["find -delete"])
        print(f"run {run + 1}: built {len(roots)} x {args.files:,} files "
              f"({len(old):,} older than {MAX_AGE_DAYS} d) in {time.perf_counter() - t0:.0f}s",
              file=sys.stderr)
        order = list(roots)
        if (run + args.reverse_first) % 2:
            order.reverse()
        for label in order:
            root = roots[label]
            subprocess.run(["sync"], check=False)
            subprocess.run(["du", "-s", root], stdout=subprocess.DEVNULL, check=True)
            if label == "find -delete":
                cmd = find_cmd(root)
            else:
                flags = dict(variants)[label.removeprefix("prune ")]
                cmd = prune_cmd(root, flags)
            loads.append(os.getloadavg()[0])
            t, cpu = timed(cmd, variant_env(label))
            times[label].append(t)
            cpus[label].append(cpu)
            deleted = check_deleted(label, root, before, old)
            print(f"  {label:<22} {t:8.2f}s  cpu {cpu:6.2f}s  deleted {deleted:,}",
                  file=sys.stderr)
        for root in roots.values():
            shutil.rmtree(root, ignore_errors=True)
    report(f"{args.files:,} files, ~50 % expired, local disk ({_fstype(base)}), "
           f"{os.cpu_count()} cores, {args.runs} run(s)", times, loads=loads, cpus=cpus)


def fuse_runs(args: argparse.Namespace, variants: list[tuple[str, list[str]]]) -> None:
    slowfs_dir = os.path.join(os.path.dirname(__file__), "..", "tools", "slowfs")
    if not os.path.exists(os.path.join(slowfs_dir, "slowfs.py")):
        raise SystemExit("tools/slowfs/slowfs.py is not there: no FUSE mode")
    sys.path.insert(0, slowfs_dir)
    from slowfs import fuse_available, mount_slowfs  # type: ignore[import-not-found]

    why = fuse_available(impl=args.fuse_impl)
    if why:
        raise SystemExit(f"cannot mount slowfs ({args.fuse_impl}): {why}")
    mount_kw: dict[str, object] = {"impl": args.fuse_impl}
    if args.fuse_impl == "c":
        mount_kw["threads"] = args.fuse_threads
        if args.fuse_serial_dirops:
            mount_kw["parallel_dirops"] = False
    base = args.dir
    labels = ["find -delete"] + [f"prune {n}" for n, _ in variants]
    times: dict[str, list[float]] = {label: [] for label in labels}
    cpus: dict[str, list[float]] = {label: [] for label in labels}
    delayed: dict[str, list[dict[str, int]]] = {label: [] for label in labels}
    loads: list[float] = []
    for run in range(args.runs):
        srcs = {label: f"{base}/src{i}" for i, label in enumerate(labels)}
        old = build(list(srcs.values()), args.files, args.seed + run)
        before = files_in(srcs["find -delete"])
        print(f"run {run + 1}: built {len(srcs)} x {args.files:,} files ({len(old):,} old)",
              file=sys.stderr)
        for label in (labels if (run + args.reverse_first) % 2 == 0 else labels[::-1]):
            mnt = f"{base}/mnt"
            os.makedirs(mnt, exist_ok=True)
            # As on the local disk: the trees just built (and the last command's deletions)
            # written back first. Unsynced, the kernel began writing back ~30 s after the
            # build, i.e. during whichever command ran after find (5.3 s instead of 3.2 s).
            subprocess.run(["sync"], check=False)
            # rename and link are delayed too: the verified protocol uses them, find does not.
            with mount_slowfs(srcs[label], mnt, delay_ms=args.fuse_delay_ms,
                              ops=FUSE_OPS, **mount_kw) as fs:
                if label == "find -delete":
                    cmd = find_cmd(mnt)
                else:
                    flags = dict(variants)[label.removeprefix("prune ")]
                    cmd = prune_cmd(mnt, flags)
                fs.reset()
                loads.append(os.getloadavg()[0])
                t, cpu = timed(cmd, variant_env(label))
                st = fs.stats()
            deleted = check_deleted(label, srcs[label], before, old)
            times[label].append(t)
            cpus[label].append(cpu)
            delayed[label].append(st.get("delayed", {}))
            print(f"  {label:<22} {t:8.2f}s  deleted {deleted:,}; delayed ops "
                  f"{sum(st.get('delayed', {}).values()):,} {st.get('delayed', {})}; "
                  f"all ops {st.get('ops', {})}", file=sys.stderr)
        for src in srcs.values():
            shutil.rmtree(src, ignore_errors=True)
    harness = "slowfs.py (libfuse 2.9, fusepy)" if args.fuse_impl == "python" else \
        f"slowfs3 (libfuse 3, {args.fuse_threads} server threads" + \
        (", serial dirops)" if args.fuse_serial_dirops else ")")
    report(f"{args.files:,} files on {harness}, {args.fuse_delay_ms} ms per "
           f"{'/'.join(FUSE_OPS)}; {os.cpu_count()} cores; {args.runs} run(s)", times,
           delayed=delayed, loads=loads, cpus=cpus)


def _fstype(path: str) -> str:
    try:
        out = subprocess.run(["findmnt", "-no", "FSTYPE", "-T", path], capture_output=True,
                             text=True, check=False).stdout.strip()
        return out or "?"
    except OSError:
        return "?"


def report(title: str, times: dict[str, list[float]],
           delayed: dict[str, list[dict[str, int]]] | None = None,
           loads: list[float] | None = None,
           cpus: dict[str, list[float]] | None = None) -> None:
    find = statistics.median(times["find -delete"])
    print(f"\n{title}")
    if loads:
        print(f"1-min load average before the commands: median {statistics.median(loads):.2f}, "
              f"max {max(loads):.2f}")
    head = f"{'command':<26}{'median s':>10}{'min s':>9}{'max s':>9}{'find/this':>11}"
    if cpus:
        head += f"{'cpu s':>8}"  # median user + sys of the command's process tree
    if delayed:
        head += f"{'delayed ops':>13}  by operation (median run)"
    print(head)
    for label, ts in times.items():
        med = statistics.median(ts)
        line = f"{label:<26}{med:>10.2f}{min(ts):>9.2f}{max(ts):>9.2f}{find / med:>10.1f}x"
        if cpus:
            line += f"{statistics.median(cpus[label]):>8.2f}"
        if delayed and delayed.get(label):
            runs = sorted(delayed[label], key=lambda d: sum(d.values()))
            mid = runs[(len(runs) - 1) // 2]
            ops = ", ".join(f"{k} {v:,}" for k, v in sorted(mid.items()))
            line += f"{sum(mid.values()):>13,}  {ops}"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/tmp/sessdiag-bench/prune")
    ap.add_argument("--files", type=int, default=500_000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--variant", action="append", default=None,
                    help="default, direct, threads, serial or name=--flag,--flag (repeatable)")
    ap.add_argument("--reverse-first", action="store_true",
                    help="start with the prune variants and time find last")
    ap.add_argument("--fuse-delay-ms", type=float, default=None,
                    help="run on tools/slowfs mounts with this delay per operation")
    ap.add_argument("--fuse-impl", choices=("python", "c"), default="python",
                    help="slowfs.py (libfuse 2.9, <= 10 requests at a time) or slowfs3.c "
                         "(libfuse 3, --fuse-threads server threads)")
    ap.add_argument("--fuse-threads", type=int, default=64,
                    help="server threads of slowfs3 (--fuse-impl c)")
    ap.add_argument("--fuse-serial-dirops", action="store_true",
                    help="slowfs3 without FUSE_PARALLEL_DIROPS (lookups in one directory "
                         "one at a time, as on slowfs.py)")
    ap.add_argument("--old", help="a checkout of another sessdiag: variants whose name starts "
                    "with 'old' (e.g. old=) run it (PYTHONPATH)")
    args = ap.parse_args()
    args.dir = os.path.abspath(args.dir)
    global OLD
    OLD = args.old
    variants = [parse_variant(v) for v in (args.variant or ["default"])]
    os.makedirs(args.dir, exist_ok=True)
    if args.fuse_delay_ms is not None:
        fuse_runs(args, variants)
    else:
        local_runs(args, variants)


if __name__ == "__main__":
    main()
