"""Python pickles inspected opcode by opcode: never `pickle.loads`, nothing imported or called.

Flask-Session ≤ 0.5 stores ``pickle.dumps(dict(session))`` and Django's cache backends store a
pickled dict. This module walks the opcode stream with ``pickletools.genops`` (a parser: it
reads opcodes and their arguments and never executes them) and runs a *symbolic* stack machine:
literals become typed values, containers are built from them, and ``GLOBAL``/``STACK_GLOBAL``
push a marker ``callable module.name`` that is recorded, never resolved.

A ``REDUCE``/``INST``/``OBJ`` of a callable is only shown for a short allow-list of harmless
constructors that sessions really contain (``datetime.datetime``, ``decimal.Decimal``,
``uuid.UUID``, ``collections.OrderedDict``, ``copyreg._reconstructor`` …): any other call —
``os.system``, ``subprocess.Popen``, ``builtins.eval`` … — makes the value undecodable
(``DecodeError``), because a session payload that would call it on load is an attack, not data.
``NEWOBJ``/``BUILD`` of an application class (``cls.__new__`` + ``__dict__`` update) is shown
as ``{"type": "module.Class", "value": state}``.

Nothing attacker-shaped is ever hashed or compared: a dict is kept as its list of (key, value)
pairs, so a tuple key nested 150,000 deep (which crashed CPython's hash in C) or two equal
1,000-deep keys (RecursionError in ==) are just values, and nesting is only measured when the
output is built, which stops at MAX_DEPTH. A str-keyed dict comes out as an object (the last
value of a repeated key wins, as in Python); any other key makes it a list of pairs.

Bounds: input size, opcode count, stack and memo sizes, nesting depth of the output, and the
number of output nodes: at most 4 x the input + 2,000 (and MAX_NODES), so memo fan-out (a
value reused at every level) stops after time and memory proportional to the input. A value
met again on its own path (a list containing itself) is a ``ref``. Time: linear in the input
(genops reads each byte once; APPENDs extend in place). Peak memory: at most 400 bytes of
Python objects per input byte (measured worst 311: a dict of ``None: None`` pairs) plus 8 MB,
and MAX_NODES output nodes (~60 MB) whatever the input.
"""

from __future__ import annotations

import base64
import io
import pickletools
from typing import Any, Final

from sessdiag.codecs import MAX_NODES, typed_int
from sessdiag.core.errors import DecodeError

DEFAULT_MAX_SIZE: Final = 16 * 1024 * 1024
MAX_OPS: Final = 1_000_000
MAX_DEPTH: Final = 256
MAX_MEMO: Final = 1_000_000

SAFE_CALLABLES: Final = frozenset({
    "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta",
    "datetime.timezone", "decimal.Decimal", "uuid.UUID", "collections.OrderedDict",
    "collections.defaultdict", "collections.deque", "builtins.set", "builtins.frozenset",
    "builtins.bytearray", "builtins.bytes", "builtins.complex", "builtins.list",
    "builtins.dict", "builtins.tuple", "builtins.object", "builtins.str", "builtins.int",
    "builtins.float", "builtins.bool", "__builtin__.set", "__builtin__.frozenset",
    "__builtin__.bytearray", "__builtin__.object", "copyreg._reconstructor",
    "copy_reg._reconstructor", "copyreg.__newobj__", "_codecs.encode", "pytz._UTC", "pytz._p",
    "zoneinfo.ZoneInfo", "datetime.tzinfo", "fractions.Fraction", "ipaddress.IPv4Address",
    "ipaddress.IPv6Address", "pathlib.PosixPath", "enum.Enum",
})


class _Mark:
    __slots__ = ()


MARK = _Mark()


class Callable_:
    """A GLOBAL reference: a name, never resolved."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class PDict:
    """A dict as its (key, value) pairs, in order: keys are never hashed nor compared."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[Any, Any]] | None = None) -> None:
        self.pairs = pairs if pairs is not None else []


class Obj:
    """An instance built by NEWOBJ/REDUCE: class name, args, and state from BUILD."""

    __slots__ = ("args", "cls", "state")

    def __init__(self, cls: str, args: Any) -> None:
        self.cls = cls
        self.args = args
        self.state: Any = None


def _check_callable(name: str, offset: int) -> None:
    if name not in SAFE_CALLABLES:
        raise DecodeError(f"pickle would call {name} on load (not a session value)", offset)


