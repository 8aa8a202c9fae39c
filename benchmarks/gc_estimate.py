"""Benchmark: `sessdiag gc-estimate` against beego's GC itself (tools/gcoracle).

For each tree (local disk: 50k/200k/1M files x 0/50/90 % expired; slowfs FUSE: 20k files at
1 ms and 5 ms per operation) it:

1. sets the tree to the wanted state (recreates files the previous GC deleted, resets every
   mtime), syncs, and warms the cache with a full lstat walk (`du -s`);
2. runs `sessdiag gc-estimate TREE --json` (read-only on sessions);
3. runs the oracle (beego's SessionGC, which deletes the expired files) and compares.

For the FUSE trees it also projects from the local source tree with `--assume-latency` (the
nominal delay, and the per-operation latency the FUSE probe measured) and compares the
projection with the oracle on the mount.

Usage:
    .venv/bin/python benchmarks/gc_estimate.py                      # the full matrix
    .venv/bin/python benchmarks/gc_estimate.py --sizes 50k --fuse-files 0
    nohup .venv/bin/python benchmarks/gc_estimate.py > /tmp/gcbench.log 2>&1 &

Trees are built under --workdir (default /tmp/sessdiag-gcbench, on the same filesystem as
/tmp) and kept between runs unless --clean; a 1M-file tree takes 2-4 min to build and ~4 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools" / "slowfs"))
sys.path.insert(0, str(REPO / "tools" / "gcoracle"))

from oracle import build_oracle, run_oracle  # noqa: E402
from slowfs import fuse_available, mount_slowfs  # noqa: E402

HEX = "0123456789abcdef"
EMPTY_GOB = bytes.fromhex("0eff81040102ff820001100110000004ff820000")  # beego's empty session
LIFETIME = 30 * 86400  # casdoor's SessionGCMaxLifetime


def parse_count(text: str) -> int:
    t = text.strip().lower()
    mult = 1
    if t.endswith("k"):
        mult, t = 1000, t[:-1]
    elif t.endswith("m"):
        mult, t = 1_000_000, t[:-1]
    return int(float(t) * mult)


class BenchTree:
    """n beego sessions (20-byte empty gobs) under ROOT/s0/s1/sid, 273 directories.

    The file set is fixed by the seed; `apply(fraction)` makes exactly round(n * fraction)
    of them expired (ages 30 d + 1 h .. 60 d, as in the real-beego runs behind
    docs/gc-model.md) and the rest live (0 .. 30 d - 1 h), recreating any file a GC deleted.
    """

    def __init__(self, root: Path, n: int, seed: int) -> None:
        self.root = root
        self.n = n
        rnd = random.Random(seed)
        seen: set[str] = set()
        self.sids: list[str] = []
        while len(self.sids) < n:
            sid = f"{rnd.getrandbits(128):032x}"
            if sid not in seen:
                seen.add(sid)
                self.sids.append(sid)
        self.rank = list(range(n))
        rnd.shuffle(self.rank)
        self.u = [rnd.random() for _ in range(n)]

    def path(self, sid: str) -> str:
        return os.path.join(self.root, sid[0], sid[1], sid)

    def apply(self, fraction: float, now: float) -> dict:
        t0 = time.perf_counter()
        for a in HEX:
            for b in HEX:
                os.makedirs(os.path.join(self.root, a, b), exist_ok=True)
        cut = round(self.n * fraction)
        created = expired = 0
        for i, sid in enumerate(self.sids):
            p = self.path(sid)
            if self.rank[i] < cut:
                age = LIFETIME + 3600 + self.u[i] * (LIFETIME - 3600)
                expired += 1
            else:
                age = self.u[i] * (LIFETIME - 3600)
            mt = int(now - age)
            try:
                os.utime(p, (mt, mt))
            except FileNotFoundError:
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                os.write(fd, EMPTY_GOB)
                os.close(fd)
                os.utime(p, (mt, mt))
                created += 1
        return {"created": created, "expired": expired, "apply_s": time.perf_counter() - t0}


def settle(root: Path) -> float:
    """Write everything back (old sessions are on disk, not in dirty pages) and warm the cache
    with a full lstat walk, like the "warm" real-beego runs in docs/gc-model.md (sync, then
    find/du)."""
    t0 = time.perf_counter()
    os.sync()
    subprocess.run(["du", "-s", str(root)], capture_output=True, check=False)
    return time.perf_counter() - t0


def estimate(tree: str, *extra: str) -> dict:
    cmd = [str(REPO / ".venv" / "bin" / "sessdiag"), "gc-estimate", tree, "--json",
           "--max-lifetime", str(LIFETIME), "--seed", "1", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"gc-estimate failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def err(est: float, real: float) -> float:
    return (est - real) / real * 100 if real else float("nan")


def pressure() -> dict:
    """/proc/pressure/{cpu,io} avg10 ("some") now, to print beside each timing."""
    out = {}
    for kind in ("cpu", "io"):
        try:
            with open(f"/proc/pressure/{kind}") as f:
                first = f.readline().split()
            out[kind] = float(dict(kv.split("=") for kv in first[1:])["avg10"])
        except (OSError, KeyError, ValueError):
            out[kind] = None
    return out


def row(label: str, est: dict | float, oracle: dict, extra: str = "") -> dict:
    seconds = est if isinstance(est, float) else est["seconds"]
    lo, hi = (None, None) if isinstance(est, float) else est["range_s"]
    r = {"case": label, "estimate_s": round(seconds, 3), "range_s": [lo, hi],
         "oracle_s": round(oracle["gc_wall_s"], 3),
         "first_request_wait_s": round(oracle["first_request_wait_s"], 3),
         "files_walked": oracle["files_walked"], "deleted": oracle["deleted"],
         "error_pct": round(err(seconds, oracle["gc_wall_s"]), 1),
         "ratio": round(seconds / oracle["gc_wall_s"], 3) if oracle["gc_wall_s"] else None}
    if not isinstance(est, float):
        r.update(est_files=est["files"], est_expired=est["expired"],
                 stat_us=est["stat_latency_us"], unlink_us=est["unlink_latency_us"],
                 breakdown=est["breakdown"], probe_s=est["probe"]["seconds"] if est["probe"]
                 else None, probe_ops=est["probe"]["operations"] if est["probe"] else None,
                 quiet=(est.get("quiet") or {}).get("state"),
                 quiet_reason=(est.get("quiet") or {}).get("reason"),
                 cpu_wait_us=(est.get("quiet") or {}).get("cpu_wait_per_unlink_us"),
                 cpu_slowdown=est.get("cpu_slowdown"))
    r["cpu_s"] = round(oracle.get("cpu_user_s", 0) + oracle.get("cpu_sys_s", 0), 2)
    # Where beego's GC spent its time: its threads on a CPU, waiting for one (the neighbours'
    # load), and the rest (the disk's round trips); per removal when it removed anything.
    r["oracle_run_s"] = oracle.get("sched_run_s")
    r["oracle_wait_s"] = oracle.get("sched_wait_s")
    r["oracle_read_blocks"] = oracle.get("read_blocks_512")
    if oracle["deleted"] and oracle.get("sched_wait_s") is not None and not isinstance(est,
                                                                                      float):
        walk_s = est["breakdown"]["stat_s"] + est["breakdown"]["readdir_s"]
        d = oracle["deleted"]
        r["oracle_per_removal_us"] = round((oracle["gc_wall_s"] - walk_s) / d * 1e6, 1)
        r["oracle_wait_per_removal_us"] = round(oracle["sched_wait_s"] / d * 1e6, 1)
    r["load1"] = round(os.getloadavg()[0], 1)
    r["psi"] = pressure()
    r["note"] = extra
    return r


def print_row(r: dict) -> None:
    lo, hi = r["range_s"]
    rng = f"{lo:8.2f}-{hi:<8.2f}" if lo is not None else " " * 17
    ok = "ok " if abs(r["error_pct"]) <= 25 else "OFF"
    print(f"{r['case']:<44} est {r['estimate_s']:9.2f} [{rng}] oracle {r['oracle_s']:9.2f} "
          f"wait {r['first_request_wait_s']:9.2f} walked {r['files_walked']:>8} "
          f"deleted {r['deleted']:>8}  est/oracle {r['ratio']:.2f}x err {r['error_pct']:+6.1f}% "
          f"{ok} cpu {r['cpu_s']:.1f}s "
          f"load {r['load1']} psi cpu/io {r['psi']['cpu']}/{r['psi']['io']} "
          f"quiet={r.get('quiet') or '-'} "
          f"cpu-slowdown={r.get('cpu_slowdown') or '-'} {r['note']}", flush=True)
    if r.get("oracle_per_removal_us") is not None:
        print(f"{'':<44} per removal: estimate {r.get('unlink_us')} µs (probe wait "
              f"{r.get('cpu_wait_us')} µs), beego's GC {r['oracle_per_removal_us']} µs "
              f"(waiting for a CPU {r['oracle_wait_per_removal_us']} µs)", flush=True)


def run_local(oracle: str, work: Path, n: int, fractions: list[float], results: list[dict],
              cold: bool, repeat: int = 1) -> None:
    root = work / f"local-{n}"
    tree = BenchTree(root, n, seed=n)
    for f in [f for _ in range(repeat) for f in fractions]:
        now = time.time()
        info = tree.apply(f, now)
        settle_s = settle(root)
        print(f"# {n} files, {f:.0%} expired: set up in {info['apply_s']:.1f}s "
              f"({info['created']} recreated), sync+warm {settle_s:.1f}s", flush=True)
        est = estimate(str(root))
        orc = run_oracle(oracle, str(root), LIFETIME)
        r = row(f"local {n // 1000}k {f:.0%} expired warm", est, orc)
        results.append(r)
        print_row(r)
        if cold:
            tree.apply(f, time.time())
            settle(root)
            est = estimate(str(root), "--cold")
            subprocess.run(["sh", "-c", "sync; echo 3 > /proc/sys/vm/drop_caches"], check=False)
            orc = run_oracle(oracle, str(root), LIFETIME)
            r = row(f"local {n // 1000}k {f:.0%} expired cold", est, orc)
            results.append(r)
            print_row(r)


def run_fuse(oracle: str, work: Path, n: int, delays: list[float], fractions: list[float],
             results: list[dict]) -> None:
    why = fuse_available()
    if why:
        print(f"# FUSE rows skipped: {why}", flush=True)
        return
    src = work / f"fuse-src-{n}"
    mnt = work / f"fuse-mnt-{n}"
    tree = BenchTree(src, n, seed=99)
    for d in delays:
        for f in fractions:
            tree.apply(f, time.time())
            settle(src)
            with mount_slowfs(str(src), str(mnt), delay_ms=d) as fs:
                est = estimate(str(mnt))
                # Projections from the local source, before the oracle deletes anything: at
                # the nominal delay, and at the per-operation latency measured on the mount.
                measured_lat = est["stat_latency_us"] / 1e3
                proj_nominal = estimate(str(src), "--assume-latency", f"{d}ms")
                proj_measured = estimate(str(src), "--assume-latency", f"{measured_lat:.4f}ms")
                fs.reset()
                orc = run_oracle(oracle, str(mnt), LIFETIME)
                ops = fs.stats()["ops"]
            label = f"fuse {n // 1000}k {d:g}ms {f:.0%} expired"
            note = (f"ops getattr {ops.get('getattr', 0)} readdir {ops.get('readdir', 0)} "
                    f"unlink {ops.get('unlink', 0)}")
            r = row(label, est, orc, note)
            results.append(r)
            print_row(r)
            lat_rows = [w for w in proj_nominal["what_if"] if w["kind"] == "latency"]
            r = row(f"  projection from local at {d:g}ms", float(lat_rows[0]["seconds"]), orc,
                    "--assume-latency nominal delay")
            results.append(r)
            print_row(r)
            lat_rows = [w for w in proj_measured["what_if"] if w["kind"] == "latency"]
            r = row(f"  projection from local at {measured_lat:.3f}ms", float(
                lat_rows[0]["seconds"]), orc, "--assume-latency = latency measured on the mount")
            results.append(r)
            print_row(r)


def run_spread(oracle: str, work: Path, n: int, fraction: float, runs: int,
               results: list[dict]) -> None:
    """The issue-16 check: build a fresh tree, sync, then `runs` estimates back to back (the
    disk still busy with the build's writeback and the neighbours' I/O), then beego's GC."""
    root = work / f"spread-{n}"
    shutil.rmtree(root, ignore_errors=True)
    tree = BenchTree(root, n, seed=n + 7)
    info = tree.apply(fraction, time.time())
    t0 = time.perf_counter()
    os.sync()
    print(f"# spread: {n} files, {fraction:.0%} expired, built in {info['apply_s']:.1f}s, "
          f"sync {time.perf_counter() - t0:.1f}s", flush=True)
    ests = []
    for i in range(runs):
        est = estimate(str(root))
        ests.append(est)
        q = est.get("quiet") or {}
        print(f"#   run {i + 1}: {est['seconds']:.2f} s [{est['range_s'][0]:.2f}-"
              f"{est['range_s'][1]:.2f}] unlink {est['unlink_latency_us']:.1f} µs "
              f"({est['unlink_source']}) quiet={q.get('state', '-')} "
              f"reason={q.get('reason', '-')} cpu-slowdown={est.get('cpu_slowdown') or '-'} "
              f"load {os.getloadavg()[0]:.1f} psi cpu/io {pressure()['cpu']}/{pressure()['io']}",
              flush=True)
    orc = run_oracle(oracle, str(root), LIFETIME)
    secs = sorted(e["seconds"] for e in ests)
    median = secs[len(secs) // 2]
    spread = secs[-1] / secs[0] if secs[0] else float("inf")
    runs_txt = ", ".join(f"{e['seconds']:.2f}" for e in ests)
    r = row(f"spread {n // 1000}k {fraction:.0%} median of {runs}", float(median), orc,
            f"runs {runs_txt}; max/min {spread:.2f}x")
    r["runs_s"] = [e["seconds"] for e in ests]
    r["spread"] = round(spread, 3)
    # The states on the printed row; the whole records (bursts, waits) in --results.
    r["quiet"] = ",".join((e.get("quiet") or {}).get("state", "-") for e in ests)
    r["quiet_records"] = [e.get("quiet") for e in ests]
    results.append(r)
    print_row(r)
    if orc["deleted"] and orc.get("sched_wait_s") is not None:
        d = orc["deleted"]
        print(f"# beego's GC per removal {orc['gc_wall_s'] / d * 1e6:.0f} µs (walk included), "
              f"of which waiting for a CPU {orc['sched_wait_s'] / d * 1e6:.0f} µs; the "
              "estimates: " + ", ".join(f"{e['unlink_latency_us']:.0f}" for e in ests) + " µs",
              flush=True)
    print(f"# spread {spread:.2f}x (max/min, want <= 1.3), median {median:.2f} s vs beego's GC "
          f"{orc['gc_wall_s']:.2f} s: {err(median, orc['gc_wall_s']):+.1f} % (want within "
          "±25 %)", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="50k,200k,1M")
    ap.add_argument("--expired", default="0,0.5,0.9")
    ap.add_argument("--fuse-files", default="20k")
    ap.add_argument("--fuse-delays", default="1,5")
    ap.add_argument("--fuse-expired", default="0,0.5")
    ap.add_argument("--cold", action="store_true", help="also run cold rows (root)")
    ap.add_argument("--repeat", type=int, default=1, help="run the local rows N times")
    ap.add_argument("--spread-files", default="0",
                    help="also build a fresh tree of N files and run --spread-runs estimates "
                    "back to back, then beego's GC (issue 16: e.g. 300k)")
    ap.add_argument("--spread-runs", type=int, default=5)
    ap.add_argument("--spread-expired", type=float, default=0.5)
    ap.add_argument("--workdir", default="/tmp/sessdiag-gcbench")
    ap.add_argument("--results", default=None, help="write the rows as JSON here")
    ap.add_argument("--clean", action="store_true", help="remove the trees afterwards")
    a = ap.parse_args()
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    oracle = build_oracle(str(REPO / "tools" / "gcoracle" / "bin"))
    fractions = [float(x) for x in a.expired.split(",") if x]
    results: list[dict] = []
    t0 = time.perf_counter()
    try:
        spread_n = parse_count(a.spread_files)
        if spread_n:
            run_spread(oracle, work, spread_n, a.spread_expired, a.spread_runs, results)
        fuse_n = parse_count(a.fuse_files)
        if fuse_n:
            run_fuse(oracle, work, fuse_n, [float(x) for x in a.fuse_delays.split(",") if x],
                     [float(x) for x in a.fuse_expired.split(",") if x], results)
        for size in [parse_count(s) for s in a.sizes.split(",") if s]:
            run_local(oracle, work, size, fractions, results, a.cold, a.repeat)
    finally:
        if a.results:
            Path(a.results).write_text(json.dumps(results, indent=2) + "\n")
        if a.clean:
            shutil.rmtree(work, ignore_errors=True)
    bad = [r for r in results if abs(r["error_pct"]) > 25]
    print(f"# {len(results)} rows in {time.perf_counter() - t0:.0f}s; "
          f"{len(results) - len(bad)} within ±25 %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
