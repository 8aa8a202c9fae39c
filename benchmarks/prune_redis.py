#!/usr/bin/env python3
"""sessdiag prune vs sessdiag scan on N Spring sessions with 5 % leaks, and --rate as the
server sees it.

Loads N indexed Spring Session sessions (scan_redis.py's loader: hash + shadow key each, plus
expirations and index sets, real JDK bytes), turns 5 % of them into leaks as Spring leaves
them under load (spring-session #3357: lastAccessedTime hours ago, no TTL, the shadow key
gone), then times in the same run, on the same keyspace: `redis-cli --memkeys` (the peer of
scan_redis.py: a SCAN walk reading one fact per key), `sessdiag scan --json`, `sessdiag prune
--json` (dry run) and `sessdiag prune --apply --json`, and prints the ratios. The sessions
live a day (maxInactiveInterval 86400), so none expires while the benchmark runs and every
command sees the same keyspace.
With --rate R it makes a fresh set of leaks and runs `prune --apply --rate R`; a sampler
thread reads the server's own counter of DEL calls (INFO commandstats, cmdstat_del: the
compare-and-delete scripts' DELs are counted there too) every 0.1 s, and the rate is the
least-squares slope of that counter over time between 10 % and 90 % of the run's DELs (the
ends are out: a 0.1 s sample step is a large share of a short window, and the lock's own
release is one more DEL after the last deletion).

    .venv/bin/python benchmarks/prune_redis.py --sessions 100000
    .venv/bin/python benchmarks/prune_redis.py --sessions 1000000 --rate 500 --rate 2000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from scan_redis import REPO, load, start_server

LONG_PREFIX = (REPO / "fixtures" / "java" / "long_creation_time.ser").read_bytes()[:74]
LIFETIME_S = 86400


def make_leaks(port: int, fraction: float, limit: int | None, skip: set[bytes]) -> set[bytes]:
    """Every 1/fraction-th session hash (not yet a leak): expired 3 h ago, no TTL, no shadow."""
    import redis

    r = redis.Redis(port=port)
    step = round(1 / fraction)
    leaks: set[bytes] = set()
    pipe = r.pipeline(transaction=False)
    last = int(time.time() * 1000) - (LIFETIME_S + 3 * 3600) * 1000
    old = LONG_PREFIX + last.to_bytes(8, "big")
    i = 0
    for k in r.scan_iter(match="spring:session:sessions:*", count=5000):
        if k.startswith(b"spring:session:sessions:expires:") or k in skip:
            continue
        i += 1
        if i % step:
            continue
        pipe.hset(k, b"lastAccessedTime", old)
        pipe.persist(k)
        pipe.delete(b"spring:session:sessions:expires:" + k[len(b"spring:session:sessions:"):])
        leaks.add(k)
        if len(pipe) >= 3000:
            pipe.execute()
        if limit and len(leaks) >= limit:
            break
    pipe.execute()
    r.close()
    return leaks


def run(args: list[str]) -> tuple[float, dict]:
    t0 = time.monotonic()
    cp = subprocess.run([sys.executable, "-m", "sessdiag", *args], capture_output=True)
    wall = time.monotonic() - t0
    if cp.returncode != 0:
        sys.exit(f"sessdiag {' '.join(args)}: exit {cp.returncode}: {cp.stderr.decode()[-500:]}")
    return wall, json.loads(cp.stdout)


def time_memkeys(port: int) -> float:
    t0 = time.monotonic()
    subprocess.run(["redis-cli", "-p", str(port), "--memkeys"], stdout=subprocess.DEVNULL,
                   check=True)
    return time.monotonic() - t0


def del_calls(r) -> int:  # type: ignore[no-untyped-def]
    stats = r.info("commandstats")
    return int(stats.get("cmdstat_del", {}).get("calls", 0))


class Sampler(threading.Thread):
    """The server's DEL counter, read every 0.1 s (its own connection, no MONITOR)."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        import redis

        self.r = redis.Redis(port=port)
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.samples.append((time.monotonic(), del_calls(self.r)))
            self.done.wait(0.1)
        self.samples.append((time.monotonic(), del_calls(self.r)))

    def rate(self) -> tuple[float, int, float]:
        """(deletions/s between 10 % and 90 % of the DELs, those DELs, seconds)"""
        s = self.samples
        base, total = s[0][1], s[-1][1] - s[0][1]
        mid = [(t, c) for t, c in s if base + 0.1 * total <= c <= base + 0.9 * total]
        n = len(mid)
        mt = sum(t for t, _ in mid) / n
        mc = sum(c for _, c in mid) / n
        slope = (sum((t - mt) * (c - mc) for t, c in mid)
                 / sum((t - mt) ** 2 for t, _ in mid))
        return slope, mid[-1][1] - mid[0][1], mid[-1][0] - mid[0][0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--leak-fraction", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, action="append", default=[],
                    help="also run prune --apply --rate R (repeatable)")
    ap.add_argument("--rate-seconds", type=float, default=30.0,
                    help="leaks made for each --rate run: R times this")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sessdiag-bench-"))
    proc, port = start_server(work)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        load_s = load([port], args.sessions, args.seed, lifetime_s=LIFETIME_S)
        leaks = make_leaks(port, args.leak_fraction, None, set())
        import redis

        r = redis.Redis(port=port)
        keys = r.dbsize()
        print(f"loaded {args.sessions:,} Spring sessions = {keys:,} keys in {load_s:.1f}s; "
              f"{len(leaks):,} leaks ({args.leak_fraction:.0%})", flush=True)
        cli_s = time_memkeys(port)
        scan_s, scan = run(["scan", url, "--json"])
        dry_s, dry = run(["prune", url, "--json"])
        apply_s, applied = run(["prune", url, "--apply", "--json"])
        print(f"redis-cli --memkeys: {cli_s:.2f}s   "
              f"sessdiag scan: {scan_s:.2f}s ({scan['sessions']:,} sessions)   "
              f"prune (dry run): {dry_s:.2f}s = {dry_s / scan_s:.2f}x scan   "
              f"prune --apply: {apply_s:.2f}s = {apply_s / scan_s:.2f}x scan "
              f"({applied['deleted']:,} deleted, {applied['rate_per_s']:,.0f}/s)", flush=True)
        print(f"against redis-cli --memkeys: sessdiag scan {scan_s / cli_s:.2f}x, prune (dry run) "
              f"{dry_s / cli_s:.2f}x, prune --apply {apply_s / cli_s:.2f}x", flush=True)
        print(f"dry run reasons: {dry['reasons']}", flush=True)
        # The made leaks, exactly; the loader may add a few "TTL beyond" ones: it computes
        # every TTL against the time it started, and loading takes a minute or more.
        assert dry["reasons"]["session: expired, no TTL"] == len(leaks), dry["reasons"]
        assert applied["deleted"] >= len(leaks) and not any(r.exists(k) for k in leaks)
        summary = {"sessions": args.sessions, "keys": keys, "leaks": len(leaks),
                   "memkeys_s": round(cli_s, 2), "scan_s": round(scan_s, 2),
                   "prune_dry_s": round(dry_s, 2),
                   "prune_apply_s": round(apply_s, 2),
                   "dry_over_scan": round(dry_s / scan_s, 3),
                   "apply_over_scan": round(apply_s / scan_s, 3),
                   "apply_over_memkeys": round(apply_s / cli_s, 3)}
        summary["rates"] = []
        for rate in args.rate:
            leaks2 = make_leaks(port, args.leak_fraction, int(rate * args.rate_seconds), set())
            sampler = Sampler(port)
            sampler.start()
            rate_s, rated = run(["prune", url, "--apply", "--json", "--rate", str(rate)])
            sampler.done.set()
            sampler.join()
            observed, n, dt = sampler.rate()
            summary["rates"].append({
                "rate_limit": rate, "leaks": len(leaks2), "deleted": rated["deleted"],
                "observed_server": round(observed, 1), "error": round(observed / rate - 1, 4),
                "window_s": round(dt, 2), "run_s": round(rate_s, 2)})
            print(f"--rate {rate:g}: server counted {n:,} DELs in {dt:.2f}s, slope "
                  f"{observed:,.1f}/s ({observed / rate - 1:+.1%}); the run took "
                  f"{rate_s:.1f}s", flush=True)
        print(json.dumps(summary))
        r.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
