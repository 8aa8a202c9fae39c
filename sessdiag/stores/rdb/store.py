"""A Redis dump file (RDB) as a `SessionStore` (sessdiag.stores.base): `scan`, `inspect`,
cookie `lookup` for access-log attribution, all without a server."""

from __future__ import annotations

from array import array

from sessdiag.core.errors import UsageError
from sessdiag.stores.base import Progress, ScanSettings, SessionLookup
from sessdiag.stores.rdb.source import DumpSource


class RdbStore:
    kind = "rdb"

    def __init__(self, target: str) -> None:
        self.source = DumpSource(target)
        self.location = self.source.location
        self.report: dict = {}
        self.index: array | None = None
        self.as_of_ms = 0

    def scan(self, settings: ScanSettings, progress: Progress | None = None) -> dict:
        from sessdiag.stores.rdb.scan import scan_dump

        self.report, scanner = scan_dump(self.source, settings, progress)
        self.index = scanner.lookup_index  # sorted when a lookup is built (access logs)
        self.as_of_ms = scanner.as_of_ms
        return self.report

    def inspect(self, sid: str | None, profile: str | None = None) -> dict:
        from sessdiag.stores.rdb.inspect import inspect_dump

        if sid is None:
            raise UsageError("give the session's key (or id) too: sessdiag inspect dump.rdb KEY")
        return inspect_dump(self.source, sid, profile)

    def lookup(self, profile: str | None, cookie_name: str,
               secret: object = None) -> SessionLookup | None:
        from sessdiag.stores.rdb.lookup import DumpLookup

        index, self.index = self.index, None  # the lookup keeps its sorted copy, not both
        if index is None:
            return None
        return DumpLookup.build(self.report, index, cookie_name, secret)

    def attribute(self, attr: str) -> list[dict] | None:
        return None  # attribution by payload needs a second pass: not offered for dumps yet

    def close(self) -> None:
        self.index = None