def walk(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> tuple[Any, list[str]]:
    """Run the pickle symbolically -> (top value as Python data, callables named)."""
    v, callables, _ = _walk(data, max_size)
    return v, callables


def _walk(data: bytes, max_size: int) -> tuple[Any, list[str], dict[int, Any]]:
    if len(data) > max_size:
        raise DecodeError(f"value larger than {max_size} bytes", 0)
    if not data:
        raise DecodeError("empty pickle", 0)
    stack: list[Any] = []
    marks: list[int] = []
    memo: dict[int, Any] = {}
    callables: list[str] = []
    ops = 0
    pos = 0
    result: Any = None
    done = False
    try:
        for op, arg, pos in pickletools.genops(io.BytesIO(data)):
            ops += 1
            if ops > MAX_OPS:
                raise DecodeError("too many opcodes", pos or 0)
            if len(stack) > MAX_OPS:
                raise DecodeError("stack too large", pos or 0)
            name = op.name
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                if not stack:
                    raise DecodeError("STOP with an empty stack", pos or 0)
                result = stack.pop()
                done = True
                break
            if name in ("MARK",):
                marks.append(len(stack))
                continue
            if name in ("NONE",):
                stack.append(None)
            elif name in ("NEWTRUE",):
                stack.append(True)
            elif name in ("NEWFALSE",):
                stack.append(False)
            elif name in ("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4",
                          "FLOAT", "BINFLOAT", "STRING", "BINSTRING", "SHORT_BINSTRING",
                          "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
                          "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8"):
                if name == "INT" and isinstance(arg, bool):
                    stack.append(bool(arg))
                elif name == "BYTEARRAY8":
                    stack.append(bytearray(arg))
                else:
                    stack.append(arg)
            elif name == "EMPTY_DICT":
                stack.append(PDict())
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name == "EMPTY_SET":
                stack.append(set_marker([]))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                if len(stack) < n:
                    raise DecodeError("stack underflow", pos or 0)
                items = tuple(stack[-n:])
                del stack[-n:]
                stack.append(items)
            elif name in ("TUPLE", "LIST", "DICT", "FROZENSET"):
                items = _pop_mark(stack, marks, pos)
                if name == "TUPLE":
                    stack.append(tuple(items))
                elif name == "LIST":
                    stack.append(list(items))
                elif name == "FROZENSET":
                    stack.append(set_marker(items))
                else:
                    stack.append(PDict(_pairs(items, pos)))
            elif name in ("APPEND", "APPENDS", "ADDITEMS"):
                if name == "APPEND":
                    if len(stack) < 2:
                        raise DecodeError("stack underflow", pos or 0)
                    items = [stack.pop()]
                else:
                    items = _pop_mark(stack, marks, pos)
                if not stack:
                    raise DecodeError("stack underflow", pos or 0)
                target = stack[-1]
                if isinstance(target, list):
                    target.extend(items)
                elif isinstance(target, SetMarker):
                    target.items.extend(items)
                elif isinstance(target, Obj):
                    # In place: a copy per APPEND made 400 KB of input take 47 s.
                    if isinstance(target.state, list):
                        target.state.extend(items)
                    else:
                        target.state = list(items)
                else:
                    raise DecodeError(f"{name} on a non-list", pos or 0)
            elif name in ("SETITEM", "SETITEMS"):
                if name == "SETITEM":
                    if len(stack) < 3:
                        raise DecodeError("stack underflow", pos or 0)
                    v = stack.pop()
                    k = stack.pop()
                    items = [k, v]
                else:
                    items = _pop_mark(stack, marks, pos)
                if not stack:
                    raise DecodeError("stack underflow", pos or 0)
                target = stack[-1]
                if isinstance(target, PDict):
                    target.pairs.extend(_pairs(items, pos))
                elif isinstance(target, Obj):
                    if not isinstance(target.state, PDict):
                        target.state = PDict()
                    target.state.pairs.extend(_pairs(items, pos))
                else:
                    raise DecodeError(f"{name} on a non-dict", pos or 0)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                if not stack:
                    raise DecodeError("memoize with an empty stack", pos or 0)
                if len(memo) >= MAX_MEMO:
                    raise DecodeError("memo too large", pos or 0)
                idx = len(memo) if name == "MEMOIZE" else int(arg)
                memo[idx] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                idx = int(arg)
                if idx not in memo:
                    raise DecodeError(f"memo key {idx} missing", pos or 0)
                stack.append(memo[idx])
            elif name == "POP":
                if not stack:
                    raise DecodeError("stack underflow", pos or 0)
                stack.pop()
            elif name == "POP_MARK":
                _pop_mark(stack, marks, pos)
            elif name == "DUP":
                if not stack:
                    raise DecodeError("stack underflow", pos or 0)
                stack.append(stack[-1])
            elif name in ("GLOBAL", "INST"):
                mod, _, qual = str(arg).partition(" ")
                cname = f"{mod}.{qual}"
                callables.append(cname)
                if name == "INST":
                    _check_callable(cname, pos or 0)
                    args = _pop_mark(stack, marks, pos)
                    stack.append(Obj(cname, tuple(args)))
                else:
                    stack.append(Callable_(cname))
            elif name == "STACK_GLOBAL":
                if len(stack) < 2:
                    raise DecodeError("stack underflow", pos or 0)
                qual = stack.pop()
                mod = stack.pop()
                if not isinstance(mod, str) or not isinstance(qual, str):
                    raise DecodeError("STACK_GLOBAL of non-strings", pos or 0)
                cname = f"{mod}.{qual}"
                callables.append(cname)
                stack.append(Callable_(cname))
            elif name in ("REDUCE", "NEWOBJ", "NEWOBJ_EX", "OBJ"):
                if name == "OBJ":
                    items = _pop_mark(stack, marks, pos)
                    if not items:
                        raise DecodeError("OBJ without a class", pos or 0)
                    fn, args = items[0], tuple(items[1:])
                else:
                    if len(stack) < 2:
                        raise DecodeError("stack underflow", pos or 0)
                    if name == "NEWOBJ_EX":
                        if len(stack) < 3:
                            raise DecodeError("stack underflow", pos or 0)
                        stack.pop()  # kwargs
                    args = stack.pop()
                    fn = stack.pop()
                if not isinstance(fn, Callable_):
                    raise DecodeError(f"{name} of a non-callable", pos or 0)
                if name in ("REDUCE", "OBJ"):
                    _check_callable(fn.name, pos or 0)
                stack.append(_construct(fn.name, args))
            elif name == "BUILD":
                if len(stack) < 2:
                    raise DecodeError("stack underflow", pos or 0)
                state = stack.pop()
                target = stack[-1]
                if isinstance(target, Obj):
                    target.state = state
                elif isinstance(target, PDict) and isinstance(state, PDict):
                    if state is not target:
                        target.pairs.extend(state.pairs)
                else:
                    raise DecodeError("BUILD on a non-object", pos or 0)
            elif name in ("PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4", "NEXT_BUFFER",
                          "READONLY_BUFFER"):
                raise DecodeError(f"unsupported opcode {name}", pos or 0)
            else:
                raise DecodeError(f"unknown opcode {name}", pos or 0)
    except DecodeError:
        raise
    except (ValueError, EOFError, IndexError, TypeError, UnicodeDecodeError,
            OverflowError, MemoryError) as exc:
        raise DecodeError(f"bad pickle: {exc}"[:200], pos or 0) from exc
    if not done:
        raise DecodeError("no STOP opcode", len(data))
    return result, callables, memo


def _pop_mark(stack: list, marks: list[int], pos: int | None) -> list:
    if not marks:
        raise DecodeError("no MARK on the stack", pos or 0)
    at = marks.pop()
    if at > len(stack):
        raise DecodeError("MARK beyond the stack", pos or 0)
    items = stack[at:]
    del stack[at:]
    return items


class SetMarker:
    __slots__ = ("items",)

    def __init__(self, items: list) -> None:
        self.items = items


def set_marker(items: list) -> SetMarker:
    return SetMarker(list(items))


def _pairs(items: list, pos: int | None) -> list[tuple[Any, Any]]:
    if len(items) % 2:
        raise DecodeError("odd number of dict items", pos or 0)
    return list(zip(items[0::2], items[1::2], strict=True))


def _construct(cls: str, args: Any) -> Any:
    if cls == "_codecs.encode" and isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0].encode("latin-1", "replace")
    if cls in ("builtins.set", "builtins.frozenset", "__builtin__.set", "__builtin__.frozenset"):
        inner = args[0] if isinstance(args, tuple) and args else []
        return set_marker(list(inner) if isinstance(inner, list | tuple) else [])
    if cls in ("copyreg._reconstructor", "copy_reg._reconstructor") and isinstance(
            args, tuple) and args:
        inner = args[0]
        return Obj(inner.name if isinstance(inner, Callable_) else "object", ())
    if cls == "copyreg.__newobj__" and isinstance(args, tuple) and args:
        inner = args[0]
        return Obj(inner.name if isinstance(inner, Callable_) else "object", args[1:])
    return Obj(cls, args)


