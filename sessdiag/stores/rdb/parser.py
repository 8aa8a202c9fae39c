"""A streaming RDB parser (versions 1–12): records to a callback, values only as far as wanted.

`parse(stream, want, on_record)` reads the header, the aux fields and every key of every
database in one forward pass. For each key the caller's `want(db, key, type)` says how much of
the value to decode: SKIP (walk it by its lengths), HEAD (a string's first bytes and its full
length), COUNT (a collection's element count), FULL (a hash's fields and values, a
collection's members). Module values are walked by their opcodes (module v2), streams by their
layout, functions and module aux data skipped; nothing needs a module or a server.

A record whose inner blob is inconsistent (a listpack or LZF string that does not add up)
carries `error` and no value: its outer length was sound, so the stream goes on. A dump whose
structure fails (wrong magic, a future version, cut short, an unknown opcode) raises RdbError.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from sessdiag.stores.rdb import encodings as E
from sessdiag.stores.rdb.errors import RdbCorrupt, RdbError
from sessdiag.stores.rdb.reader import MAX_KEEP, Reader

_I64 = struct.Struct("<q").unpack_from

MAX_VERSION = 12
HEAD_BYTES = 65536  # what a HEAD string keeps (the live scan's GETRANGE 0 65535)
MAX_ITEMS = 1 << 20  # elements a FULL decode keeps; the rest are walked and counted

SKIP, HEAD, COUNT, FULL = 0, 1, 2, 3
# SNIFF: a string's first SNIFF_BYTES (expanded no further; `packed` keeps the rest).
# SOME: a hash whose values are needed only for the parser's `keep` fields; the others are
# stand-ins of their length when the dump stores them compressed.
SNIFF, SOME = 4, 5
SNIFF_BYTES = 256
# DONE: `want` has read the value itself (from the reader, the record's expiry and idle time
# in `Parser.rec`, whose other fields are not set for it) and handled the key: the parser
# goes on to the next record.
DONE = 6

# RDB object types (src/rdb.h) -> the TYPE reply and the encoding.
TYPES: dict[int, tuple[str, str]] = {
    0: ("string", "raw"), 1: ("list", "linkedlist"), 2: ("set", "hashtable"),
    3: ("zset", "skiplist"), 4: ("hash", "hashtable"), 5: ("zset", "skiplist"),
    6: ("module", "module"), 7: ("module", "module"), 9: ("hash", "zipmap"),
    10: ("list", "ziplist"), 11: ("set", "intset"), 12: ("zset", "ziplist"),
    13: ("hash", "ziplist"), 14: ("list", "quicklist"), 15: ("stream", "stream"),
    16: ("hash", "listpack"), 17: ("zset", "listpack"), 18: ("list", "quicklist"),
    19: ("stream", "stream"), 20: ("set", "listpack"), 21: ("stream", "stream"),
    22: ("hash", "hashtable"), 23: ("hash", "listpack"), 24: ("hash", "hashtable"),
    25: ("hash", "listpack"),
}
_TYPE_AT = tuple(TYPES.get(t) for t in range(26))  # (Parser.run: by index, per key)
# Blob types: the value is one string holding a compact encoding.
_BLOB = {9: E.zipmap, 10: E.ziplist, 11: E.intset, 12: E.ziplist, 13: E.ziplist,
         16: E.listpack, 17: E.listpack, 20: E.listpack, 23: E.listpack, 25: E.listpack}
_BLOB_COUNT = {9: E.zipmap_count, 10: E.ziplist_count, 11: E.intset_count,
               12: lambda b: E.ziplist_count(b) // 2, 13: lambda b: E.ziplist_count(b) // 2,
               16: lambda b: E.listpack_count(b) // 2, 17: lambda b: E.listpack_count(b) // 2,
               20: E.listpack_count, 23: lambda b: E.listpack_count(b) // 3,
               25: lambda b: E.listpack_count(b) // 3}
# Types whose elements come in pairs (field, value) or triplets (field, value, ttl).
_PAIRS = {3, 4, 5, 9, 12, 13, 16, 17, 22, 23, 24, 25}  # (after dropping field TTLs)
_TRIPLETS = {23, 25}

OP_SLOT_INFO, OP_FUNCTION2, OP_FUNCTION_PRE_GA, OP_MODULE_AUX = 244, 245, 246, 247
OP_IDLE, OP_FREQ, OP_AUX, OP_RESIZEDB = 248, 249, 250, 251
OP_EXPIRETIME_MS, OP_EXPIRETIME, OP_SELECTDB, OP_EOF = 252, 253, 254, 255


class Record:
    """One key. Reused from key to key: valid only during the callback."""

    __slots__ = ("cut", "db", "encoding", "error", "expire_ms", "freq", "idle", "key",
                 "length", "nstr", "packed", "raw", "size", "type", "type_name", "value")

    def __init__(self) -> None:
        self.db = 0
        self.key = b""
        self.type = 0
        self.type_name = "string"
        self.encoding = "raw"
        self.expire_ms = -1  # absolute, ms since the epoch; -1: no expiry
        self.idle = -1  # seconds since last access, when the dump records it (LRU policy)
        self.freq = -1  # LFU counter, when recorded
        self.value: bytes | list[bytes] | None = None
        self.length = -1  # string length, or elements (fields of a hash); -1: unknown
        self.cut = False  # value holds only the head of the string / first elements
        self.size = 0  # bytes the value takes in the dump
        self.raw = 0  # bytes of its strings, uncompressed
        self.nstr = 0  # strings it holds
        self.error: str | None = None
        self.packed: tuple[bytes, int] | None = None  # (LZF data, length) of a cut SNIFF


@dataclass
class DumpInfo:
    """What the dump says about itself, beyond its keys."""

    version: int = 0
    aux: dict[str, bytes] = field(default_factory=dict)
    resize: dict[int, tuple[int, int]] = field(default_factory=dict)  # db -> (keys, expires)
    keys: dict[int, int] = field(default_factory=dict)  # db -> keys read
    functions: int = 0
    module_aux: int = 0
    checksum: bytes | None = None
    corrupt: int = 0  # records whose inner value was inconsistent (skipped, counted)
    bytes_read: int = 0


Want = Callable[[int, bytes, int], int]
OnRecord = Callable[[Record], None]


def parse(f: BinaryIO, want: Want, on_record: OnRecord) -> DumpInfo:
    """Read the whole dump; every key goes to `on_record`."""
    return Parser(Reader(f), want, on_record).run()


class Parser:
    def __init__(self, r: Reader, want: Want, on_record: OnRecord) -> None:
        self.r = r
        self.want = want
        self.on_record = on_record
        self.info = DumpInfo()
        self.keep: frozenset[bytes] = frozenset()  # the fields a SOME hash decodes
        self.rec = Record()  # the key being read (its expiry and idle time precede it)
        # A caller's reader of the records that follow a key, as far as it reads them itself
        # (DumpScanner.run_fast): called with the database, it answers how many keys it read
        self.fast: Callable[[int], int] | None = None

    def run(self) -> DumpInfo:
        r = self.r
        info = self.info
        try:
            magic = r.take(9)
        except RdbError:
            raise RdbError("not a Redis dump: shorter than its 9-byte header") from None
        if magic[:5] != b"REDIS" or not magic[5:].isdigit():
            raise RdbError("not a Redis dump: no REDIS magic")
        version = int(magic[5:])
        if not 1 <= version <= MAX_VERSION:
            raise RdbError(f"RDB version {version} is not one this reader knows "
                           f"(1–{MAX_VERSION}); a newer Redis wrote it")
        info.version = version
        rec = self.rec
        db = 0
        n_db = 0  # keys read in db since the last SELECTDB
        keys = info.keys
        on_record = self.on_record
        types = _TYPE_AT
        meta = False  # an idle time or LFU counter read for this key (reset after it)
        while True:
            # Inline, for the bytes already in the buffer: the opcode (r.byte()), an expiry
            # and the type byte after it (r.ms_time()), a key of up to 63 bytes (r.string(),
            # without the running string counts: a record's own start after its key).
            buf = r.buf
            pos = r.pos
            n = len(buf)
            if pos + 9 < n:
                t = buf[pos]
                if t == OP_EXPIRETIME_MS:
                    rec.expire_ms = _I64(buf, pos + 1)[0]
                    t = buf[pos + 9]
                    pos += 9
                pos += 1  # (r.pos: set below)
            else:
                t = r.byte()
                buf = r.buf
                pos = r.pos
                n = len(buf)
            if t < 26:
                tn = types[t]
                if tn is None:
                    r.pos = pos
                    raise RdbError(f"unknown value type {t}", r.offset - 1)
                if pos < n and buf[pos] < 0x40 and pos + 1 + buf[pos] <= n:
                    end = pos + 1 + buf[pos]
                    key = buf[pos + 1:end]
                    r.pos = end
                else:
                    r.pos = pos
                    key = r.string()
                # self.want read per key: a caller may swap it once the aux fields are read
                want = self.want(db, key, t)
                n_db += 1
                if want != DONE:  # (a key want() handled needs no more of the record)
                    rec.db = db
                    rec.key = key
                    rec.type = t
                    rec.type_name, rec.encoding = tn
                    self.value(rec, t, want)
                    on_record(rec)
                rec.expire_ms = -1
                if meta:
                    rec.idle = rec.freq = -1
                    meta = False
                fast = self.fast  # (at a record's end: the next record's opcodes are unread)
                if fast is not None:
                    n_db += fast(db)
                continue
            r.pos = pos
            if t == OP_EXPIRETIME_MS:
                rec.expire_ms = r.ms_time()
            elif t == OP_SELECTDB:
                if n_db:
                    keys[db] = keys.get(db, 0) + n_db
                    n_db = 0
                db = r.count()
            elif t == OP_EXPIRETIME:
                rec.expire_ms = int.from_bytes(r.take(4), "little", signed=True) * 1000
            elif t == OP_IDLE:
                rec.idle = r.count()
                meta = True
            elif t == OP_FREQ:
                rec.freq = r.byte()
                meta = True
            elif t == OP_AUX:
                k = r.string(4096).decode("utf-8", "replace")
                v = r.string(4096)
                if len(info.aux) < 256:
                    info.aux[k] = v
            elif t == OP_RESIZEDB:
                info.resize[db] = (r.count(), r.count())
            elif t == OP_SLOT_INFO:
                r.count()
                r.count()
                r.count()
            elif t == OP_FUNCTION2:
                r.skip_string()
                info.functions += 1
            elif t == OP_MODULE_AUX:
                r.count()  # module id
                if r.count() != 2:  # when_opcode: RDB_MODULE_OPCODE_UINT
                    raise RdbError("module aux record without its 'when' field", r.offset)
                r.count()
                self.module_value()
                info.module_aux += 1
            elif t == OP_FUNCTION_PRE_GA:
                raise RdbError("a function record of a Redis 7.0 release candidate: that "
                               "pre-release format is not supported (Redis itself refuses it)",
                               r.offset - 1)
            elif t == OP_EOF:
                if n_db:
                    keys[db] = keys.get(db, 0) + n_db
                if version >= 5 and not r.at_end():
                    tail = r.buf[r.pos:r.pos + 8]
                    info.checksum = tail if len(tail) == 8 else None
                break
            else:
                raise RdbError(f"unknown opcode {t} (corrupt dump?)", r.offset - 1)
        info.bytes_read = r.offset
        return info

    # -- values ----------------------------------------------------------------------------
    def value(self, rec: Record, t: int, want: int) -> None:
        r = self.r
        start = r.base + r.pos  # r.offset, without the property call (once per key)
        raw0, n0 = r.raw, r.nstr
        rec.value = None
        rec.cut = False
        rec.error = None
        rec.length = -1
        r.bad = None  # (an aux field's, say: not this record's)
        if want == SOME and t != 4:
            want = FULL  # the stand-ins are for plain hashes; compact ones are one blob
        if t == 0:
            rec.packed = None
            if want == SKIP:
                r.skip_string()
            elif want == SNIFF:
                rec.value = r.head(SNIFF_BYTES, HEAD_BYTES)
                rec.packed = r.packed
                rec.cut = r.cut
            else:
                rec.value = r.string(HEAD_BYTES if want != FULL else MAX_KEEP)
                rec.cut = r.cut
            rec.length = r.slen
            rec.encoding = "int" if rec.length < 21 and _is_int(rec.value) else (
                "embstr" if r.slen <= 44 else "raw")
        elif t in _BLOB:
            self.blob(rec, t, want)
        elif t == 4 and want == SOME:
            self.some(rec, r.count())
        elif t in (1, 2, 4):
            self.plain(rec, r.count() * (2 if t == 4 else 1), want, t == 4)
        elif t in (3, 5):
            self.zset(rec, t, want)
        elif t in (22, 24):
            self.hash_meta(rec, t, want)
        elif t in (14, 18):
            self.quicklist(rec, t, want)
        elif t in (15, 19, 21):
            self.stream(t)
        elif t == 7:
            r.count()  # module id
            self.module_value()
        else:  # 6: module values of Redis 4.0 release candidates carry no lengths to skip by
            raise RdbError("a module value in the Redis 4.0 release-candidate format (type 6) "
                           "cannot be skipped", start)
        if r.bad is not None:  # an LZF string inside that did not expand: the record is read
            if rec.error is None:
                self.info.corrupt += 1
            rec.error = r.bad
            r.bad = None
        rec.size = r.base + r.pos - start
        rec.raw = r.raw - raw0
        rec.nstr = r.nstr - n0

    def plain(self, rec: Record, n: int, want: int, pairs: bool) -> None:
        r = self.r
        if want == FULL:
            keep = min(n, MAX_ITEMS)
            string = r.string
            out = [string() for _ in range(keep)]
            for _ in range(n - keep):
                r.skip_string()
            rec.value = out
            rec.cut = keep < n
        else:
            skip = r.skip_string
            for _ in range(n):
                skip()
        rec.length = n // 2 if pairs else n

    def some(self, rec: Record, n: int) -> None:
        r = self.r
        keep = self.keep
        string = r.string
        stand_in = r.stand_in
        out: list[bytes] = []
        add = out.append
        for _ in range(min(n, MAX_ITEMS)):
            f = string()
            add(f)
            add(string() if f in keep else stand_in())
        for _ in range(n - min(n, MAX_ITEMS)):
            r.skip_string()
            r.skip_string()
        rec.value = out
        rec.cut = n > MAX_ITEMS
        rec.length = n

    def zset(self, rec: Record, t: int, want: int) -> None:
        r = self.r
        n = r.count()
        out: list[bytes] = []
        for _ in range(n):
            if want == FULL and len(out) < MAX_ITEMS:
                out.append(r.string())
            else:
                r.skip_string()
            if t == 5:
                r.skip(8)
            else:
                b = r.byte()
                if b < 253:
                    r.skip(b)
        if want == FULL:
            rec.value = out
            rec.cut = len(out) < n
        rec.length = n

    def hash_meta(self, rec: Record, t: int, want: int) -> None:
        """Hashes with field expiry (7.4+): [ttl, field, value] triplets."""
        r = self.r
        if t == 24:
            r.ms_time()  # the smallest field expiry, for loaders that stream to flash
        n = r.count()
        out: list[bytes] = []
        for _ in range(n):
            r.count()
            if want == FULL and len(out) < MAX_ITEMS:
                out.append(r.string())
                out.append(r.string())
            else:
                r.skip_string()
                r.skip_string()
        if want == FULL:
            rec.value = out
            rec.cut = len(out) < 2 * n
        rec.length = n

    def blob(self, rec: Record, t: int, want: int) -> None:
        r = self.r
        if t == 25:
            r.ms_time()
        if want in (SKIP, HEAD, SNIFF):
            r.skip_string()
            return
        blob = r.string()
        if r.cut:
            rec.error = "compact encoding too large to decode"
            return
        try:
            if want == COUNT:
                rec.length = _BLOB_COUNT[t](blob)
                return
            items = _BLOB[t](blob, MAX_ITEMS)
        except (RdbCorrupt, IndexError, ValueError, struct.error) as exc:
            rec.error = getattr(exc, "reason", "inconsistent compact encoding")
            self.info.corrupt += 1
            return
        if t in _TRIPLETS:
            items = [x for i, x in enumerate(items) if i % 3 != 2]
        rec.length = len(items) // 2 if t in _PAIRS else len(items)
        if t in (12, 17):  # zset: members only (each is followed by its score)
            items = items[0::2]
        rec.value = items

    def quicklist(self, rec: Record, t: int, want: int) -> None:
        r = self.r
        nodes = r.count()
        out: list[bytes] = []
        total = 0
        for _ in range(nodes):
            container = r.count() if t == 18 else 2
            if want in (SKIP, HEAD, SNIFF):
                r.skip_string()
                continue
            node = r.string()
            if container == 1:  # a plain node: one large element
                total += 1
                if want == FULL:
                    out.append(node)
                continue
            try:
                if want == COUNT:
                    total += E.listpack_count(node) if t == 18 else E.ziplist_count(node)
                else:
                    items = E.listpack(node) if t == 18 else E.ziplist(node)
                    total += len(items)
                    out.extend(items[:max(0, MAX_ITEMS - len(out))])
            except (RdbCorrupt, IndexError, ValueError, struct.error) as exc:
                rec.error = getattr(exc, "reason", "inconsistent compact encoding")
                self.info.corrupt += 1
        if want == FULL:
            rec.value = out
            rec.cut = len(out) < total
        if want not in (SKIP, HEAD, SNIFF) and rec.error is None:
            rec.length = total

    def stream(self, t: int) -> None:
        r = self.r
        for _ in range(r.count()):  # listpacks: master id, listpack
            r.skip_string()
            r.skip_string()
        for _ in range(3):  # length, last id
            r.count()
        if t >= 19:
            for _ in range(5):  # first id, max deleted id, entries added
                r.count()
        for _ in range(r.count()):  # consumer groups
            r.skip_string()
            r.count()
            r.count()
            if t >= 19:
                r.count()  # offset
            for _ in range(r.count()):  # global PEL: id, delivery time, count
                r.skip(24)
                r.count()
            for _ in range(r.count()):  # consumers
                r.skip_string()
                r.skip(16 if t >= 21 else 8)  # seen (and active) time
                for _ in range(r.count()):
                    r.skip(16)

    def module_value(self) -> None:
        r = self.r
        while True:
            op = r.count()
            if op == 0:
                return
            if op in (1, 2):
                r.count()
            elif op == 3:
                r.skip(4)
            elif op == 4:
                r.skip(8)
            elif op == 5:
                r.skip_string()
            else:
                raise RdbError(f"unknown module value opcode {op}", r.offset)


def _is_int(v: bytes | list[bytes] | None) -> bool:
    if not isinstance(v, bytes) or not v:
        return False
    s = v[1:] if v[:1] == b"-" else v
    return s.isdigit() and (s == b"0" or s[:1] != b"0")
