"""Machine output: JSON on stdout, or written atomically to a file."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile

from sessdiag.core.errors import UsageError


def dumps(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_stdout(report: dict) -> None:
    sys.stdout.write(dumps(report))
    sys.stdout.flush()


def write_atomic(path: str, text: str) -> None:
    """Write via a temp file in the same directory and rename: never half-written."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=".sessdiag-", dir=directory)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
