"""The apply pass of a Redis prune: batches of compare-and-act scripts, backed up first.

Per batch (sized to ~50 ms of the `--rate` budget, else 500 changes):
1. with `--backup`: a `snap` script per key re-checks the decision's facts and returns the
   key's DUMP and TTL; index members and TTL fixes need no snapshot. The records are
   appended and fsync'ed (backup.py) before anything changes;
2. the changes: a `del` script per key (after a snapshot it compares the DUMP's digest, so
   nothing may have changed since the backup), `fixttl`, `srem`. A moved fact is
   `skipped_fresh`; a key gone meanwhile is `vanished`.

A guard key in another hash slot (a Cluster: the session of a shadow key lives on another
primary) cannot be read by the same script: it is checked with EXISTS on its own node just
before the batch, so in a Cluster that one check is not atomic with the change (a session
re-created in that millisecond keeps its companions only until the next run).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from sessdiag.stores.redis.nodes import NodeConns
from sessdiag.stores.redis.prune import backup as B
from sessdiag.stores.redis.prune.plan import Decision, RedisTally
from sessdiag.stores.redis.prune.scripts import evalsha, load_scripts
from sessdiag.stores.redis.ratelimit import RateLimiter
from sessdiag.stores.redis.resp import RedisConn, ReplyError
from sessdiag.stores.redis.topology import key_slot

DEFAULT_BATCH = 500
TOLERANCE_MS = 2000
# MEMORY USAGE of the first keys of each kind deleted; the rest are counted at their average
# (one command less per deletion: the prune's own load on the server, and its rate, matter).
MEMORY_SAMPLE = 200


class Stop(Protocol):
    @property
    def requested(self) -> bool: ...

    def request(self, reason: str) -> None: ...


def _args(d: Decision, mode: str, digest: str = "") -> list[bytes | str | int]:
    idle = "" if digest or d.idle is None else d.idle
    return [mode, d.deadline, TOLERANCE_MS, d.field, d.field_value, idle, digest,
            "" if digest else d.vsha, d.ttl_ms]


class Executor:
    def __init__(self, conns: NodeConns, tally: RedisTally, limiter: RateLimiter,
                 stop: Stop, *, max_delete: int | None, deadline: float | None,
                 writer: B.BackupWriter | None, keepalive: Callable[[], None],
                 progress: Callable[[int], None],
                 backed_up: Callable[[], None] | None = None) -> None:
        self.conns = conns
        self.t = tally
        self.limiter = limiter
        self.stop = stop
        self.budget = max_delete
        self.deadline = deadline
        self.writer = writer
        self.keepalive = keepalive
        self.progress = progress
        self.backed_up = backed_up
        self.loaded: set[int] = set()
        self.mem_ok = True
        # kind -> [bytes measured, keys measured, keys asked]
        self.mem: dict[str, list[int]] = {}

    def run(self, decisions: list[Decision]) -> None:
        by_node: dict[int, list[Decision]] = {}
        for d in decisions:
            by_node.setdefault(d.node, []).append(d)
        left = len(decisions)
        for node, items in sorted(by_node.items()):
            conn = self.conns.node(node)
            if node not in self.loaded:
                load_scripts(conn)
                self.loaded.add(node)
            i = 0
            while i < len(items):
                if self._should_stop():
                    self.t.not_attempted += left
                    return
                n = self.limiter.batch_cap(floor=1) or DEFAULT_BATCH
                batch = items[i:i + n]
                if self.budget is not None:
                    batch = self._within_budget(batch)
                    if not batch:
                        self.stop.request("max-delete")
                        continue
                self.limiter.acquire(len(batch))
                self._batch(node, conn, batch)
                i += len(batch)
                left -= len(batch)
                self.progress(len(batch))
                self.keepalive()

    def _should_stop(self) -> bool:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.stop.request("max-runtime")
        return self.stop.requested

    def _within_budget(self, batch: list[Decision]) -> list[Decision]:
        out = []
        for d in batch:
            if d.op == "del":
                if self.budget is not None and self.budget <= 0:
                    break
                self.budget = (self.budget or 0) - 1
            out.append(d)
        return out

    # -- one batch ----------------------------------------------------------------------
    def _batch(self, node: int, conn: RedisConn, batch: list[Decision]) -> None:
        batch = self._guards(node, batch)
        if not batch:
            return
        digests: dict[int, str] = {}
        if self.writer is not None:
            batch = self._snapshot(conn, batch, digests)
            if not batch:
                return
        cmds: list[tuple] = []
        plan: list[tuple[Decision, bool]] = []
        for j, d in enumerate(batch):
            keys = [d.key] + ([d.guard] if d.guard is not None and self._local(d) else [])
            mem = False
            if d.op == "srem":
                cmds.append(evalsha("srem", keys, [d.member]))
            else:
                if d.op == "del" and self.mem_ok and self._measure(d.what):
                    cmds.append((b"MEMORY", b"USAGE", d.key, b"SAMPLES", b"0"))
                    mem = True
                mode = "del" if d.op == "del" else "fixttl"
                cmds.append(evalsha("check", keys, _args(d, mode, digests.get(j, ""))))
            plan.append((d, mem))
        replies = self._pipeline(node, conn, cmds)
        i = 0
        for d, mem in plan:
            size = None
            if mem:
                m = replies[i]
                i += 1
                if isinstance(m, int):
                    size = m
                elif isinstance(m, ReplyError):
                    self.mem_ok = False
                    self.t.note("MEMORY USAGE refused: bytes_freed is not measured")
            self._outcome(d, replies[i], size)
            i += 1

    def _local(self, d: Decision) -> bool:
        """May the guard be checked by the same script (same node and slot)?"""
        return not self.conns.topo.cluster or (
            d.guard is not None and key_slot(d.guard) == key_slot(d.key))

    def _guards(self, node: int, batch: list[Decision]) -> list[Decision]:
        """Cluster: guards in other slots, checked with EXISTS on their own nodes."""
        if not self.conns.topo.cluster:
            return batch
        remote = [d for d in batch if d.guard is not None and not self._local(d)]
        if not remote:
            return batch
        by_node: dict[int, list[Decision]] = {}
        for d in remote:
            by_node.setdefault(self.conns.topo.owner(d.guard or b""), []).append(d)
        back = set()
        for owner, ds in by_node.items():
            replies = self.conns.node(owner).pipeline([(b"EXISTS", d.guard) for d in ds])
            for d, r in zip(ds, replies, strict=True):
                if r != 0:
                    back.add(id(d))
                    self.t.fresh(d, "guard")
        return [d for d in batch if id(d) not in back]

    def _snapshot(self, conn: RedisConn, batch: list[Decision],
                  digests: dict[int, str]) -> list[Decision]:
        """Write-ahead: the record of every change of the batch is durable before it."""
        assert self.writer is not None
        w = self.writer
        cmds: list[tuple] = [(b"TIME",)]
        snapped: list[Decision] = []
        for d in batch:
            if d.op == "del":
                keys = [d.key] + ([d.guard] if d.guard is not None and self._local(d) else [])
                cmds.append(evalsha("check", keys, _args(d, "snap")))
        replies = self._pipeline(None, conn, cmds)
        t = replies[0]
        server_ms = int(t[0]) * 1000 + int(t[1]) // 1000 if isinstance(t, list) else 0
        i = 1
        for d in batch:
            if d.op == "del":
                r = replies[i]
                i += 1
                if isinstance(r, list):
                    dump, pttl, deadline, digest = r
                    digests[len(snapped)] = digest.decode()
                    w.add(B.key_record(d.key, int(pttl), int(deadline), dump))
                    snapped.append(d)
                else:
                    self._outcome(d, r, None)
            elif d.op == "srem":
                w.add(B.member_record(d.key, d.member))
                snapped.append(d)
            else:
                w.add(B.ttl_record(d.key, server_ms + d.ttl_ms))
                snapped.append(d)
        w.sync()
        self.t.backup_records = w.records
        if self.backed_up is not None:
            self.backed_up()
        return snapped

    def _pipeline(self, node: int | None, conn: RedisConn, cmds: list[tuple]) -> list:
        replies = conn.pipeline(cmds)
        if any(isinstance(r, ReplyError) and str(r).startswith("NOSCRIPT") for r in replies):
            # The script cache was flushed (a restart, SCRIPT FLUSH): load and send again.
            # Every script re-checks its facts, so a second send changes nothing twice.
            load_scripts(conn)
            replies = conn.pipeline(cmds)
        return replies

    def _measure(self, what: str) -> bool:
        m = self.mem.setdefault(what, [0, 0, 0])
        if m[2] < MEMORY_SAMPLE:
            m[2] += 1  # asked
            return True
        return False

    def _freed(self, what: str, size: int | None) -> None:
        m = self.mem.setdefault(what, [0, 0, 0])
        if size is not None:
            m[0] += size
            m[1] += 1
            self.t.bytes_freed += size
        elif m[1]:
            self.t.bytes_freed += m[0] // m[1]
            self.t.bytes_freed_estimated = True

    def _outcome(self, d: Decision, r: Any, size: int | None) -> None:
        if isinstance(r, list) and d.op == "srem":
            self.t.done(d, emptied=r[1] == 0)
        elif r == 1:
            self.t.done(d)
            if d.op == "del" and self.mem_ok:
                self._freed(d.what, size)
        elif r == 0 and d.op == "fixttl":
            self.t.fresh(d, "gone")
        elif isinstance(r, bytes):
            self.t.fresh(d, r.decode("ascii", "replace"))
        else:
            self.t.errors += 1
            self.t.example("errors", f"{d.key[:60].decode('utf-8', 'replace')}: "
                                     f"{' '.join(str(r).split())[:160]}")
