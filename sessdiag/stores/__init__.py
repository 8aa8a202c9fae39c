"""Stores: `open_store(TARGET)` is the one place that picks a backend from the target.

A backend is one entry of `BACKENDS`: a name, a test on the target string (cheap: a URL
scheme, or a peek at a file's first bytes) and a factory. Commands that only need to know the
kind of a target (the prune guard, `fixtures make`, the config password check) ask
`target_kind`, which reads the same table.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import Any

from sessdiag.core.errors import UsageError
from sessdiag.stores.base import ScanSettings, SessionLookup, SessionStore

__all__ = ["BACKENDS", "ScanSettings", "SessionLookup", "SessionStore",
           "open_store", "target_kind"]

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
RDB_MAGIC = b"REDIS"


def _is_redis(target: str) -> bool:
    return target.startswith(REDIS_SCHEMES)


def _is_rdb(target: str) -> bool:
    """A Redis dump: a regular file that starts with `REDIS` and a 4-digit version, the same
    gzip-compressed, or `-` (standard input: only dumps are read from there)."""
    if target == "-":
        return True
    if target.endswith(".gz"):
        from sessdiag.stores.rdb.source import is_gzip_dump

        return is_gzip_dump(target)
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        head = os.read(fd, 9) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        return False
    finally:
        os.close(fd)
    return head[:5] == RDB_MAGIC and head[5:9].isdigit()


def _open_redis(target: str, **kw: Any) -> SessionStore:
    from sessdiag.stores.redis.store import RedisStore

    return RedisStore(target, password_env=kw.get("password_env"))


def _open_rdb(target: str, **kw: Any) -> SessionStore:
    from sessdiag.stores.rdb.store import RdbStore

    return RdbStore(target)


def _is_report(target: str) -> bool:
    # A directory, the usual target, is no report: said without importing the saved-report
    # backend (is_report itself opens the file, never through a symlink).
    try:
        if not stat.S_ISREG(os.stat(target).st_mode):
            return False
    except (OSError, ValueError):
        return False
    from sessdiag.stores.saved import is_report

    return is_report(target)


def _open_report(target: str, **kw: Any) -> SessionStore:
    from sessdiag.stores.saved import SavedReport

    return SavedReport(target)


def _open_files(target: str, **kw: Any) -> SessionStore:
    from sessdiag.stores.files.store import FileStore

    return FileStore(target, php_depth=kw.get("php_depth"), sid_pattern=kw.get("sid_pattern"))


# (kind, claims the target?, factory), tried in order; the last claims every path.
BACKENDS: list[tuple[str, Callable[[str], bool], Callable[..., SessionStore]]] = [
    ("redis", _is_redis, _open_redis),
    ("rdb", _is_rdb, _open_rdb),
    ("report", _is_report, _open_report),
    ("files", lambda target: True, _open_files),
]


def target_kind(target: str) -> str:
    """The backend a target names ("redis", "rdb", "report", "files"), without opening it."""
    for kind, claims, _factory in BACKENDS:
        if claims(target):
            return kind
    raise UsageError(f"{target}: not a session store")  # pragma: no cover - files claims all


def open_store(target: str, *, password_env: str | None = None, php_depth: int | None = None,
               sid_pattern: str | None = None) -> SessionStore:
    """The store a TARGET names. Opening is cheap: nothing is read until scan/inspect."""
    for _kind, claims, factory in BACKENDS:
        if claims(target):
            return factory(target, password_env=password_env, php_depth=php_depth,
                           sid_pattern=sid_pattern)
    raise UsageError(f"{target}: not a session store")  # pragma: no cover
