"""`sessdiag scan dump.rdb`: one pass over the dump through the live analysis, one report.

The report is the live scan's (sessdiag.stores.redis.report.build_report), as of the dump's
own time, with the fields only a dump has: `target.kind: "rdb"`, `target.rdb_version`,
`target.as_of` (and where it came from), and a `dump` section (aux fields, databases, keys
past their expiry, corrupt records, how memory was estimated).
"""

from __future__ import annotations

import fnmatch
import re
import sys
import time
import zlib
from dataclasses import dataclass
from typing import Any

from sessdiag.core.errors import TargetUnreadable, UsageError
from sessdiag.core.progress import Progress
from sessdiag.core.timefmt import iso
from sessdiag.stores.base import ScanSettings
from sessdiag.stores.rdb import memory
from sessdiag.stores.rdb.errors import RdbError
from sessdiag.stores.rdb.keyspace import SPRING_FIELDS, DumpScanner
from sessdiag.stores.rdb.parser import SKIP, DumpInfo, Parser
from sessdiag.stores.rdb.reader import Reader
from sessdiag.stores.rdb.source import DumpSource
from sessdiag.stores.redis.profiles import PROFILES
from sessdiag.stores.redis.scanner import ScanParams
from sessdiag.stores.redis.topology import Topology


@dataclass
class _DumpTarget:
    """What the live report builder reads of a target."""

    location: str
    db: int


@dataclass
class DumpClock:
    as_of: float
    source: str
    ctime: float | None


def dump_clock(settings: ScanSettings, aux: dict[str, bytes], src: DumpSource) -> DumpClock:
    ctime = _int(aux.get("ctime"))
    ct = float(ctime) if ctime is not None and ctime > 0 else None
    if settings.as_of is not None:
        return DumpClock(settings.as_of, "--as-of", ct)
    if settings.now is not None:
        return DumpClock(settings.now, "--now", ct)
    if ct is not None:
        return DumpClock(ct, "ctime aux field", ct)
    if src.mtime is not None:
        return DumpClock(src.mtime, "file mtime (the dump has no ctime)", None)
    return DumpClock(time.time(), "time of reading (standard input without ctime)", None)


def _int(v: bytes | None) -> int | None:
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def read_dump(src: DumpSource, parser_for: Any) -> DumpInfo:
    """Run one pass; errors of the medium become the contract's exits."""
    stream = src.open()
    try:
        return parser_for(Reader(stream)).run()
    except (EOFError, zlib.error) as exc:
        raise RdbError(f"{src.target}: the compressed dump is cut short or corrupt ({exc})") \
            from None
    except OSError as exc:
        if src.compressed:
            raise RdbError(f"{src.target}: not a readable gzip stream ({exc})") from None
        raise TargetUnreadable(f"{src.target}: {exc}") from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
        src.close()


def scan_dump(src: DumpSource, settings: ScanSettings,
              progress: Progress | None = None) -> tuple[dict, DumpScanner]:
    if settings.profile is not None and settings.profile not in PROFILES:
        raise UsageError(f"--profile {settings.profile} is not a Redis profile "
                         f"(one of {', '.join(PROFILES)})")
    t0 = time.monotonic()
    params = ScanParams(now=0.0, age_edges=tuple(settings.age_edges), pattern=settings.pattern,
                        profile=settings.profile, sample=settings.sample, deep=settings.deep)
    scanner = DumpScanner(src.location, params, 0, keep_index=settings.lookup)
    scanner.progress = (lambda n: progress(n)) if progress is not None else None
    match = re.compile(fnmatch.translate(settings.pattern).encode()).match \
        if settings.pattern else None
    state: dict[str, Any] = {}

    def parser_for(reader: Reader) -> Parser:
        p = Parser(reader, want, scanner.record)
        p.keep = SPRING_FIELDS
        scanner.bind(p)
        state["parser"] = p
        return p

    def want(db: int, key: bytes, rtype: int) -> int:
        if "clock" not in state:  # the aux fields precede every key
            clock = state["clock"] = dump_clock(settings, state["parser"].info.aux, src)
            params.now = clock.as_of
            scanner.as_of_ms = int(clock.as_of * 1000)
            if clock.ctime is not None and clock.as_of > clock.ctime:
                scanner.idle_offset_s = int(clock.as_of - clock.ctime)
            if match is None:  # nothing left for this wrapper: the parser calls the scanner
                state["parser"].want = scanner.want
                state["parser"].fast = scanner.fast_reader()
        if match is not None and not match(key):
            if scanner.db is None:
                scanner.db = db
            return SKIP
        return scanner.want(db, key, rtype)

    try:
        info = read_dump(src, parser_for)
    except RdbError as exc:
        raise RdbError(f"{src.target}: {exc.reason}", exc.offset) from None
    if "clock" not in state:
        state["clock"] = dump_clock(settings, info.aux, src)
        params.now = state["clock"].as_of
    scanner.finish()
    return build(src, settings, params, scanner, info, state["clock"],
                 time.monotonic() - t0), scanner


