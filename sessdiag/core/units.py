"""Durations ("30d") and sizes ("2GiB") as users write them, and back."""

from __future__ import annotations

import re

from sessdiag.core.errors import UsageError

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")

_SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_duration(text: str | int | float, *, flag: str = "") -> int:
    """'90s', '15m', '1h', '30d', '2w' or a bare number of seconds -> whole seconds.

    `flag` (e.g. "--max-lifetime") starts the error message, so the user knows which value.
    """
    where = f"{flag}: " if flag else ""
    if isinstance(text, bool):
        raise UsageError(f"{where}not a duration: {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise UsageError(f"{where}duration must not be negative: {text!r}")
        return int(text)
    m = _DURATION_RE.match(str(text))
    if not m:
        raise UsageError(f"{where}not a duration: {text!r} "
                         "(use e.g. 90s, 15m, 1h, 30d, 2w or seconds)")
    return int(float(m.group(1)) * _DURATION_UNITS[m.group(2) or "s"])


def parse_size(text: str | int | float) -> int:
    """'2GiB', '500MB', '1024' -> bytes (B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)."""
    if isinstance(text, bool):
        raise UsageError(f"not a size: {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise UsageError(f"size must not be negative: {text!r}")
        return int(text)
    m = _SIZE_RE.match(str(text))
    unit = m.group(2).lower() if m else None
    if not m or unit not in _SIZE_UNITS:
        raise UsageError(f"not a size: {text!r} (use e.g. 512MiB, 2GiB, 10GB or bytes)")
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


def format_duration(seconds: float | None) -> str:
    """Compact human form: 45s, 12m, 3.5h, 29.9d."""
    if seconds is None:
        return "∞"
    s = float(seconds)
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s < 90:
        return f"{sign}{s:.0f}s" if s >= 1 or s == 0 else f"{sign}{s * 1000:.0f}ms"
    if s < 90 * 60:
        return f"{sign}{s / 60:.0f}m"
    if s < 48 * 3600:
        return f"{sign}{s / 3600:.1f}h".replace(".0h", "h")
    return f"{sign}{s / 86400:.1f}d".replace(".0d", "d")


def format_bytes(n: float) -> str:
    """Binary units, three significant figures: 4.0 KiB, 31.9 GiB."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def format_count(n: float) -> str:
    """7812344 -> '7,812,344': every count in every view is written this one way (a table
    mixing '28.5 k' with '9,485' cannot be compared at a glance, nor grepped)."""
    return f"{float(n):,.0f}"


def format_percent(fraction: float, digits: int = 1) -> str:
    """0.154 -> '15.4%'; never '100.0%' for less than all, nor '0.0%' for more than none
    (19,999 of 20,000 is '>99.9%': the one session left is often the point)."""
    text = f"{fraction:.{digits}%}"
    step = 10.0 ** -digits
    if fraction < 1 and float(text[:-1]) >= 100:
        return f">{100 - step:.{digits}f}%"
    if fraction > 0 and float(text[:-1]) == 0:
        return f"<{step:.{digits}f}%"
    return text
