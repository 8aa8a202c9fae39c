"""Access-log throughput and memory: `python benchmarks/accesslog.py [--size 1GB]`.

Generates (once, kept in /tmp) a combined-cookies log as nginx writes it with the contract's
`log_format sessdiag`: ~40 requests/s for as long as the size needs, from a pool of browser
users (cookie jars: a session on the first visit, presented back afterwards, a new one when
it expires after a day) plus incident 1's internal service calling 3 times a second without
the cookie. Then:

1. in-process: `LogReader` + `Attribution` over the file, RSS sampled by a thread (flat
   memory means the samples stop growing once the session table is warm);
2. end to end: `sessdiag clients --access-log FILE --json` in a child process, wall time,
   CPU time and peak RSS (`ru_maxrss` of the child).

Prints lines/s (wall and CPU: the machine is shared, CPU time is the steadier figure) and
peak RSS. The target is >= 200 k lines/s with flat memory, with every section on (clients,
races, routes, user agents: the in-process pass is what `clients` runs).

`--baseline REF` measures the in-process pass of the code at git REF in the same run (its
tree extracted to a temporary directory, each side in its own child process, runs
alternated so both see the same machine load): before/after figures of one change.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time

import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A child measuring another tree (--baseline) imports sessdiag from there.
CODE = sys.argv[sys.argv.index("--child-repo") + 1] if "--child-repo" in sys.argv else REPO
sys.path.insert(0, CODE)

from sessdiag.analysis.accesslog import LogReader, LogSpec  # noqa: E402
from sessdiag.analysis.clients import Attribution  # noqa: E402
from sessdiag.core.units import format_bytes, parse_size  # noqa: E402

T0 = 1740873600  # 2025-03-02 00:00 UTC
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PATHS = ("/", "/api/get-account", "/api/get-user?id=built-in/admin", "/static/app.js",
         "/api/get-organizations?owner=admin", "/login", "/api/userinfo", "/favicon.ico")
UAS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/121.0.0.0 Safari/537.36",
       "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like Gecko) "
       "Version/17.3 Safari/605.1.15",
       "Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0")
COOKIE = "casdoor_session_id"


def clf(t: int) -> str:
    g = time.gmtime(t)
    return (f"{g.tm_mday:02d}/{MONTHS[g.tm_mon - 1]}/{g.tm_year}:{g.tm_hour:02d}:"
            f"{g.tm_min:02d}:{g.tm_sec:02d} +0000")


def generate(path: str, size: int, seed: int = 1) -> int:
    """Write about `size` bytes of log; returns the number of lines."""
    rnd = random.Random(seed)
    users = 20_000
    sess: list[str | None] = [None] * users
    born = [0] * users
    ips = [f"10.{rnd.randrange(1, 250)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
           for _ in range(users)]
    uas = [UAS[i % len(UAS)] for i in range(users)]
    machine_ip = "10.0.8.15"
    lines = 0
    written = 0
    t_cache = (-1, "")
    tmp = path + ".part"
    with open(tmp, "w", buffering=1 << 22) as fh:
        buf: list[str] = []
        i = 0
        while written < size:
            t = T0 + i // 40  # ~40 requests per second
            if t != t_cache[0]:
                t_cache = (t, clf(t))
            ts = t_cache[1]
            if i % 40 < 3:  # the internal service: 3 calls a second, never a cookie
                sid = f"{rnd.getrandbits(128):032x}"
                line = (f'{machine_ip} - - [{ts}] "GET /api/get-account HTTP/1.1" 200 96 "-" '
                        f'"Go-http-client/1.1" "-" "{COOKIE}={sid}; Path=/; Max-Age=2592000; '
                        'HttpOnly"\n')
            else:
                u = rnd.randrange(users)
                s = sess[u]
                path_ = PATHS[rnd.randrange(len(PATHS))]
                if s is None or t - born[u] > 86400:
                    new = f"{rnd.getrandbits(128):032x}"
                    sess[u] = new
                    born[u] = t
                    line = (f'{ips[u]} - - [{ts}] "GET {path_} HTTP/1.1" 200 {rnd.randrange(9000)}'
                            f' "https://door.example.com/" "{uas[u]}" "{s or "-"}" '
                            f'"{COOKIE}={new}; Path=/; Max-Age=2592000; HttpOnly"\n')
                else:
                    line = (f'{ips[u]} - - [{ts}] "GET {path_} HTTP/1.1" 200 {rnd.randrange(9000)}'
                            f' "https://door.example.com/" "{uas[u]}" "{s}" "-"\n')
            buf.append(line)
            written += len(line)
            i += 1
            if len(buf) >= 10000:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))
        lines = i
    os.replace(tmp, path)
    return lines


def in_process(path: str, max_tracked: int | None = None) -> dict:
    """Time LogReader + Attribution over the log; RSS is sampled by a thread every 0.2 s, not
    per row, so the sampling costs the timed loop nothing."""
    proc = psutil.Process()
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            samples.append(proc.memory_info().rss)

    reader = LogReader([path], LogSpec.build("combined-cookies", COOKIE, "ip", None))
    att = Attribution(**({"max_tracked": max_tracked} if max_tracked else {}))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    w0, c0 = time.perf_counter(), time.process_time()
    att.feed(reader.rows())
    att.finish()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    done.set()
    sampler.join()
    rows = att.client_rows(None, None)
    step = max(len(samples) / 20, 1.0)
    spread = [samples[int(i * step)] for i in range(min(20, len(samples)))]
    out = {"rows": att.rows, "wall": wall, "cpu": cpu, "samples": spread,
           "tracked": len(att.sessions), "retired": att.retired, "clients": len(rows),
           "top": rows[0],
           "races": len(att.races.events(str, bytes.decode))}
    if hasattr(att, "routes"):  # the sections of issue 14 (absent from older trees)
        from sessdiag.analysis.agents import agent_rows
        from sessdiag.analysis.routes import route_rows

        out["routes"] = len(route_rows(att.routes))
        out["agents"] = len(agent_rows(att.agents))
    return out


def child_run(repo: str, path: str) -> dict:
    """in_process() of the code in `repo`, in a fresh interpreter (JSON on stdout)."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child-repo", repo,
                          "--path", path], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def compare(ref: str, path: str, runs: int) -> None:
    import tarfile
    import tempfile

    tmp = tempfile.mkdtemp(prefix="sessdiag-bench-base-")
    try:
        archive = subprocess.run(["git", "-C", REPO, "archive", "--format=tar", ref],
                                 capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
            tf.extractall(tmp, filter="data")
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", ref],
                             capture_output=True, text=True, check=True).stdout.strip()
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip() or "worktree"
        sides: dict[str, list[dict]] = {"before": [], "after": []}
        for _ in range(max(1, runs)):
            sides["before"].append(child_run(tmp, path))
            sides["after"].append(child_run(REPO, path))
        for side, label in (("before", f"{ref} ({rev})"), ("after", f"this tree ({head})")):
            rs = sides[side]
            best = min(rs, key=lambda r: r["cpu"])
            print(f"{side:6} {label}: " + ", ".join(
                f"{r['rows'] / r['wall']:,.0f} wall / {r['rows'] / r['cpu']:,.0f} CPU"
                for r in rs) + f" lines/s; best CPU {best['rows'] / best['cpu']:,.0f}"
                + (f"; {best['routes']} routes, {best['agents']} user agents"
                   if "routes" in best else ""))
        b = min(r["cpu"] for r in sides["before"])
        a = min(r["cpu"] for r in sides["after"])
        print(f"after/before CPU time: {a / b:.3f} (best of {max(1, runs)} each)")
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def end_to_end(path: str) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "sessdiag", "clients", "--access-log", path,
                          "--json", "--cookie-name", COOKIE], capture_output=True, check=True)
    wall = time.perf_counter() - w0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime)
            + (after.ru_stime - before.ru_stime), "maxrss": after.ru_maxrss * 1024,
            "bytes_out": len(out.stdout)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1GB", help="log size to generate (default 1GB)")
    ap.add_argument("--path", default=None, help="log file (default /tmp/sessdiag-bench-SIZE.log)")
    ap.add_argument("--runs", type=int, default=3,
                    help="end-to-end runs (the median is reported; the machine is shared)")
    ap.add_argument("--max-tracked", type=int, default=100_000,
                    help="second in-process run with this bound on tracked ids")
    ap.add_argument("--baseline", metavar="REF", default=None,
                    help="also measure the code at git REF in the same run (before/after)")
    ap.add_argument("--compare-runs", type=int, default=2,
                    help="alternated child runs per side with --baseline")
    ap.add_argument("--child-repo", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_repo:
        r = in_process(args.path)
        r.pop("top", None)
        print(json.dumps(r))
        return
    size = parse_size(args.size)
    path = args.path or f"/tmp/sessdiag-bench-{args.size}.log"
    if not os.path.exists(path):
        t = time.perf_counter()
        n = generate(path, size)
        print(f"generated {path}: {format_bytes(os.path.getsize(path))}, {n:,} lines "
              f"in {time.perf_counter() - t:.1f}s")
    with open(path, "rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))
    size_b = os.path.getsize(path)
    print(f"log: {path}, {format_bytes(size_b)}, {lines:,} lines, "
          f"{size_b / lines:.0f} bytes/line")

    if args.baseline:
        compare(args.baseline, path, args.compare_runs)

    for bound in (None, args.max_tracked):
        r = in_process(path, bound)
        label = "in-process" if bound is None else f"in-process, --max-tracked {bound:,}"
        print(f"{label}: {r['rows']:,} lines in {r['wall']:.1f}s wall / {r['cpu']:.1f}s CPU "
              f"= {r['rows'] / r['wall']:,.0f} lines/s wall, {r['rows'] / r['cpu']:,.0f} "
              "lines/s CPU")
        print(f"  {r['clients']:,} clients, {r['tracked']:,} session ids tracked "
              f"({r['retired']:,} retired), {r['races']} races; top client "
              f"{r['top']['client']}: {r['top']['orphans']:,} orphans of "
              f"{r['top']['issued']:,} issued")
        rss = r["samples"]
        if rss:
            print("  RSS at 5 % steps of the run (MiB): "
                  + " ".join(f"{m / 2**20:.0f}" for m in rss))
            half = rss[len(rss) // 2:]
            print(f"  RSS growth over the second half of the log: "
                  f"{format_bytes(max(half) - min(half))}")

    runs = sorted((end_to_end(path) for _ in range(max(1, args.runs))), key=lambda e: e["wall"])
    e = runs[len(runs) // 2]
    print(f"end to end (sessdiag clients --json), median of {len(runs)}: {e['wall']:.1f}s wall, "
          f"{e['cpu']:.1f}s CPU = {lines / e['wall']:,.0f} lines/s wall, "
          f"{lines / e['cpu']:,.0f} lines/s CPU; peak RSS {format_bytes(e['maxrss'])}; all "
          "runs: " + ", ".join(f"{lines / r['wall']:,.0f}" for r in runs) + " lines/s")


if __name__ == "__main__":
    main()