def build(src: DumpSource, settings: ScanSettings, params: ScanParams, scanner: DumpScanner,
          info: DumpInfo, clock: DumpClock, duration: float) -> dict:
    from sessdiag.stores.redis.report import build_report, findings

    db = scanner.db if scanner.db is not None else 0
    res = scanner.res
    res.dbsize = info.keys.get(db, 0)
    aux = info.aux
    notes = list(settings.notes)
    for other, n in sorted(scanner.other_dbs.items()):
        notes.append(f"the dump also holds {n:,} keys in database {other}: only database {db} "
                     "(the first in the dump) was scanned")
    if scanner.corrupt:
        notes.append(f"{sum(scanner.corrupt.values()):,} records hold values whose encoding "
                     "does not add up (skipped by their length, counted in "
                     "keyspace.other_by_type.corrupt): "
                     + "; ".join(f"{k} ({v})" for k, v in list(scanner.corrupt.items())[:3]))
    if scanner.sample_shift:
        notes.append(f"companion checks (shadow keys and index members against their "
                     f"sessions) cover a 1/{1 << scanner.sample_shift} hash sample of the "
                     "keys, to keep memory flat")
    if scanner.expired_keys:
        notes.append(f"{scanner.expired_keys:,} keys were past their expiry at {iso(clock.as_of)}"
                     " (a server drops them when touched): session keys among them are "
                     "counted expired")
    server_info = {"redis_version": _text(aux.get("redis-ver")),
                   "used_memory": _text(aux.get("used-mem"))}
    report = build_report(_DumpTarget(src.location, db), Topology(False, []), server_info,
                          [res], params, settings, notes, duration)
    report["target"] = {
        "kind": "rdb", "location": src.location, "profile": report["target"]["profile"],
        "rdb_version": info.version, "as_of": iso(clock.as_of), "as_of_source": clock.source,
        "db": db, "compressed": src.compressed,
    }
    for g in report["groups"]:
        g["allocated_method"] = g["allocated_method"].replace(
            "MEMORY USAGE of", "estimated from the dump's encodings for")
    report["server"] = {"version": server_info["redis_version"],
                        "used_memory": _int(aux.get("used-mem")),
                        "bits": _int(aux.get("redis-bits")), "maxmemory": None,
                        "maxmemory_policy": None, "notify_keyspace_events": None,
                        "role": None, "notify_keyspace_events_by_node": None,
                        "primaries": None}
    mb = info.bytes_read / 1e6
    report["scan"] = {"duration_s": round(duration, 3), "bytes_read": info.bytes_read,
                      "mb_per_s": round(mb / duration, 1) if duration > 0 else None,
                      "keys_read": sum(info.keys.values()), "nodes": 1,
                      "memory_sample": settings.sample if not settings.deep else "all"}
    report["dump"] = {
        "rdb_version": info.version,
        "redis_version": server_info["redis_version"],
        "ctime": iso(clock.ctime) if clock.ctime else None,
        "as_of": iso(clock.as_of), "as_of_source": clock.source,
        "databases": {str(k): v for k, v in sorted(info.keys.items())},
        "db_scanned": db,
        "keys_past_expiry": scanner.expired_keys,
        "corrupt_records": sum(scanner.corrupt.values()),
        "functions": info.functions, "module_aux": info.module_aux,
        "checksum": info.checksum.hex() if info.checksum else None,
        "allocated_method": memory.WHAT,
        "companion_check_share": 1 / (1 << scanner.sample_shift),
    }
    report["findings"] = findings(report)
    return report


def _text(v: bytes | None) -> str | None:
    return v.decode("utf-8", "replace") if v is not None else None
