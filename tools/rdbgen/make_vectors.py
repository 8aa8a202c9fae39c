"""Hand-built RDB vectors for every version 1–12: fixtures/rdb/v*.rdb and manifest.json.

    python tools/rdbgen/make_vectors.py fixtures/rdb

Each vector holds the encodings its Redis version wrote (zipmap and ziplists up to RDB 9,
quicklist 1 from RDB 7, listpacks from 10, set listpacks and stream v3 from 11, hashes with
field expiry and slot info from 12), plus session keys as frameworks write them, so a scan of
a hand-built dump is a scan of sessions. The manifest says, per key, what a reader must get;
`loadable` vectors (RDB <= 10) are also loaded into a real redis-server by the tests, which
reads every key back and compares it with the manifest. Deterministic: no clock, no randomness.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import rdbwrite as W

FUTURE_MS = 2_145_830_400_000  # 2037-12-31: ahead when a test loads it, and fits 32-bit seconds
PAST_MS = 1_000_000_000_000  # 2001: a key past its expiry (a loader drops it)
CTIME = 1_790_000_000  # the dumps' ctime aux field (2026-09-21)
EMPTY_GOB = bytes.fromhex("0eff81040102ff820001100110000004ff820000")
BEEGO_SID = b"0123456789abcdef0123456789abcdef"
SPRING_ID = b"6b1b5d3c-2f0e-4b35-9a4c-0d7c5e0a9f11"


def spring_fields(created_ms: int, last_ms: int) -> list[tuple[bytes, bytes]]:
    return [(b"creationTime", str(created_ms).encode()),
            (b"lastAccessedTime", str(last_ms).encode()),
            (b"maxInactiveInterval", b"1800"),
            (b"sessionAttr:locale", b'"en_GB"')]


class Vector:
    def __init__(self, name: str, version: int, loadable: bool) -> None:
        self.name = name
        self.w = W.RdbWriter(version)
        self.keys: list[dict] = []
        self.loadable = loadable
        self.version = version

    def add(self, rtype: int, key: bytes, payload: bytes, kind: str, value: object,
            **opts: int) -> None:
        self.w.key(rtype, key, payload, **opts)
        exp = opts.get("expire_ms")
        if "expire_s" in opts:
            exp = opts["expire_s"] * 1000
        self.keys.append({"db": self.db, "key": key.hex(), "type": kind, "rdb_type": rtype,
                          "value": value, "expire_ms": exp})

    db = 0


def _h(b: bytes) -> str:
    return b.hex()


def classic(v: Vector) -> None:
    """Types 0–4: what every version has."""
    v.add(0, b"str:raw", W.string(b"hello world"), "string", _h(b"hello world"))
    v.add(0, b"str:int", W.string(-70000), "string", _h(b"-70000"))
    v.add(0, b"str:int8", W.string(-5), "string", _h(b"-5"))
    v.add(1, b"list:plain", W.length(3) + W.string(b"a") + W.string(b"bb") + W.string(7),
          "list", [_h(b"a"), _h(b"bb"), _h(b"7")])
    v.add(2, b"set:plain", W.length(2) + W.string(b"m1") + W.string(b"m2"), "set",
          sorted([_h(b"m1"), _h(b"m2")]))
    v.add(3, b"zset:plain", W.length(2) + W.string(b"a") + W.score_str(1.5) + W.string(b"b")
          + W.score_str(2), "zset", {_h(b"a"): 1.5, _h(b"b"): 2.0})
    pairs = [(b"f1", b"v1"), (b"f2", b"v2")]
    v.add(4, b"hash:plain", W.length(2) + b"".join(W.string(a) + W.string(b) for a, b in pairs),
          "hash", {_h(a): _h(b) for a, b in pairs})
    v.add(0, BEEGO_SID, W.string(EMPTY_GOB), "string", _h(EMPTY_GOB),
          **({"expire_ms": FUTURE_MS} if v.version >= 4 else {"expire_s": FUTURE_MS // 1000}))
    v.add(0, b"str:expired", W.string(b"gone"), "string", _h(b"gone"),
          **({"expire_ms": PAST_MS} if v.version >= 4 else {"expire_s": PAST_MS // 1000}))


def compact_v2(v: Vector) -> None:
    """RDB 2+ (Redis 2.2–6.2): zipmap, ziplist, intset."""
    zm = [(b"z1", b"one"), (b"z2", b"x" * 300)]
    v.add(9, b"hash:zipmap", W.string(W.zipmap(zm)), "hash", {_h(a): _h(b) for a, b in zm})
    items = [b"a", b"12", b"-300", b"70000", b"5000000000", b"y" * 100]
    v.add(10, b"list:ziplist", W.string(W.ziplist(items)), "list", [_h(x) for x in items])
    ints = [3, -2, 1 << 40]
    v.add(11, b"set:intset", W.string(W.intset(ints)), "set",
          sorted(_h(str(i).encode()) for i in ints))
    v.add(12, b"zset:ziplist", W.string(W.ziplist([b"m", b"1", b"n", b"2.5"])), "zset",
          {_h(b"m"): 1.0, _h(b"n"): 2.5})
    s = b"abcdefgh" * 16
    v.add(0, b"str:lzf", W.string(s, "lzf-repeat:8"), "string", _h(s))


def hash_ziplist(v: Vector) -> None:
    """RDB 4+ (Redis 2.6–6.2): small hashes as ziplists (here: a Spring session)."""
    f = spring_fields(1_789_990_000_000, 1_789_999_000_000)
    v.add(13, b"spring:session:sessions:" + SPRING_ID,
          W.string(W.ziplist([x for p in f for x in p])), "hash",
          {_h(a): _h(b) for a, b in f}, expire_ms=FUTURE_MS)


def quicklist1(v: Vector) -> None:
    """RDB 7+ (Redis 3.2–6.2): lists as quicklists of ziplists."""
    nodes = [[b"q1", b"q2"], [b"3", b"q" * 80]]
    payload = W.length(len(nodes)) + b"".join(W.string(W.ziplist(n)) for n in nodes)
    v.add(14, b"list:quicklist", payload, "list", [_h(x) for n in nodes for x in n])


def zset2(v: Vector) -> None:
    """RDB 8+: zsets with binary doubles."""
    v.add(5, b"zset:2", W.length(2) + W.string(b"p") + struct.pack("<d", 0.25)
          + W.string(b"q") + struct.pack("<d", -3.0), "zset", {_h(b"p"): 0.25, _h(b"q"): -3.0})


def lru_lfu(v: Vector) -> None:
    v.add(0, b"str:idle", W.string(b"i"), "string", _h(b"i"), idle=7200)


def listpacks(v: Vector) -> None:
    """RDB 10+ (Redis 7.0): listpack hashes/zsets, quicklist 2 with a plain node."""
    f = spring_fields(1_789_990_000_000, 1_789_990_000_000)
    v.add(16, b"myapp:sessions:" + SPRING_ID, W.string(W.listpack([x for p in f for x in p])),
          "hash", {_h(a): _h(b) for a, b in f}, expire_ms=FUTURE_MS)
    v.add(17, b"zset:listpack", W.string(W.listpack([b"m", b"1", b"n", b"2.5"])), "zset",
          {_h(b"m"): 1.0, _h(b"n"): 2.5})
    big = b"P" * 100
    payload = (W.length(2) + W.length(2) + W.string(W.listpack([b"a", b"-1", b"b"]))
               + W.length(1) + W.string(big))
    v.add(18, b"list:quicklist2", payload, "list", [_h(b"a"), _h(b"-1"), _h(b"b"), _h(big)])


def functions(v: Vector) -> None:
    v.w.function2(b"#!lua name=vectorlib\nredis.register_function('vf', function() return 1 end)")


def set_listpack(v: Vector) -> None:
    """RDB 11 (Redis 7.2): small sets of strings as listpacks, stream v3."""
    v.add(20, b"set:listpack", W.string(W.listpack([b"s1", b"s2", b"9"])), "set",
          sorted([_h(b"s1"), _h(b"s2"), _h(b"9")]))
    payload = (W.length(0) + W.length(0) + W.length(5) + W.length(1)  # no entries, last id 5-1
               + W.length(0) + W.length(0) + W.length(0) + W.length(0) + W.length(0)
               + W.length(1) + W.string(b"grp") + W.length(5) + W.length(1) + W.length(0)
               + W.length(1) + b"\x00" * 16 + struct.pack("<q", 1) + W.length(1)  # PEL
               + W.length(1) + W.string(b"consumer") + struct.pack("<qq", 1, 2)
               + W.length(1) + b"\x00" * 16)
    v.add(21, b"stream:v3", payload, "stream", None)


def field_expiry(v: Vector) -> None:
    """RDB 12 (Redis 7.4): hashes with field expiry, GA and release-candidate layouts."""
    f = spring_fields(1_789_995_000_000, 1_789_999_999_000)
    trip = []
    for a, b in f:
        trip += [a, b, str(FUTURE_MS if a == b"sessionAttr:locale" else 0).encode()]
    v.add(25, b"lpex:sessions:" + SPRING_ID, struct.pack("<q", FUTURE_MS) +
          W.string(W.listpack(trip)), "hash", {_h(a): _h(b) for a, b in f},
          expire_ms=FUTURE_MS)
    v.add(23, b"lpexrc:sessions:" + SPRING_ID, W.string(W.listpack(trip)), "hash",
          {_h(a): _h(b) for a, b in f})
    body = b"".join(W.length(FUTURE_MS - FUTURE_MS + 1 if a == b"creationTime" else 0)
                    + W.string(a) + W.string(b) for a, b in f)
    v.add(24, b"meta:sessions:" + SPRING_ID, struct.pack("<q", FUTURE_MS) + W.length(len(f))
          + body, "hash", {_h(a): _h(b) for a, b in f})
    body = b"".join(W.length(FUTURE_MS if a == b"creationTime" else 0)
                    + W.string(a) + W.string(b) for a, b in f)
    v.add(22, b"metarc:sessions:" + SPRING_ID, W.length(len(f)) + body, "hash",
          {_h(a): _h(b) for a, b in f})


def modules(v: Vector) -> None:
    """Module data a reader without the module must walk by its opcodes (RDB 8+)."""
    v.w.module_aux(0x1234567890ABC << 10, W.module_value(0, [(2, 7), (5, b"aux")])[1:])
    v.add(7, b"module:value", W.module_value(0x1234567890ABC << 10,
                                             [(1, 5), (3, 1.5), (4, 2.5), (5, b"s")]),
          "module", None)


def build(name: str, version: int, parts: list, loadable: bool = True,
          aux: bool = True, slot_info: bool = False) -> Vector:
    v = Vector(name, version, loadable)
    if aux and version >= 7:
        v.w.aux(b"redis-ver", b"handmade")
        v.w.aux(b"ctime", str(CTIME).encode())
    if version >= 10 and functions in parts:
        functions(v)
        parts = [p for p in parts if p is not functions]
    v.w.select(0)
    if version >= 7:
        v.w.resizedb(20, 2)
    if slot_info:
        v.w.slot_info(0, 20, 2)
    for p in parts:
        p(v)
    return v


def vectors() -> list[Vector]:
    out = []
    for ver in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12):
        parts = [classic]
        if ver >= 2:
            parts.append(compact_v2)
        if ver >= 4:
            parts.append(hash_ziplist)
        if ver >= 7:
            parts.append(quicklist1)
        if ver >= 8:
            parts.append(zset2)
        if ver >= 9:
            parts.append(lru_lfu)
        if ver >= 10:
            parts += [listpacks, functions]
        if ver >= 11:
            parts.append(set_listpack)
        if ver >= 12:
            parts.append(field_expiry)
        out.append(build(f"v{ver}", ver, parts, loadable=ver <= 10, slot_info=ver >= 12))
    out.append(build("v9-modules", 9, [classic, modules], loadable=False))
    return out


def main(dest: str) -> None:
    d = Path(dest)
    d.mkdir(parents=True, exist_ok=True)
    manifest = []
    for v in vectors():
        data = v.w.finish()
        (d / f"{v.name}.rdb").write_bytes(data)
        manifest.append({"name": v.name, "file": f"{v.name}.rdb", "version": v.version,
                         "writer": "tools/rdbgen/make_vectors.py", "loadable": v.loadable,
                         "ctime": CTIME if v.version >= 7 else None, "keys": v.keys})
    old = d / "manifest.json"
    keep = [m for m in json.loads(old.read_text())
            if m["writer"] != "tools/rdbgen/make_vectors.py"] if old.exists() else []
    old.write_text(json.dumps(keep + manifest, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fixtures/rdb")
