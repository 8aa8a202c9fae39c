"""The read-only commands of the Redis analysis, answered from one record of a dump.

The live scan and `inspect` ask a server (PTTL, HGETALL, GETRANGE, SCARD, MEMORY USAGE…); a
dump answers the same questions about the key in hand, in the reply shapes hiredis gives, so
the code that reads those replies is the live code. A TTL is the record's absolute expiry
minus `as_of` (a key already past it answers 0: present, and due).
"""

from __future__ import annotations

from typing import Any

from sessdiag.stores.rdb import lzf, memory
from sessdiag.stores.rdb.parser import HEAD_BYTES, Record
from sessdiag.stores.redis.resp import ReplyError

WRONGTYPE = ReplyError("WRONGTYPE Operation against a key holding the wrong kind of value")
NO_IDLE = ReplyError("ERR the dump records no idle time (saved without an LRU policy)")


def reply(cmd: tuple, rec: Record, as_of_ms: int, idle_offset_s: int = 0) -> Any:
    name = cmd[0]
    if isinstance(name, str):
        name = name.upper().encode()
    t = rec.type_name
    if name == b"PTTL":
        return -1 if rec.expire_ms < 0 else max(0, rec.expire_ms - as_of_ms)
    if name == b"HGETALL":
        return rec.value if t == "hash" else WRONGTYPE
    if name == b"GETRANGE":
        if t != "string":
            return WRONGTYPE
        v = rec.value if isinstance(rec.value, bytes) else b""
        end = int(cmd[3]) + 1
        if rec.packed is not None and end > len(v):  # a sniffed head, and more is wanted
            data, ulen = rec.packed
            v = lzf.decompress(data, ulen, HEAD_BYTES)
        return v[int(cmd[2]):end]
    if name == b"GET":
        return (rec.value if isinstance(rec.value, bytes) else b"") if t == "string" \
            else WRONGTYPE
    if name == b"TYPE":
        return t.encode()
    if name == b"STRLEN":
        return rec.length if t == "string" else WRONGTYPE
    if name == b"SCARD":
        return rec.length if t == "set" else WRONGTYPE
    if name == b"ZCARD":
        return rec.length if t == "zset" else WRONGTYPE
    if name == b"MEMORY":
        return memory.estimate(rec)
    if name in (b"SMEMBERS", b"SRANDMEMBER"):
        if t != "set" or not isinstance(rec.value, list):
            return WRONGTYPE
        return rec.value if name == b"SMEMBERS" else rec.value[:int(cmd[2])]
    if name == b"OBJECT":
        return rec.idle + idle_offset_s if rec.idle >= 0 else NO_IDLE
    if name == b"EXISTS":
        return 1 if _b(cmd[1]) == rec.key else 0
    return ReplyError(f"ERR {name.decode()} is not answered from a dump")


def _b(x: Any) -> bytes:
    return x if isinstance(x, bytes) else str(x).encode()
