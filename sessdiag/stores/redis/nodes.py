"""Connections to a target's primaries, opened when a key first needs one (Redis Cluster)."""

from __future__ import annotations

from collections.abc import Iterator

from sessdiag.stores.redis.resp import RedisConn
from sessdiag.stores.redis.target import RedisTarget
from sessdiag.stores.redis.topology import Topology, discover


class NodeConns:
    """The target's connection, and one per cluster primary, for key-by-key reads."""

    def __init__(self, target: RedisTarget) -> None:
        self.target = target
        self.main = RedisConn(self.target)
        self.conns: dict[int, RedisConn] = {}
        try:
            self.topo: Topology = discover(self.main)[0]
        except BaseException:
            self.main.close()
            raise

    def for_key(self, key: bytes) -> RedisConn:
        return self.node(self.topo.owner(key)) if self.topo.cluster else self.main

    def node(self, i: int) -> RedisConn:
        if not self.topo.cluster:
            return self.main
        c = self.conns.get(i)
        if c is None:
            n = self.topo.nodes[i]
            c = self.conns[i] = RedisConn(self.target.node(n.host, n.port))
        return c

    def all(self) -> Iterator[RedisConn]:
        for i in range(len(self.topo.nodes) if self.topo.cluster else 1):
            yield self.node(i)

    def close(self) -> None:
        for c in self.conns.values():
            c.close()
        self.main.close()
