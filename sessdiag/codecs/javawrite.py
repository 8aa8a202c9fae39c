"""Java Object Serialization of the simple values Spring Session stores, byte for byte.

Spring's default `JdkSerializationRedisSerializer` runs one `ObjectOutputStream.writeObject`
per value. For `java.lang.String`, `Long`, `Integer` and `Boolean` the stream is fixed apart
from the value: the magic and version, then either `TC_STRING`/`TC_LONGSTRING` with the
modified UTF-8 bytes, or `TC_OBJECT` with the class descriptor (name, serialVersionUID,
`SC_SERIALIZABLE`, the one `value` field, `TC_ENDBLOCKDATA`) chained to its superclass
descriptor (`java.lang.Number` for the numbers, `TC_NULL` for Boolean) and the value.

This writer builds those records from the grammar (Java Object Serialization Specification,
chapter 6), not from copied blobs; tests prove it against the streams the JDK itself wrote
(fixtures/java, tools/javagen). Only `sessdiag fixtures make` uses it, to write realistic
Spring sessions.
"""

from __future__ import annotations

import struct
from typing import Final

MAGIC: Final = b"\xac\xed\x00\x05"
TC_NULL, TC_CLASSDESC, TC_OBJECT, TC_STRING, TC_ENDBLOCKDATA, TC_LONGSTRING = (
    0x70, 0x72, 0x73, 0x74, 0x78, 0x7C)
SC_SERIALIZABLE: Final = 0x02

# serialVersionUIDs the JDK declares (unchanged since 1.0/1.1).
NUMBER_SUID: Final = -8742448824652078965
LONG_SUID: Final = 4290774380558885855
INTEGER_SUID: Final = 1360826667806852920
BOOLEAN_SUID: Final = -3665804199014368530

INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1
LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1


def mutf8(s: str) -> bytes:
    """Java's modified UTF-8: NUL as C0 80, characters beyond the BMP as two 3-byte
    surrogates (what `DataOutputStream.writeUTF` writes)."""
    out = bytearray()
    for ch in s:
        c = ord(ch)
        if 0 < c < 0x80:
            out.append(c)
        elif c < 0x800:  # NUL lands here: C0 80
            out += bytes((0xC0 | c >> 6, 0x80 | c & 0x3F))
        elif c < 0x10000:
            out += bytes((0xE0 | c >> 12, 0x80 | c >> 6 & 0x3F, 0x80 | c & 0x3F))
        else:
            c -= 0x10000
            for u in (0xD800 | c >> 10, 0xDC00 | c & 0x3FF):
                out += bytes((0xE0 | u >> 12, 0x80 | u >> 6 & 0x3F, 0x80 | u & 0x3F))
    return bytes(out)


def _utf(s: str) -> bytes:
    b = mutf8(s)
    return struct.pack(">H", len(b)) + b


def _classdesc(name: str, suid: int, fields: list[tuple[str, str]], parent: bytes) -> bytes:
    """TC_CLASSDESC name suid flags fields TC_ENDBLOCKDATA superclass (primitive fields)."""
    body = bytearray((TC_CLASSDESC,))
    body += _utf(name) + struct.pack(">qBH", suid, SC_SERIALIZABLE, len(fields))
    for code, fname in fields:
        body += code.encode("ascii") + _utf(fname)
    body.append(TC_ENDBLOCKDATA)
    return bytes(body) + parent


_NUMBER: Final = _classdesc("java.lang.Number", NUMBER_SUID, [], bytes((TC_NULL,)))
_LONG_HEAD: Final = MAGIC + bytes((TC_OBJECT,)) + _classdesc(
    "java.lang.Long", LONG_SUID, [("J", "value")], _NUMBER)
_INTEGER_HEAD: Final = MAGIC + bytes((TC_OBJECT,)) + _classdesc(
    "java.lang.Integer", INTEGER_SUID, [("I", "value")], _NUMBER)
_BOOLEAN_HEAD: Final = MAGIC + bytes((TC_OBJECT,)) + _classdesc(
    "java.lang.Boolean", BOOLEAN_SUID, [("Z", "value")], bytes((TC_NULL,)))


def jstring(s: str) -> bytes:
    """`writeObject(String)`: TC_STRING with a u16 length, TC_LONGSTRING beyond 65535 bytes."""
    b = mutf8(s)
    if len(b) <= 0xFFFF:
        return MAGIC + bytes((TC_STRING,)) + struct.pack(">H", len(b)) + b
    return MAGIC + bytes((TC_LONGSTRING,)) + struct.pack(">q", len(b)) + b


def jlong(v: int) -> bytes:
    """`writeObject(Long.valueOf(v))`."""
    if not LONG_MIN <= v <= LONG_MAX:
        raise ValueError(f"{v} does not fit a java.lang.Long")
    return _LONG_HEAD + struct.pack(">q", v)


def jint(v: int) -> bytes:
    """`writeObject(Integer.valueOf(v))`."""
    if not INT_MIN <= v <= INT_MAX:
        raise ValueError(f"{v} does not fit a java.lang.Integer")
    return _INTEGER_HEAD + struct.pack(">i", v)


def jboolean(v: bool) -> bytes:
    """`writeObject(Boolean.valueOf(v))`."""
    return _BOOLEAN_HEAD + (b"\x01" if v else b"\x00")


def jvalue(v: str | bool | int) -> bytes:
    """A Python scalar as Spring would store it: str -> String, bool -> Boolean,
    int -> Integer when it fits 32 bits, else Long."""
    if isinstance(v, bool):
        return jboolean(v)
    if isinstance(v, int):
        return jint(v) if INT_MIN <= v <= INT_MAX else jlong(v)
    if isinstance(v, str):
        return jstring(v)
    raise TypeError(f"no JDK serialization for {type(v).__name__}")
