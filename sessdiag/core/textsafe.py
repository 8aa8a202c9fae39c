"""Names from the store are bytes, not text: make them safe for every output.

A file name that is not UTF-8 (legacy NFS trees) reaches Python as lone surrogates
(os.fsdecode's surrogateescape). Written as is, it makes JSON that is not UTF-8 (jq and
Python's json refuse the whole report), XML that no parser accepts, or raw bytes on a
terminal. Every output writes such a byte the same way: as the four characters `\\xNN`
(b"\\xff\\xfebad" -> `\\xff\\xfebad`). Control characters (an ESC in a name could recolour
or rewrite the operator's terminal) are written `\\xNN` too, except in JSON, whose own
`\\u001b` escape is already inert. Backslashes are left alone, so a name that contains a
literal `\\xff` reads the same as the byte: the report is for reading, the store is the truth.
"""

from __future__ import annotations

import re
from typing import Any

_UNDECODABLE = re.compile("[\ud800-\udfff]")
# C0 controls but tab and newline, DEL, C1 controls, and lone surrogates.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape(m: re.Match[str]) -> str:
    o = ord(m.group())
    if 0xDC80 <= o <= 0xDCFF:  # surrogateescape's spelling of the byte o - 0xDC00
        return f"\\x{o - 0xDC00:02x}"
    if o >= 0xD800:  # any other lone surrogate (e.g. decoded from a JSON payload)
        return f"\\u{o:04x}"
    return f"\\x{o:02x}"


def escape_undecodable(s: str) -> str:
    """Undecodable bytes as `\\xNN`: the text can then be encoded as UTF-8."""
    return _UNDECODABLE.sub(_escape, s) if _UNDECODABLE.search(s) else s


def escape_unprintable(s: str) -> str:
    """Undecodable bytes and control characters (ESC, CR, …) as `\\xNN`; tab and newline kept."""
    return _UNPRINTABLE.sub(_escape, s) if _UNPRINTABLE.search(s) else s


def deep_map(obj: Any, fn: Any) -> Any:
    """obj with fn applied to every string in it, dict keys included."""
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, dict):
        return {deep_map(k, fn): deep_map(v, fn) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [deep_map(v, fn) for v in obj]
    return obj


def json_safe(obj: Any) -> Any:
    return deep_map(obj, escape_undecodable)


def terminal_safe(obj: Any) -> Any:
    return deep_map(obj, escape_unprintable)
