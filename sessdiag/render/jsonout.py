"""Machine output: JSON on stdout, or written atomically to a file."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile

from sessdiag.core.errors import UsageError


def dumps(report: dict) -> str:
    from sessdiag.core.textsafe import json_safe

    return json.dumps(json_safe(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_stdout(report: dict) -> None:
    sys.stdout.write(dumps(report))
    sys.stdout.flush()


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def write_atomic(path: str, text: str) -> None:
    """Write via a temp file in the same directory and rename: never half-written.

    mkstemp makes the file 0600; the result gets the mode a plain `open` would give
    (0666 & ~umask), so that e.g. node_exporter running as another user can read a
    Prometheus textfile.
    """
    directory = os.path.dirname(os.path.abspath(path)) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=".sessdiag-", dir=directory)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