class _Out:
    """State of one output walk: node budget, the containers on the current path."""

    __slots__ = ("budget", "memo_ids", "path")

    def __init__(self, budget: int, memo: dict[int, Any] | None = None) -> None:
        self.budget = budget
        self.path: set[int] = set()
        self.memo_ids = {id(v): k for k, v in (memo or {}).items()}


def _budget(size: int) -> int:
    return min(MAX_NODES, 4 * size + 2_000)


def _text(v: str, type_name: str = "str") -> dict:
    """A str as JSON-ready text: one with lone surrogates (pickle allows them) goes as base64."""
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raw = v.encode("utf-8", "surrogatepass")
        return {"type": type_name, "value": base64.b64encode(raw).decode("ascii"),
                "encoding": "base64"}
    return {"type": type_name, "value": v}


def _clean_key(k: Any) -> bool:
    if not isinstance(k, str):
        return False
    try:
        k.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_CONTAINERS = (list, tuple, PDict, SetMarker, Obj)


def typed(v: Any, depth: int = 0, out: _Out | None = None) -> dict:
    """A symbolic value -> the contract's typed JSON form (bounded: memo reuse can fan out)."""
    if out is None:
        out = _Out(MAX_NODES)
    out.budget -= 1
    if out.budget < 0:
        raise DecodeError("output budget exhausted (a value reused too often)", 0)
    if depth > MAX_DEPTH:
        raise DecodeError("nesting too deep", 0)
    if v is None:
        return {"type": "NoneType", "value": None}
    if isinstance(v, bool):
        return {"type": "bool", "value": v}
    if isinstance(v, int):
        return typed_int("int", v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return {"type": "float", "value": str(v)}
        return {"type": "float", "value": v}
    if isinstance(v, str):
        return _text(v)
    if isinstance(v, bytes | bytearray):
        return {"type": type(v).__name__, "value": base64.b64encode(bytes(v)).decode("ascii")}
    if isinstance(v, Callable_):
        return _text(v.name, "callable")
    if isinstance(v, _CONTAINERS):
        key = id(v)
        if key in out.path:  # the value contains itself
            return {"type": "ref", "value": out.memo_ids.get(key), "class": _kind(v)}
        out.path.add(key)
        try:
            return _container(v, depth, out)
        finally:
            out.path.discard(key)
    return {"type": type(v).__name__, "value": repr(v)[:200]}


def _kind(v: Any) -> str:
    if isinstance(v, PDict):
        return "dict"
    if isinstance(v, SetMarker):
        return "set"
    if isinstance(v, Obj):
        return v.cls
    return type(v).__name__


def _container(v: Any, depth: int, out: _Out) -> dict:
    if isinstance(v, tuple | list):
        return {"type": type(v).__name__, "value": [typed(x, depth + 1, out) for x in v]}
    if isinstance(v, SetMarker):
        return {"type": "set", "value": [typed(x, depth + 1, out) for x in v.items]}
    if isinstance(v, PDict):
        if all(_clean_key(k) for k, _ in v.pairs):
            return {"type": "dict", "value": {k: typed(x, depth + 1, out) for k, x in v.pairs}}
        return {"type": "dict", "value": [
            {"key": typed(k, depth + 1, out), "value": typed(x, depth + 1, out)}
            for k, x in v.pairs]}
    res: dict[str, Any] = {}
    if v.args is not None and not (isinstance(v.args, tuple) and not v.args):
        res["args"] = typed(v.args, depth + 1, out)
    if v.state is not None:
        res["state"] = typed(v.state, depth + 1, out)
    if v.cls == "datetime.datetime" and isinstance(v.args, tuple) and v.args and isinstance(
            v.args[0], bytes | str):
        when = _datetime(v.args)
        if when is not None:
            return {"type": "datetime.datetime", "value": when}
    return {"type": v.cls, "value": res}


def _datetime(args: tuple) -> str | None:
    """datetime's pickled state (10 bytes; a latin-1 str from Python 2) -> ISO text."""
    if isinstance(args[0], str):
        try:
            raw = args[0].encode("latin-1")
        except UnicodeEncodeError:
            return None  # not a datetime state: shown as the object it claims to be
    else:
        raw = bytes(args[0])
    if len(raw) != 10:
        return base64.b64encode(raw).decode("ascii")
    y = raw[0] * 256 + raw[1]
    us = int.from_bytes(raw[7:10], "big")
    return (f"{y:04d}-{raw[2]:02d}-{raw[3]:02d}T{raw[4]:02d}:{raw[5]:02d}:{raw[6]:02d}"
            + (f".{us:06d}" if us else ""))


def decode(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> dict:
    """A pickle -> typed value. DecodeError when malformed or when it would call something."""
    v, _, memo = _walk(data, max_size)
    return typed(v, 0, _Out(_budget(len(data)), memo))


def decode_session(data: bytes) -> list[dict]:
    """A pickled session dict -> [{"key": typed, "value": typed}]."""
    v, _, memo = _walk(data, DEFAULT_MAX_SIZE)
    if not isinstance(v, PDict):
        raise DecodeError("pickle holds no dict", 0)
    t = typed(v, 0, _Out(_budget(len(data)), memo))["value"]
    if isinstance(t, dict):
        return [{"key": {"type": "str", "value": k}, "value": x} for k, x in t.items()]
    return t
