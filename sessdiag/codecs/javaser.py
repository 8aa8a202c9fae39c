"""Java Object Serialization streams (`ObjectOutputStream`), parsed from bytes, never instantiated.

Spring Session's default `JdkSerializationRedisSerializer` writes one object per value:
boxed numbers (`creationTime` is a `java.lang.Long`, `maxInactiveInterval` an `Integer`),
strings, collections and arbitrary application classes. This module reads the grammar of the
Java Object Serialization Specification, chapter 6 (magic, TC_* records, class descriptors,
handles, block data) into JSON-ready typed values:

- strings -> ``{"type": "java.lang.String", "value": s}``;
- boxed primitives -> ``{"type": "java.lang.Long", "value": 1404360000000}``;
- ``java.util.Date`` -> ISO 8601 text; enums -> the constant name;
- ArrayList/LinkedList/HashSet/… -> list of typed values, HashMap/TreeMap/… -> a string-keyed
  object when every key is a string, else a list of ``{"key", "value"}``;
- any other class -> ``{"type": class, "value": {field: typed, …}}`` plus the raw block data
  of its ``writeObject`` annotation, base64-encoded;
- primitive arrays as plain lists (``byte[]`` as base64), object arrays as lists of typed values;
- ``TC_REFERENCE`` to an object already shown -> ``{"type": "ref", "value": handle}``.

Nothing is ever loaded, resolved or called: class names are strings. Limits are enforced
while parsing: nesting depth, handle count, a total work budget, and every declared length is
checked against the bytes actually left before anything is sliced or allocated. A reference
shows a string or an immutable scalar (boxed number, enum constant, class) again only while the
text it repeats stays under 4 x the input + 64 KiB in all; beyond that, and for every other
object, it is a ``ref``: output never outgrows the input by more than that, and has no cycles.

Cost: time linear in the input (each work unit consumes input bytes, except references, which
take 5). Peak memory at most 400 bytes of Python objects per input byte (a 1-byte TC_NULL
element becomes one typed dict in a list; measured 200) plus the input, and the work budget
(50,000 + 4 x input units, at most MAX_NODES = 250,000) caps it at ~60 MB whatever the input.

Externalizable classes written without block data (protocol 1) cannot be skipped safely and
are reported as undecodable, as are streams naming well-known deserialization gadget classes
(commons-collections transformers, TemplatesImpl, AnnotationInvocationHandler, dynamic
proxies …): such a value is an attack payload, not a session attribute.
"""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime
from typing import Any, Final

from sessdiag.codecs import MAX_NODES
from sessdiag.core.errors import DecodeError

MAGIC: Final = b"\xac\xed\x00\x05"
MAX_DEPTH: Final = 160
MAX_HANDLES: Final = 200_000
DEFAULT_MAX_SIZE: Final = 64 * 1024 * 1024

TC_NULL, TC_REFERENCE, TC_CLASSDESC, TC_OBJECT, TC_STRING, TC_ARRAY, TC_CLASS = range(0x70, 0x77)
TC_BLOCKDATA, TC_ENDBLOCKDATA, TC_RESET, TC_BLOCKDATALONG, TC_EXCEPTION = range(0x77, 0x7C)
TC_LONGSTRING, TC_PROXYCLASSDESC, TC_ENUM = 0x7C, 0x7D, 0x7E
BASE_HANDLE: Final = 0x7E0000

SC_WRITE_METHOD, SC_SERIALIZABLE, SC_EXTERNALIZABLE, SC_BLOCK_DATA, SC_ENUM = 1, 2, 4, 8, 16

# Fast paths: the exact bytes JdkSerializationRedisSerializer writes for a Long / Integer.
LONG_PREFIX: Final = bytes.fromhex(
    "aced00057372000e6a6176612e6c616e672e4c6f6e673b8be490cc8f23df0200014a000576616c7565"
    "787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b0200007870")
INTEGER_PREFIX: Final = bytes.fromhex(
    "aced0005737200116a6176612e6c616e672e496e746567657212e2a0a4f781873802000149000576616c7565"
    "787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b0200007870")

