"""The write-ahead backup of a Redis prune, and its reader (`sessdiag restore`).

A file starts with MAGIC; then records, each framed so that a file cut anywhere (a `kill -9`,
a full disk) is read up to its last whole record:

    0xA5 | kind (1 byte) | payload length (u32 BE) | payload | CRC-32 of kind+payload (u32 BE)

Kinds and payloads (integers big-endian):
  H  run header: JSON (run id, target location, pid, started_at). One per run appended.
  K  a key about to be deleted: PTTL i64 | absolute deadline ms i64 (-1: no TTL) |
     key length u32 | key | DUMP payload (the rest)
  M  an index member about to be removed: key length u32 | key | member (the rest)
  T  a TTL about to be set on a key without one: new deadline ms i64 | key (the rest)

Every record of a batch is written, flushed and fsync'ed before the batch's first change:
whatever a run removed, its record is on disk. Records of changes that then did not happen
(the session was touched) are harmless: restore finds the key present and lists it.

The file holds session payloads, i.e. credentials: it is created 0600, never through a
symlink, and appended to (a torn tail of an earlier run is cut off first).
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from sessdiag.core.errors import UsageError

MAGIC = b"SESSDIAG-BACKUP/1\n"
SYNC = 0xA5
_HEAD = struct.Struct(">BBI")
_CRC = struct.Struct(">I")
_I64 = struct.Struct(">q")
_U32 = struct.Struct(">I")
MAX_RECORD = 1 << 30


@dataclass
class Record:
    kind: str  # "H", "K", "M", "T"
    key: bytes = b""
    pttl: int = -1
    deadline: int = -1
    payload: bytes = b""  # K: the DUMP; M: the member
    header: dict = field(default_factory=dict)


def _frame(kind: str, payload: bytes) -> bytes:
    k = kind.encode()
    return _HEAD.pack(SYNC, k[0], len(payload)) + payload + _CRC.pack(zlib.crc32(k + payload))


def key_record(key: bytes, pttl: int, deadline: int, dump: bytes) -> bytes:
    return _frame("K", _I64.pack(pttl) + _I64.pack(deadline) + _U32.pack(len(key)) + key + dump)


def member_record(key: bytes, member: bytes) -> bytes:
    return _frame("M", _U32.pack(len(key)) + key + member)


def ttl_record(key: bytes, deadline: int) -> bytes:
    return _frame("T", _I64.pack(deadline) + key)


def header_record(header: dict) -> bytes:
    return _frame("H", json.dumps(header, sort_keys=True).encode())


def _parse(kind: str, p: bytes) -> Record:
    if kind == "H":
        return Record("H", header=json.loads(p))
    if kind == "K":
        pttl, deadline = _I64.unpack_from(p, 0)[0], _I64.unpack_from(p, 8)[0]
        n = _U32.unpack_from(p, 16)[0]
        return Record("K", p[20:20 + n], pttl, deadline, p[20 + n:])
    if kind == "M":
        n = _U32.unpack_from(p, 0)[0]
        return Record("M", p[4:4 + n], payload=p[4 + n:])
    if kind == "T":
        return Record("T", p[8:], deadline=_I64.unpack_from(p, 0)[0])
    raise ValueError(kind)


def _scan(data: bytes) -> Iterator[tuple[int, Record]]:
    """(offset after the record, record) for every whole record; stops at the first that
    is cut or damaged."""
    pos = len(MAGIC)
    n = len(data)
    while pos + _HEAD.size <= n:
        sync, kind_b, length = _HEAD.unpack_from(data, pos)
        end = pos + _HEAD.size + length + _CRC.size
        if sync != SYNC or length > MAX_RECORD or end > n:
            return
        kind = chr(kind_b)
        payload = data[pos + _HEAD.size: end - _CRC.size]
        if _CRC.unpack_from(data, end - _CRC.size)[0] != zlib.crc32(kind.encode() + payload):
            return
        try:
            rec = _parse(kind, payload)
        except (ValueError, struct.error):
            return
        yield end, rec
        pos = end


@dataclass
class BackupContents:
    records: list[Record]
    size: int
    good: int  # bytes up to the end of the last whole record
    runs: int

    @property
    def torn_bytes(self) -> int:
        return self.size - self.good


def read_backup(path: str) -> BackupContents:
    """Every whole record of a backup file (a cut or damaged tail is reported, not an error)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no such backup file") from exc
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the backup ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as f:
        data = f.read()
    if not data.startswith(MAGIC):
        raise UsageError(f"{path}: not a sessdiag prune backup (no {MAGIC.strip().decode()} "
                         "header)")
    records = []
    good = len(MAGIC)
    for end, rec in _scan(data):
        records.append(rec)
        good = end
    runs = sum(1 for r in records if r.kind == "H")
    return BackupContents(records, len(data), good, runs)


class BackupWriter:
    """Appends records; `sync()` makes everything written so far durable."""

    def __init__(self, path: str, header: dict) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise UsageError(f"--backup {path}: {exc.strerror}") from exc
        self.f = os.fdopen(fd, "r+b")
        try:
            self._prepare(header)
        except BaseException:
            self.f.close()
            raise
        self.records = 0
        self.bytes = 0

    def _prepare(self, header: dict) -> None:
        import stat

        st = os.fstat(self.f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"--backup {self.path}: not a regular file")
        if st.st_size == 0:
            self.f.write(MAGIC)
        else:
            data = self.f.read()
            if not data.startswith(MAGIC):
                raise UsageError(f"--backup {self.path}: exists and is not a sessdiag backup; "
                                 "refusing to append to it")
            good = len(MAGIC)
            for end, _rec in _scan(data):
                good = end
            self.f.truncate(good)  # a torn tail of a killed run
            self.f.seek(good)
        self.f.write(header_record(header))
        self.sync()

    def add(self, record: bytes) -> None:
        self.f.write(record)
        self.records += 1
        self.bytes += len(record)

    def sync(self) -> None:
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        try:
            self.sync()
        finally:
            self.f.close()
