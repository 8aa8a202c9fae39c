"""What a dump that cannot be read raises: bad input, exit 2 with one line."""

from __future__ import annotations

from sessdiag.core.errors import UsageError


class RdbError(UsageError):
    """The dump cannot be read as a whole (wrong magic, a version from the future, cut short,
    a record whose length cannot be trusted). Carries the byte offset where reading stopped."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.reason = message
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (at byte {offset:,})")


class RdbCorrupt(RdbError):
    """A value inside a record is inconsistent (a listpack, an LZF string): the record can be
    skipped by its outer length, so a scan counts it as an anomaly and goes on."""


class RdbTruncated(RdbError):
    """The stream ended inside a record."""
