"""`sessdiag inspect dump.rdb KEY`: one key of a dump decoded, as `inspect redis://… KEY` does.

A second pass over the dump keeps only the candidate keys (the name given, and the id under
each framework's default prefix) and whether a Spring session's shadow key exists; the live
decoder (sessdiag.stores.redis.inspect) then reads them through the dump's replies.
"""

from __future__ import annotations

import copy
from typing import Any

from sessdiag.core.errors import UsageError
from sessdiag.core.timefmt import iso
from sessdiag.stores.base import ScanSettings
from sessdiag.stores.rdb.parser import FULL, SKIP, Parser, Record
from sessdiag.stores.rdb.reader import Reader
from sessdiag.stores.rdb.replies import reply
from sessdiag.stores.rdb.scan import dump_clock, read_dump
from sessdiag.stores.rdb.source import DumpSource
from sessdiag.stores.redis import profiles as P
from sessdiag.stores.redis.inspect import _decode_key, default_prefixes


class _RecordConn:
    """The `call` a live decoder makes, answered from one record."""

    def __init__(self, rec: Record, as_of_ms: int, present: set[bytes]) -> None:
        self.rec = rec
        self.as_of_ms = as_of_ms
        self.present = present

    def call(self, *args: Any) -> Any:
        if str(args[0]).upper() == "EXISTS":
            k = args[1] if isinstance(args[1], bytes) else str(args[1]).encode()
            return 1 if k in self.present else 0
        return reply(args, self.rec, self.as_of_ms)


def inspect_dump(src: DumpSource, key: str, profile: str | None,
                 settings: ScanSettings | None = None) -> dict:
    if not key or "\n" in key or len(key) > 4096:
        raise UsageError(f"not a key: {key[:40]!r}")
    if not src.rereadable:
        raise UsageError("inspect reads the dump itself: give a file, not standard input")
    candidates = [key.encode()] + [(p + key).encode() for p in default_prefixes()
                                   if p and not key.startswith(p)]
    shadows = set()
    for c in candidates:
        kind, _prof, ns = P.classify(c)
        if kind == P.SPRING:
            shadows.add(f"{ns}:sessions:expires:".encode() + c[c.rfind(b":") + 1:])
    wanted = set(candidates)
    found: dict[bytes, Record] = {}
    present: set[bytes] = set()
    db0: list[int] = []

    def want(db: int, k: bytes, rtype: int) -> int:
        if not db0:
            db0.append(db)
        return FULL if db == db0[0] and k in wanted else SKIP

    def on(rec: Record) -> None:
        if rec.db != db0[0]:
            return
        if rec.key in wanted:
            found[rec.key] = copy.copy(rec)
        if rec.key in shadows:
            present.add(rec.key)

    state: dict[str, Parser] = {}

    def parser_for(reader: Reader) -> Parser:
        state["p"] = Parser(reader, want, on)
        return state["p"]

    info = read_dump(src, parser_for)
    clock = dump_clock(settings or ScanSettings(), info.aux, src)
    as_of_ms = int(clock.as_of * 1000)
    for c in candidates:
        rec = found.get(c)
        if rec is None:
            continue
        if rec.error is not None:
            raise UsageError(f"{c.decode('utf-8', 'replace')}: its value in the dump is "
                             f"corrupt ({rec.error})")
        out = _decode_key(_RecordConn(rec, as_of_ms, present), c,  # type: ignore[arg-type]
                          rec.type_name, src.location, profile)
        out["as_of"] = iso(clock.as_of)
        return out
    raise UsageError(f"no key {key!r} in {src.location} (also tried the default prefixes of "
                     "each framework)")
