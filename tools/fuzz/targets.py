"""Fuzz targets for sessdiag's decoders: entry points, seed corpora, and the invariants.

Shared by the short property-based run in the test suite (tests/codecs/test_fuzz.py) and the
long coverage-guided run (tools/fuzz/run.py, docs/fuzzing.md). For every input, each entry
point of a decoder must:

- return, or raise `DecodeError`: any other exception is a finding (it would abort a scan with
  exit 70, or kill the interpreter);
- return plain JSON data: `json.dumps(..., ensure_ascii=False, allow_nan=False)` works (no
  cycles, no NaN, no int past the 4,300-digit limit) and its text encodes as UTF-8 (no lone
  surrogates); and that JSON is at most OUT_FACTOR x the input + OUT_CONST characters;
- stay within its memory bound: tracemalloc's peak <= k x len(input) + c, with (k, c) from
  TARGETS (the figures each module's docstring states);
- stay within its time bound: <= TIME_PER_BYTE x len(input) + TIME_CONST seconds (generous:
  the machine is shared; quadratic behaviour on a few KB overshoots it by orders of magnitude).
"""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sessdiag.codecs import gob, javaser, jsonsafe, msgpack, phpser, pickleinspect, rubymarshal
from sessdiag.core.errors import DecodeError

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
REGRESSIONS = REPO / "tests" / "codecs" / "regressions"

OUT_FACTOR = 64
OUT_CONST = 4 * 1024 * 1024
TIME_PER_BYTE = 100e-6
TIME_CONST = 2.0


@dataclass(frozen=True)
class Target:
    name: str
    entries: tuple[Callable[[bytes], Any], ...]
    sniff: str  # the name sessdiag.frameworks.values.sniff gives this encoding
    mem_per_byte: int  # k: bytes of Python objects per input byte, at most
    mem_const: int  # c: bytes, whatever the input


def _gob_session(data: bytes) -> Any:
    return gob.decode_session(data)


def _gob_stream(data: bytes) -> Any:
    return gob.decode_stream(data)


TARGETS: dict[str, Target] = {t.name: t for t in (
    # gob's zero-filled struct fields are the one output that can outgrow the input: its work
    # budget (100,000 + 2 x input values) sets the constant.
    Target("gob", (_gob_session, _gob_stream), "gob", 600, 48 << 20),
    Target("javaser", (javaser.decode,), "jdk", 400, 4 << 20),
    Target("phpser", (phpser.decode_session, phpser.decode_serialized), "php", 150, 4 << 20),
    Target("pickleinspect", (pickleinspect.decode, pickleinspect.decode_session), "pickle",
           400, 8 << 20),
    Target("rubymarshal", (rubymarshal.decode, rubymarshal.decode_session), "marshal",
           400, 4 << 20),
    Target("msgpack", (msgpack.decode, msgpack.decode_session), "msgpack", 400, 4 << 20),
    Target("jsonsafe", (jsonsafe.decode, jsonsafe.decode_session), "json", 200, 4 << 20),
)}


class Finding(AssertionError):
    """An input that breaks an invariant (the message says which)."""


def check(name: str, data: bytes, *, memory: bool = True, timing: bool = True) -> None:
    """Run every entry point of decoder `name` on `data`; raise Finding on a broken invariant."""
    t = TARGETS[name]
    for entry in t.entries:
        if memory:
            tracemalloc.start()
        start = time.process_time()
        try:
            try:
                out = entry(data)
            except DecodeError:
                out = None
            except Exception as exc:  # the finding itself: anything but DecodeError
                raise Finding(f"{name}.{entry.__name__} raised {type(exc).__name__}: "
                              f"{str(exc)[:200]}") from exc
            elapsed = time.process_time() - start
            peak = tracemalloc.get_traced_memory()[1] if memory else 0
        finally:
            if memory:
                tracemalloc.stop()
        if timing and elapsed > TIME_PER_BYTE * len(data) + TIME_CONST:
            raise Finding(f"{name}.{entry.__name__}: {elapsed:.2f} s for {len(data)} bytes")
        if memory and peak > t.mem_per_byte * len(data) + t.mem_const:
            raise Finding(f"{name}.{entry.__name__}: peak {peak} bytes for {len(data)} bytes "
                          f"(bound {t.mem_per_byte} x input + {t.mem_const})")
        if out is None:
            continue
        try:
            text = json.dumps(out, ensure_ascii=False, allow_nan=False)
            text.encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:  # UnicodeError is a ValueError
            raise Finding(f"{name}.{entry.__name__}: output not JSON: "
                          f"{type(exc).__name__}: {str(exc)[:200]}") from exc
        if len(text) > OUT_FACTOR * len(data) + OUT_CONST:
            raise Finding(f"{name}.{entry.__name__}: {len(text)} characters of JSON from "
                          f"{len(data)} bytes")


