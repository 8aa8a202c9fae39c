"""Reading the small text files users hand us (policies, configs, fixture specs)."""

from __future__ import annotations

from sessdiag.core.errors import UsageError


def read_text(path: str, label: str = "") -> str:
    """The file's text; unreadable or not UTF-8 is bad input (exit 2) naming the file.

    `label` prefixes the message (e.g. "--policy ") so the user sees which flag it came from.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise UsageError(f"{label}{path}: {exc.strerror}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UsageError(f"{label}{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} "
                         f"at offset {exc.start})") from None
