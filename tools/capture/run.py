#!/usr/bin/env python3
"""Capture real framework sessions from a private redis-server into fixtures/redis/*.json.

Each capture runs the framework's own code (express-session + connect-redis under node,
PHP + phpredis, Ruby's Marshal, Flask-Session 0.5 in a throwaway venv) against a fresh
redis-server on a free loopback port, then dumps every key with its remaining TTL (whole
seconds, rounded up) and its value (hex). Tests replay the dump with SET … EX ttl.

    python3 tools/capture/run.py [connect-redis php-redis rails flask-session-0.5]

Needs: node + `npm ci` in tools/capture/node, php-cli + php-redis, ruby, network access to
PyPI for the Flask-Session venv.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parents[1] / "fixtures" / "redis"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(d: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save",
                          "", "--appendonly", "no", "--dir", str(d)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return p, port
        except OSError:
            time.sleep(0.02)
    p.kill()
    raise RuntimeError("redis-server did not start")


def dump(port: int) -> list[dict]:
    import redis

    r = redis.Redis(port=port)
    out = []
    for k in sorted(r.scan_iter(count=1000)):
        typ = r.type(k).decode()
        pttl = r.pttl(k)
        row = {"key": k.decode(), "type": typ, "ttl_s": -(-pttl // 1000) if pttl >= 0 else -1}
        if typ == "string":
            row["value_hex"] = r.get(k).hex()
        out.append(row)
    r.close()
    return out


def version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "?"


def cap_connect_redis(port: int, work: Path) -> dict:
    node = HERE / "node"
    if not (node / "node_modules").exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=node, check=True)
    subprocess.run(["node", "capture.js"], cwd=node, check=True,
                   env={**os.environ, "REDIS_URL": f"redis://127.0.0.1:{port}"})
    pkgs = {}
    for name in ("express-session", "connect-redis", "redis"):
        pkgs[name] = json.loads((node / "node_modules" / name / "package.json").read_text())[
            "version"]
    return {"node": version(["node", "--version"]), **pkgs}


def cap_php(port: int, work: Path) -> dict:
    subprocess.run(["php", str(HERE / "php_redis.php"), str(port)], check=True)
    return {"php": version(["php", "-r", "echo PHP_VERSION;"]),
            "phpredis": version(["php", "-r", "echo phpversion('redis');"])}


def cap_rails(port: int, work: Path) -> dict:
    import redis

    lines = subprocess.run(["ruby", str(HERE / "ruby_marshal.rb")], check=True,
                           capture_output=True, text=True).stdout.splitlines()
    r = redis.Redis(port=port)
    for line in lines:
        key, hexval, ttl = line.split("\t")
        if int(ttl) > 0:
            r.set(key, bytes.fromhex(hexval), ex=int(ttl))
        else:
            r.set(key, bytes.fromhex(hexval))
    r.close()
    return {"ruby": version(["ruby", "--version"])}


def cap_flask05(port: int, work: Path) -> dict:
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = venv / "bin" / "pip"
    subprocess.run([str(pip), "install", "-q", "flask-session==0.5.0", "flask<3.1", "redis"],
                   check=True)
    subprocess.run([str(venv / "bin" / "python"), str(HERE / "flask_session_05.py"), str(port)],
                   check=True)
    v = subprocess.run([str(venv / "bin" / "python"), "-c",
                        "import importlib.metadata as m; print(m.version('flask-session'), "
                        "m.version('flask'))"], capture_output=True, text=True).stdout.split()
    return {"flask-session": v[0], "flask": v[1], "python": sys.version.split()[0]}


CAPTURES = {
    "connect-redis": cap_connect_redis,
    "php-redis": cap_php,
    "rails": cap_rails,
    "flask-session-0.5": cap_flask05,
}


def main() -> None:
    names = sys.argv[1:] or list(CAPTURES)
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names:
        work = Path(tempfile.mkdtemp(prefix=f"capture-{name}-"))
        proc, port = start_server(work)
        try:
            versions = CAPTURES[name](port, work)
            keys = dump(port)
        finally:
            proc.terminate()
            proc.wait()
            shutil.rmtree(work, ignore_errors=True)
        doc = {"capture": name, "made_by": "tools/capture/run.py",
               "date": datetime.date.today().isoformat(), "versions": versions, "keys": keys}
        (OUT / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
        print(f"{name}: {len(keys)} keys -> {OUT / (name + '.json')}")


if __name__ == "__main__":
    main()
