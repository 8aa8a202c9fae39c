"""Every committed RDB vector a real redis-server can load (RDB <= 10 for the installed 7.0)
is loaded into one, and the server's own replies match the manifest key for key: the
hand-built vectors are what Redis would have written, not just what our parser agrees with."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import redis_servers as rs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stores" / "rdb"))
from rdb_vectors import MANIFEST, RDB

LOADABLE = [m for m in MANIFEST if m["loadable"]]
PAST = 1_100_000_000_000  # keys that expired before this are dropped by a loading server


def _load(tmp_path: Path, name: str) -> tuple[subprocess.Popen, int]:
    d = tmp_path / name
    d.mkdir()
    shutil.copy(RDB / f"{name}.rdb", d / "dump.rdb")
    port = rs.free_port()
    proc = subprocess.Popen([rs.redis_server_bin(), "--port", str(port), "--bind", "127.0.0.1",
                             "--dir", str(d), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port


def _value(r: redis.Redis, k: bytes, t: str) -> object:
    if t == "string":
        return r.get(k).hex()
    if t == "list":
        return [x.hex() for x in r.lrange(k, 0, -1)]
    if t == "set":
        return sorted(x.hex() for x in r.smembers(k))
    if t == "zset":
        return {m.hex(): s for m, s in r.zrange(k, 0, -1, withscores=True)}
    if t == "hash":
        return {a.hex(): b.hex() for a, b in r.hgetall(k).items()}
    return None


@pytest.mark.parametrize("entry", LOADABLE, ids=[m["name"] for m in LOADABLE])
def test_the_real_server_loads_the_vector_as_the_manifest_says(tmp_path: Path, entry: dict):
    proc, port = _load(tmp_path, entry["name"])
    try:
        rs.wait_until(lambda: proc.poll() is None and rs._cmd(port, "PING").startswith(b"+PONG"),
                      f"redis-server loading {entry['name']}")
        for db in sorted({k["db"] for k in entry["keys"]}):
            r = redis.Redis(port=port, db=db)
            want = {bytes.fromhex(k["key"]): k for k in entry["keys"]
                    if k["db"] == db and (k["expire_ms"] is None or k["expire_ms"] > PAST)}
            assert set(r.keys()) == set(want)
            for k, w in want.items():
                t = r.type(k).decode()
                assert t == w["type"], k
                assert _value(r, k, t) == w["value"], k
                assert (r.pttl(k) > 0) == (w["expire_ms"] is not None), k
            r.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("name", ["v11", "v12"])
def test_newer_vectors_are_beyond_the_installed_server(tmp_path: Path, name: str):
    """RDB 11/12 need Redis 7.2/7.4: the installed server refuses them (so the parser and the
    manifest are their only check)."""
    proc, _ = _load(tmp_path, name)
    assert proc.wait(timeout=30) != 0
