"""Redis string session values: which encoding they are in, from their first bytes, and decoding.

Many frameworks let the app choose the serializer (Flask-Session: pickle, msgpack or JSON;
Rails: Marshal or JSON), so a string value is decoded by what its bytes say, not by the
framework its key names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from sessdiag.codecs import gob, javaser, jsonsafe, msgpack, phpser, pickleinspect, rubymarshal
from sessdiag.core.errors import DecodeError

_PHP_VAR = re.compile(rb"^[A-Za-z0-9_\x7f-\xff.\-]{1,256}\|[abdiNOsCEr]")


def sniff(v: bytes) -> str:
    """The encoding a value is in, from its first bytes."""
    if not v:
        return "empty"
    b0 = v[0]
    if v[:4] == javaser.MAGIC:
        return "jdk"
    if v[:3] == b"\x0e\xff\x81" or (b0 < 0x80 and v[1:3] == b"\xff\x81"):
        return "gob"
    if b0 == 0x80 and len(v) > 1 and v[1] <= 5:
        return "pickle"
    if v[:2] == b"\x04\x08":
        return "marshal"
    if b0 in (0x7B, 0x5B):  # { [
        return "json"
    if (0x81 <= b0 <= 0x8F and len(v) > 1 and 0xA0 <= v[1] <= 0xBF) or b0 in (0xDE, 0xDF):
        return "msgpack"
    if _PHP_VAR.match(v) or v[:2] == b"a:":
        return "php"
    return "other"


_DECODERS: Final[dict[str, Callable[[bytes], list[dict]]]] = {
    "gob": gob.decode_session,
    "pickle": pickleinspect.decode_session,
    "msgpack": msgpack.decode_session,
    "json": jsonsafe.decode_session,
    "marshal": rubymarshal.decode_session,
    "php": phpser.decode_session,
}


def decode_sniffed(v: bytes, fmt: str | None = None) -> list[dict]:
    """Any string session value -> entries; DecodeError when it does not parse."""
    fmt = fmt or sniff(v)
    if fmt == "empty":
        return []
    if fmt == "jdk":
        val = javaser.decode(v)
        items = val.get("value")
        if isinstance(items, dict):
            return [{"key": {"type": "java.lang.String", "value": k}, "value": x}
                    for k, x in items.items()]
        return [{"key": {"type": "value", "value": ""}, "value": val}]
    dec = _DECODERS.get(fmt)
    if dec is None:
        raise DecodeError("unknown value encoding", 0)
    return dec(v)