def read_input(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def regressions(name: str) -> list[tuple[str, bytes]]:
    """The committed reproducers of past findings, tests/codecs/regressions/<name>/."""
    d = REGRESSIONS / name
    if not d.is_dir():
        return []
    return [(p.name, read_input(p)) for p in sorted(d.iterdir()) if p.is_file()]


def _redis_values() -> Iterator[bytes]:
    for p in sorted((FIXTURES / "redis").glob("*.json")):
        for k in json.loads(p.read_text())["keys"]:
            if k.get("value_hex"):
                yield bytes.fromhex(k["value_hex"])


def _files(pattern: str) -> Iterator[bytes]:
    for p in sorted(FIXTURES.glob(pattern)):
        if p.is_file():
            yield p.read_bytes()


def _sample() -> dict[str, Any]:
    return {"_permanent": True, "user_id": 42, "name": "Zoë", "ratio": 0.5, "none": None,
            "tags": ["a", "b", 3], "nested": {"deep": [[1, [2, {"x": -1}]]]},
            "big": 2**70, "neg": -(2**40), "empty": {}, "blank": ""}


def _written(name: str) -> list[bytes]:
    """Values written by the real libraries (Python's pickler, msgspec, json) at seed time."""
    if name == "pickleinspect":
        import collections
        import datetime
        import decimal
        import pickle
        import uuid

        v: dict[str, Any] = {**_sample(), "when": datetime.datetime(2026, 12, 3, 10, 0, 1, 5),
                             "day": datetime.date(2026, 1, 2), "amount": decimal.Decimal("1.50"),
                             "id": uuid.UUID(int=7), "set": {1, 2}, "fs": frozenset({"x"}),
                             "od": collections.OrderedDict(a=1), "bytes": b"\x00\xff",
                             "tuple": (1, (2, 3)), "ba": bytearray(b"ab")}
        v["shared"] = [v["tags"], v["tags"]]
        return [pickle.dumps(v, proto) for proto in range(pickle.HIGHEST_PROTOCOL + 1)]
    if name == "msgpack":
        import msgspec

        small = {k: v for k, v in _sample().items() if k != "big"}  # msgpack ints are 64-bit
        return [msgspec.msgpack.encode(small), msgspec.msgpack.encode({"k": [1.5, b"\x01"]}),
                bytes.fromhex("81aa5f7065726d616e656e74c3")]  # Flask-Session >= 0.7, empty
    if name == "jsonsafe":
        return [json.dumps(_sample()).encode(),
                b'{"@class":"java.util.HashMap","a":["java.lang.Long",5]}']
    return []


def seeds(name: str, max_size: int = 64 * 1024) -> list[bytes]:
    """Real vectors of this encoding from fixtures/ (captures and generator outputs), small
    enough to mutate, plus the regression inputs."""
    from sessdiag.frameworks.values import sniff

    t = TARGETS[name]
    out: list[bytes] = []
    if name == "gob":
        out += _files("gob/*.gob")
        out += _files("beego-real/tree/*/*/*")
        out += _files("beego-real/redis/*")
    elif name == "javaser":
        out += _files("java/*.ser")
    elif name == "phpser":
        out += _files("php/*.sess")
    out += [v for v in _redis_values() if sniff(v) == t.sniff]
    out += _written(name)
    out += [data for _, data in regressions(name)]
    unique = list(dict.fromkeys(v for v in out if 0 < len(v) <= max_size))
    return unique or [b"\x00"]