# Classes whose only purpose in a serialized stream is to run code on deserialization
# (ysoserial's gadget chains and friends). Prefix match on the class name.
GADGET_PREFIXES: Final = (
    "org.apache.commons.collections.functors.",
    "org.apache.commons.collections4.functors.",
    "org.apache.commons.beanutils.BeanComparator",
    "org.apache.xalan.xsltc.trax.TemplatesImpl",
    "com.sun.org.apache.xalan.internal.xsltc.trax.TemplatesImpl",
    "sun.reflect.annotation.AnnotationInvocationHandler",
    "javax.management.BadAttributeValueExpException",
    "com.sun.rowset.JdbcRowSetImpl",
    "org.codehaus.groovy.runtime.MethodClosure",
    "org.codehaus.groovy.runtime.ConvertedClosure",
    "org.springframework.beans.factory.ObjectFactory",
    "org.springframework.core.SerializableTypeWrapper",
    "org.springframework.aop.framework.JdkDynamicAopProxy",
    "com.mchange.v2.c3p0.",
    "org.hibernate.tuple.component.",
    "org.hibernate.engine.spi.TypedValue",
    "bsh.XThis",
    "clojure.core$",
    "org.mozilla.javascript.NativeJavaObject",
    "org.python.core.PyFunction",
    "java.rmi.server.RemoteObjectInvocationHandler",
    "sun.rmi.server.UnicastRef",
    "javax.script.ScriptEngineManager",
    "com.sun.jndi.",
    "java.lang.reflect.Proxy",
    "java.lang.ProcessBuilder",
    "java.lang.Runtime",
)

_BOXED: Final = {
    "java.lang.Long", "java.lang.Integer", "java.lang.Short", "java.lang.Byte",
    "java.lang.Double", "java.lang.Float", "java.lang.Boolean", "java.lang.Character",
}
_LISTS: Final = {
    "java.util.ArrayList", "java.util.LinkedList", "java.util.Vector",
    "java.util.HashSet", "java.util.LinkedHashSet", "java.util.TreeSet",
    "java.util.ArrayDeque", "java.util.concurrent.CopyOnWriteArrayList",
}
_MAPS: Final = {
    "java.util.HashMap", "java.util.LinkedHashMap", "java.util.TreeMap", "java.util.Hashtable",
    "java.util.concurrent.ConcurrentHashMap", "java.util.Properties", "java.util.IdentityHashMap",
    "java.util.WeakHashMap",
}
_PRIM_SIZES: Final = {"B": 1, "C": 2, "D": 8, "F": 4, "I": 4, "J": 8, "S": 2, "Z": 1}
_PRIM_NAMES: Final = {"B": "byte", "C": "char", "D": "double", "F": "float", "I": "int",
                      "J": "long", "S": "short", "Z": "boolean"}


class _ClassDesc:
    __slots__ = ("fields", "flags", "name", "proxy", "suid", "super")

    def __init__(self, name: str, suid: int, flags: int = 0) -> None:
        self.name = name
        self.suid = suid
        self.flags = flags
        self.fields: list[tuple[str, str, str | None]] = []  # (typecode, name, class sig)
        self.super: _ClassDesc | None = None
        self.proxy = False

    def chain(self) -> list[_ClassDesc]:
        """Superclass first, as class data is written."""
        out: list[_ClassDesc] = []
        d: _ClassDesc | None = self
        while d is not None and len(out) < 64:
            out.append(d)
            d = d.super
        out.reverse()
        return out


class _Annotation:
    """The contents of a writeObject annotation: block bytes and objects, in order."""

    __slots__ = ("blocks", "objects")

    def __init__(self) -> None:
        self.blocks = bytearray()
        self.objects: list[Any] = []


