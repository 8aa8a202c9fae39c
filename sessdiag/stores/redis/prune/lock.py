"""One prune per Redis database at a time: a lock key with an owner token and a TTL.

`SET sessdiag:prune:lock <token> NX PX <ttl>`; the holder refreshes it (a third of the TTL
apart, between batches) and releases it with a script that deletes it only if it still holds
its own token, so a run that outlived its TTL never removes a successor's lock. A `kill -9`
leaves the key to expire: the next run waits at most the TTL (exit 75 meanwhile). In a
Cluster the key lives on the primary that owns its slot and covers every node.
"""

from __future__ import annotations

import os
import secrets
import socket
import time

from sessdiag.core.errors import LockHeld, StoreRefused
from sessdiag.stores.redis.nodes import NodeConns
from sessdiag.stores.redis.prune.options import LOCK_KEY
from sessdiag.stores.redis.prune.scripts import LOCK_REFRESH, LOCK_RELEASE
from sessdiag.stores.redis.resp import ReplyError, refusal


class RedisLock:
    def __init__(self, conns: NodeConns, ttl_s: float) -> None:
        self.conn = conns.for_key(LOCK_KEY)
        self.ttl_ms = int(ttl_s * 1000)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"
        self.last = 0.0
        self.held = False

    def acquire(self) -> None:
        r = self.conn.pipeline([(b"SET", LOCK_KEY, self.token, b"NX", b"PX", self.ttl_ms)])[0]
        if isinstance(r, ReplyError):
            if str(r).startswith("READONLY"):
                raise StoreRefused(f"{self.conn.location} is a read-only replica: run the "
                                   "prune against the primary")
            raise refusal(self.conn.location, "SET", r)
        if r is None:
            holder, pttl = self.conn.pipeline([(b"GET", LOCK_KEY), (b"PTTL", LOCK_KEY)])
            who = holder.decode("utf-8", "replace") if isinstance(holder, bytes) else "?"
            left = f", {pttl / 1000:.0f} s left" if isinstance(pttl, int) and pttl > 0 else ""
            raise LockHeld(f"{self.conn.location}: another prune holds the lock "
                           f"{LOCK_KEY.decode()} (holder {who}{left}); try again later")
        self.held = True
        self.last = time.monotonic()

    def keepalive(self) -> None:
        """Refresh when a third of the TTL has passed; a lost lock stops the run."""
        if not self.held or time.monotonic() - self.last < self.ttl_ms / 3000:
            return
        r = self.conn.pipeline([(b"EVAL", LOCK_REFRESH, 1, LOCK_KEY, self.token,
                                 self.ttl_ms)])[0]
        if r != 1:
            self.held = False
            raise LockHeld(f"{self.conn.location}: the prune lock expired and was taken "
                           "(the run was stalled longer than --lock-ttl); stopping")
        self.last = time.monotonic()

    def release(self) -> None:
        if self.held:
            self.held = False
            self.conn.pipeline([(b"EVAL", LOCK_RELEASE, 1, LOCK_KEY, self.token)])
