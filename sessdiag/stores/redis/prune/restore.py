"""`sessdiag restore BACKUP TARGET`: put back what a prune's --backup recorded.

Keys come back with `RESTORE key <deadline> <DUMP> ABSTTL` (no REPLACE): a key that exists
again is never overwritten, it is listed; a key whose saved deadline has passed is listed as
expired, not restored (its TTL would put it back forever or for nothing). When a key was
backed up more than once (an earlier run's snapshot of a change that did not happen), the
last record is the state it had when it went. Removed index members are added back; TTLs a
`--fix-ttl` set are taken off again while the key still has exactly that deadline. A dry run
(the default) reads only (EXISTS, SISMEMBER, PTTL, TIME), so it works on a replica.
"""

from __future__ import annotations

import os
import time
from typing import Any

from sessdiag.core.errors import StoreRefused, UsageError
from sessdiag.core.timefmt import iso
from sessdiag.stores.redis.census import show_key
from sessdiag.stores.redis.nodes import NodeConns
from sessdiag.stores.redis.prune.backup import Record, read_backup
from sessdiag.stores.redis.prune.executor import TOLERANCE_MS
from sessdiag.stores.redis.resp import ReplyError
from sessdiag.stores.redis.target import parse_target
from sessdiag.stores.redis.topology import parse_info

SCHEMA = "sessdiag.restore/1"
BATCH = 500
LISTED = 1000


class _Out:
    def __init__(self) -> None:
        self.counts = dict.fromkeys(("restored", "skipped_existing", "expired",
                                     "members_readded", "members_present", "ttl_reverted",
                                     "ttl_changed", "errors"), 0)
        self.lists: dict[str, list[str]] = {"skipped_existing": [], "expired": [],
                                            "errors": []}

    def add(self, what: str, key: bytes | None = None, text: str | None = None) -> None:
        self.counts[what] += 1
        lst = self.lists.get(what)
        if lst is not None and len(lst) < LISTED:
            lst.append(text or show_key(key or b""))


def _server_ms(t: Any) -> int:
    return int(t[0]) * 1000 + int(t[1]) // 1000


def restore_backup(path: str, url: str, *, apply: bool = False,
                   password_env: str | None = None) -> dict[str, Any]:
    t0 = time.monotonic()
    contents = read_backup(path)
    target = parse_target(url, password_env)
    conns = NodeConns(target)
    out = _Out()
    try:
        if conns.topo.cluster and target.db:
            raise UsageError("a Redis Cluster has only database 0")
        if apply:
            info = parse_info(conns.main.call("INFO", "replication"))  # type: ignore[arg-type]
            if info.get("role") == "slave":
                raise StoreRefused(f"{target.location} is a read-only replica: restore "
                                   "into the primary")
        last: dict[bytes, Record] = {}
        for rec in contents.records:
            if rec.kind == "K":
                last.pop(rec.key, None)
                last[rec.key] = rec  # the last record of a key, in file order
        keys = list(last.values())
        members = [r for r in contents.records if r.kind == "M"]
        ttls = [r for r in contents.records if r.kind == "T"]
        _each(conns, keys, lambda r: _key_cmd(r, apply),
              lambda r, now, x: _key_done(r, x, out, apply),
              skip=lambda r, now: _expired(r, now, out))
        _each(conns, members, lambda r: (b"SADD" if apply else b"SISMEMBER", r.key,
                                         r.payload),
              lambda r, now, x: _member_done(x, out, apply))
        # A TTL --fix-ttl set: taken off only while the key still has exactly that deadline.
        reverts: list[Record] = []
        _each(conns, ttls, lambda r: (b"PTTL", r.key),
              lambda r, now, x: _ttl_seen(r, now, x, out, reverts))
        if apply:
            _each(conns, reverts, lambda r: (b"PERSIST", r.key), lambda r, now, x: None)
    finally:
        conns.close()
    header = next((r.header for r in contents.records if r.kind == "H"), {})
    warnings = []
    made_for = {r.header.get("target") for r in contents.records if r.kind == "H"}
    if made_for - {target.location}:
        warnings.append(f"the backup was made from {', '.join(sorted(map(str, made_for)))}, "
                        f"not {target.location}")
    if contents.torn_bytes:
        warnings.append(f"the backup ends with {contents.torn_bytes:,} bytes of a cut record "
                        "(a run killed while writing): every whole record before it was used")
    return {
        "schema": SCHEMA,
        "target": {"kind": "redis", "location": target.location},
        "generated_at": iso(time.time()),
        "dry_run": not apply,
        "backup": {"path": os.path.abspath(path), "runs": contents.runs,
                   "records": len(contents.records) - contents.runs,
                   "torn_bytes": contents.torn_bytes,
                   "first_run": header.get("run"), "made_for": header.get("target")},
        "keys": len(keys),
        "index_members": len(members),
        "ttls": len(ttls),
        **out.counts,
        "skipped_existing_keys": out.lists["skipped_existing"],
        "expired_keys": out.lists["expired"],
        "error_examples": out.lists["errors"][:5],
        "duration_s": round(time.monotonic() - t0, 3),
        "warnings": warnings,
    }


def _key_cmd(r: Record, apply: bool) -> tuple:
    if not apply:
        return (b"EXISTS", r.key)
    if r.deadline == -1:
        return (b"RESTORE", r.key, b"0", r.payload)
    return (b"RESTORE", r.key, r.deadline, r.payload, b"ABSTTL")


def _expired(r: Record, now: int, out: _Out) -> bool:
    if r.deadline != -1 and r.deadline <= now:
        out.add("expired", r.key)
        return True
    return False


def _key_done(r: Record, x: Any, out: _Out, apply: bool) -> None:
    if isinstance(x, ReplyError):
        if str(x).startswith("BUSYKEY"):
            out.add("skipped_existing", r.key)
        else:
            out.add("errors", text=f"{show_key(r.key)}: {' '.join(str(x).split())[:160]}")
    elif not apply and x == 1:
        out.add("skipped_existing", r.key)
    else:
        out.add("restored")


def _ttl_seen(r: Record, now: int, x: Any, out: _Out, reverts: list[Record]) -> None:
    if isinstance(x, int) and x >= 0 and abs(now + x - r.deadline) <= TOLERANCE_MS:
        out.add("ttl_reverted")
        reverts.append(r)
    else:
        out.add("ttl_changed")


def _member_done(x: Any, out: _Out, apply: bool) -> None:
    if isinstance(x, ReplyError):
        out.add("errors", text=" ".join(str(x).split())[:160])
    elif (x == 1) == apply:
        out.add("members_readded")
    else:
        out.add("members_present")


def _each(conns: NodeConns, recs: list[Record], cmd: Any, done: Any,
          skip: Any = None) -> None:
    """Pipelines per node, each led by TIME (deadlines are the server's)."""
    by_node: dict[int, list[Record]] = {}
    for r in recs:
        by_node.setdefault(conns.topo.owner(r.key) if conns.topo.cluster else 0, []).append(r)
    for node, items in by_node.items():
        conn = conns.node(node)
        for i in range(0, len(items), BATCH):
            part = items[i:i + BATCH]
            t = conn.pipeline([(b"TIME",)])[0]
            if isinstance(t, ReplyError):
                raise StoreRefused(f"{conn.location}: TIME refused ({t})")
            now = _server_ms(t)
            live = [r for r in part if skip is None or not skip(r, now)]
            replies = conn.pipeline([cmd(r) for r in live]) if live else []
            for r, x in zip(live, replies, strict=True):
                done(r, now, x)