class _Parser:
    def __init__(self, data: bytes, max_work: int) -> None:
        self.d = data
        self.i = 0
        self.handles: list[Any] = []
        self.work = 0
        self.max_work = max_work
        self.repeat_budget = 4 * len(data) + 65536

    # -- primitives ---------------------------------------------------------------------
    def fail(self, msg: str) -> DecodeError:
        return DecodeError(msg, self.i)

    def need(self, n: int) -> None:
        if n < 0 or n > len(self.d) - self.i:
            raise self.fail(f"length {n} beyond the data")

    def u8(self) -> int:
        self.need(1)
        v = self.d[self.i]
        self.i += 1
        return v

    def peek(self) -> int:
        if self.i >= len(self.d):
            raise self.fail("unexpected end of data")
        return self.d[self.i]

    def take(self, n: int) -> bytes:
        self.need(n)
        v = self.d[self.i : self.i + n]
        self.i += n
        return v

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def i32(self) -> int:
        return int.from_bytes(self.take(4), "big", signed=True)

    def i64(self) -> int:
        return int.from_bytes(self.take(8), "big", signed=True)

    def utf(self, long: bool = False) -> str:
        n = self.i64() if long else self.u16()
        return _mutf8(self.take(n), self.i)

    def tick(self, n: int = 1) -> None:
        self.work += n
        if self.work > self.max_work:
            raise self.fail("work budget exhausted")

    def repeat(self, v: Any) -> bool:
        """May a reference show this scalar again? Charges its text against the budget."""
        if isinstance(v, str):
            cost = len(v)
        elif v is None or isinstance(v, int | float):
            cost = 8
        else:
            return False  # a structure behind a "boxed" class: a ref, never a second copy
        if cost > self.repeat_budget:
            return False
        self.repeat_budget -= cost
        return True

    def new_handle(self, obj: Any) -> int:
        if len(self.handles) >= MAX_HANDLES:
            raise self.fail("too many handles")
        self.handles.append(obj)
        return len(self.handles) - 1

    def ref(self) -> Any:
        return self.handles[self.ref_index()]

    def ref_index(self) -> int:
        h = self.i32() - BASE_HANDLE
        if not 0 <= h < len(self.handles):
            raise self.fail(f"reference to unknown handle {h + BASE_HANDLE:#x}")
        return h

    # -- grammar ------------------------------------------------------------------------
    def content(self, depth: int) -> Any:
        """One `content`: an object or a block of data (returned as bytes)."""
        tc = self.peek()
        if tc == TC_BLOCKDATA:
            self.i += 1
            return bytes(self.take(self.u8()))
        if tc == TC_BLOCKDATALONG:
            self.i += 1
            n = self.i32()
            return bytes(self.take(n))
        return self.obj(depth)

    def obj(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.fail("nesting too deep")
        self.tick()
        tc = self.u8()
        while tc == TC_RESET:  # a loop, not a recursion: resets may repeat without end
            self.handles.clear()
            self.tick()
            tc = self.u8()
        if tc == TC_NULL:
            return {"type": "null", "value": None}
        if tc == TC_REFERENCE:
            h = self.ref_index()
            target = self.handles[h]
            if isinstance(target, _ClassDesc):
                raise self.fail("reference to a class descriptor where an object was expected")
            if isinstance(target, dict) and (
                    target.get("type") == "java.lang.String" or target.get("_boxed")
                    or target.get("_inline")) and self.repeat(target.get("value")):
                # Immutable values (strings, boxed numbers, enum constants, classes) are shown
                # again, while what they repeat stays within the budget.
                return {k: v for k, v in target.items() if k not in ("_boxed", "_inline")}
            return {"type": "ref", "value": h + BASE_HANDLE,
                    "class": target.get("type") if isinstance(target, dict) else None}
        if tc in (TC_STRING, TC_LONGSTRING):
            v = {"type": "java.lang.String", "value": self.utf(tc == TC_LONGSTRING)}
            self.new_handle(v)
            return v
        if tc == TC_OBJECT:
            return self.new_object(depth)
        if tc == TC_ARRAY:
            return self.new_array(depth)
        if tc == TC_ENUM:
            desc = self.class_desc(depth)
            holder: dict = {"type": desc.name if desc else "enum", "value": None}
            self.new_handle(holder)
            name = self.obj(depth + 1)
            holder["value"] = name.get("value") if isinstance(name, dict) else None
            holder["_inline"] = True
            return {"type": holder["type"], "value": holder["value"]}
        if tc == TC_CLASS:
            desc = self.class_desc(depth)
            v = {"type": "java.lang.Class", "value": desc.name if desc else None, "_inline": True}
            self.new_handle(v)
            return {"type": "java.lang.Class", "value": v["value"]}
        if tc in (TC_CLASSDESC, TC_PROXYCLASSDESC):
            self.i -= 1
            desc = self.class_desc(depth)
            return {"type": "java.io.ObjectStreamClass", "value": desc.name if desc else None}
        if tc == TC_EXCEPTION:
            raise self.fail("stream holds a serialization exception")
        raise DecodeError(f"unknown type code {tc:#04x}", self.i - 1)

    def class_desc(self, depth: int) -> _ClassDesc | None:
        if depth > MAX_DEPTH:
            raise self.fail("nesting too deep")
        self.tick()
        tc = self.u8()
        if tc == TC_NULL:
            return None
        if tc == TC_REFERENCE:
            d = self.ref()
            if not isinstance(d, _ClassDesc):
                raise self.fail("reference to a non-descriptor where a class was expected")
            return d
        if tc == TC_PROXYCLASSDESC:
            raise self.fail("dynamic proxy class descriptor (a deserialization gadget)")
        if tc != TC_CLASSDESC:
            raise DecodeError(f"expected a class descriptor, got {tc:#04x}", self.i - 1)
        name = self.utf()
        suid = self.i64()
        for p in GADGET_PREFIXES:
            if name.startswith(p):
                raise self.fail(f"gadget class {name} (a deserialization attack payload)")
        desc = _ClassDesc(name, suid)
        self.new_handle(desc)
        desc.flags = self.u8()
        n = self.u16()
        self.need(n * 3)  # each field: typecode + u16 name length at least
        for _ in range(n):
            self.tick()
            code = chr(self.u8())
            fname = self.utf()
            sig = None
            if code in ("[", "L"):
                s = self.obj(depth + 1)
                if not isinstance(s, dict) or s.get("type") != "java.lang.String":
                    raise self.fail("field class name is not a string")
                sig = s["value"]
            elif code not in _PRIM_SIZES:
                raise self.fail(f"bad field type code {code!r}")
            desc.fields.append((code, fname, sig))
        self.annotation(depth + 1)  # classAnnotation: ignored
        desc.super = self.class_desc(depth + 1)
        if desc.flags & SC_EXTERNALIZABLE and desc.flags & SC_SERIALIZABLE:
            raise self.fail("class both serializable and externalizable")
        return desc

    def annotation(self, depth: int) -> _Annotation:
        ann = _Annotation()
        while True:
            self.tick()
            if self.peek() == TC_ENDBLOCKDATA:
                self.i += 1
                return ann
            c = self.content(depth)
            if isinstance(c, bytes):
                ann.blocks += c
            else:
                ann.objects.append(c)

    def prim(self, code: str) -> Any:
        if code == "B":
            return int.from_bytes(self.take(1), "big", signed=True)
        if code == "C":
            return _char(self.u16())
        if code == "D":
            return _num(struct.unpack(">d", self.take(8))[0])
        if code == "F":
            return _num(struct.unpack(">f", self.take(4))[0])
        if code == "I":
            return self.i32()
        if code == "J":
            return self.i64()
        if code == "S":
            return int.from_bytes(self.take(2), "big", signed=True)
        if code == "Z":
            return self.u8() != 0
        raise self.fail(f"bad primitive {code!r}")

    def new_object(self, depth: int) -> Any:
        desc = self.class_desc(depth + 1)
        if desc is None:
            raise self.fail("object without a class")
        holder: dict[str, Any] = {"type": desc.name, "value": None}
        self.new_handle(holder)
        fields: dict[str, Any] = {}
        ann_all = _Annotation()
        for d in desc.chain():
            if d.flags & SC_EXTERNALIZABLE:
                if not d.flags & SC_BLOCK_DATA:
                    raise self.fail(f"externalizable {d.name} without block data")
                a = self.annotation(depth + 1)
                ann_all.blocks += a.blocks
                ann_all.objects.extend(a.objects)
                continue
            if not d.flags & SC_SERIALIZABLE:
                continue
            for code, fname, _sig in d.fields:
                self.tick()
                if code in ("[", "L"):
                    fields[fname] = self.obj(depth + 1)
                else:
                    fields[fname] = {"type": _PRIM_NAMES[code], "value": self.prim(code)}
            if d.flags & SC_WRITE_METHOD:
                a = self.annotation(depth + 1)
                ann_all.blocks += a.blocks
                ann_all.objects.extend(a.objects)
        holder["value"] = _readable(desc.name, fields, ann_all, holder)
        if desc.name in _BOXED and "value" in fields:
            holder["_boxed"] = True
            out = {"type": desc.name, "value": fields["value"]["value"]}
            return out
        return holder

    def new_array(self, depth: int) -> Any:
        desc = self.class_desc(depth + 1)
        # "[" + an element type: a primitive code, "[" (nested array) or "L" (objects).
        if desc is None or len(desc.name) < 2 or desc.name[0] != "[" or (
                desc.name[1] not in _PRIM_SIZES and desc.name[1] not in "[L"):
            raise self.fail("array without an array class")
        holder: dict[str, Any] = {"type": desc.name, "value": None}
        self.new_handle(holder)
        n = self.i32()
        code = desc.name[1]
        if n < 0:
            raise self.fail("negative array length")
        if code in _PRIM_SIZES:
            size = _PRIM_SIZES[code]
            self.need(n * size)
            self.tick(n // 64 + 1)
            if code == "B":
                holder["value"] = base64.b64encode(self.take(n)).decode("ascii")
            else:
                holder["value"] = [self.prim(code) for _ in range(n)]
        else:
            self.need(n)  # every element takes at least one byte
            holder["value"] = [self.obj(depth + 1) for _ in range(n)]
        return holder


def _num(f: float) -> float | str:
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    return f


def _char(unit: int) -> str:
    """A Java char is a UTF-16 code unit. Half a surrogate pair is not a character: no UTF-8
    output can hold it (and strict JSON readers refuse its escape), so it is named by its code."""
    return f"U+{unit:04X}" if 0xD800 <= unit <= 0xDFFF else chr(unit)


def _mutf8(raw: bytes, at: int) -> str:
    """Java's modified UTF-8: NUL as C0 80, supplementary characters as surrogate pairs."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        s = raw.replace(b"\xc0\x80", b"\x00").decode("utf-8", "surrogatepass")
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    except UnicodeDecodeError as exc:
        raise DecodeError("bad modified UTF-8 string", at) from exc


def _entries(items: list[Any]) -> dict | list:
    pairs = list(zip(items[0::2], items[1::2], strict=False))
    if all(isinstance(k, dict) and k.get("type") == "java.lang.String" for k, _ in pairs):
        return {k["value"]: v for k, v in pairs}
    return [{"key": k, "value": v} for k, v in pairs]


def _readable(name: str, fields: dict, ann: _Annotation, holder: dict) -> Any:
    """Collections by their data, boxed values by value, other classes by their fields."""
    if name in _LISTS:
        return ann.objects
    if name in _MAPS:
        return _entries(ann.objects)
    if name == "java.util.Date" and len(ann.blocks) >= 8:
        ms = int.from_bytes(ann.blocks[:8], "big", signed=True)
        try:
            return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")
        except (OverflowError, OSError, ValueError):
            return ms
    if name.startswith("java.util.Collections$"):
        for key in ("m", "c", "list", "element", "s"):
            if key in fields:
                return fields[key]["value"] if isinstance(fields[key], dict) else fields[key]
    if name in _BOXED and "value" in fields:
        return fields["value"]["value"]
    out: dict[str, Any] = dict(fields)
    if ann.objects:
        out["@data"] = ann.objects
    if ann.blocks:
        out["@block"] = {"type": "bytes", "value": base64.b64encode(bytes(ann.blocks)).decode()}
    return out


def _work_limit(n: int) -> int:
    return min(MAX_NODES, 50_000 + 4 * n)


def decode(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> Any:
    """One serialized object -> typed value. Raises DecodeError on anything else."""
    if len(data) > max_size:
        raise DecodeError(f"value larger than {max_size} bytes", 0)
    if data[:4] != MAGIC:
        raise DecodeError("not a Java serialization stream (no aced0005 magic)", 0)
    # The fast paths Spring writes millions of times.
    if len(data) == 82 and data[:74] == LONG_PREFIX:
        return {"type": "java.lang.Long", "value": int.from_bytes(data[74:], "big", signed=True)}
    if len(data) == 81 and data[:77] == INTEGER_PREFIX:
        return {"type": "java.lang.Integer",
                "value": int.from_bytes(data[77:], "big", signed=True)}
    p = _Parser(data, _work_limit(len(data)))
    p.i = 4
    try:
        v = p.obj(0)
    except RecursionError as exc:
        raise DecodeError("nesting too deep", p.i) from exc
    if p.i != len(data):
        raise p.fail("trailing bytes after the object")
    return _strip(v)


def _strip(v: Any) -> Any:
    """Drop internal markers (iteratively: output can be deep)."""
    stack = [v]
    seen = 0
    while stack:
        x = stack.pop()
        seen += 1
        if seen > 5_000_000:
            break
        if isinstance(x, dict):
            x.pop("_boxed", None)
            x.pop("_inline", None)
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    return v


def long_value(data: bytes) -> int | None:
    """A serialized java.lang.Long/Integer's value, cheaply; None if it is not one."""
    n = len(data)
    if n == 82 and data[:74] == LONG_PREFIX:
        return int.from_bytes(data[74:], "big", signed=True)
    if n == 81 and data[:77] == INTEGER_PREFIX:
        return int.from_bytes(data[77:], "big", signed=True)
    if data[:4] != MAGIC:
        return None
    try:
        v = decode(data)
    except DecodeError:
        return None
    if isinstance(v, dict) and isinstance(v.get("value"), int) and not isinstance(
            v.get("value"), bool):
        return v["value"]
    return None


def string_value(data: bytes) -> str | None:
    """A serialized java.lang.String (``aced0005 74 <u16> utf``), cheaply; None otherwise."""
    if data[:5] == b"\xac\xed\x00\x05t" and len(data) >= 7:
        n = int.from_bytes(data[5:7], "big")
        if len(data) == 7 + n:
            try:
                return _mutf8(data[7:], 7)
            except DecodeError:
                return None
    return None
