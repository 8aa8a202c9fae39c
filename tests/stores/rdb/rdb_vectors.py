"""The committed RDB vectors (fixtures/rdb/manifest.json) and how to read one back."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from sessdiag.stores.rdb.parser import FULL, DumpInfo, Record, parse

REPO = Path(__file__).resolve().parents[3]
RDB = REPO / "fixtures" / "rdb"
_spec = importlib.util.spec_from_file_location("rdbwrite",
                                               REPO / "tools" / "rdbgen" / "rdbwrite.py")
assert _spec is not None and _spec.loader is not None
W = importlib.util.module_from_spec(_spec)  # the vectors' own writer, for records built here
_spec.loader.exec_module(W)
MANIFEST = json.loads((RDB / "manifest.json").read_text())
BY_NAME = {m["name"]: m for m in MANIFEST}


def path(name: str) -> Path:
    return RDB / BY_NAME[name]["file"]


def read_all(data_path: Path) -> tuple[DumpInfo, dict[tuple[int, str], dict]]:
    """Every key with its value as the manifest writes values (hex; sets sorted)."""
    out: dict[tuple[int, str], dict] = {}

    def on(rec: Record) -> None:
        v = rec.value
        if rec.type_name == "string":
            val: object = v.hex() if isinstance(v, bytes) else None
        elif rec.type_name == "hash" and isinstance(v, list):
            val = {a.hex(): b.hex() for a, b in zip(v[0::2], v[1::2], strict=True)}
        elif rec.type_name in ("set", "zset") and isinstance(v, list):
            val = sorted(x.hex() for x in v)
        elif isinstance(v, list):
            val = [x.hex() for x in v]
        else:
            val = None
        out[(rec.db, rec.key.hex())] = {
            "type": rec.type_name, "value": val, "length": rec.length, "error": rec.error,
            "expire_ms": rec.expire_ms if rec.expire_ms != -1 else None, "idle": rec.idle}

    with open(data_path, "rb") as f:
        info = parse(f, lambda db, key, t: FULL, on)
    return info, out


def expected(entry: dict) -> dict:
    """The manifest's keys in the shape `read_all` gives them."""
    out = {}
    for k in entry["keys"]:
        v = k["value"]
        if k["type"] == "zset":
            v = sorted(v)
        out[(k["db"], k["key"])] = {"type": k["type"], "value": v, "expire_ms": k["expire_ms"]}
    return out
