"""Standalone, replica or Redis Cluster: what the target is, and where each key lives.

A cluster is detected with ``INFO cluster`` (``cluster_enabled:1``); its primaries and their
slot ranges come from ``CLUSTER NODES``. Each primary is scanned on its own; a key on another
node (Spring's session hash for a shadow key, say) is routed by its hash slot (CRC16/XMODEM of
the key or of its ``{hash tag}``, mod 16384).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sessdiag.core.errors import StoreRefused, TargetUnreadable
from sessdiag.stores.redis.resp import CommandRefused, RedisConn

SLOTS = 16384


def _crc16_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_TABLE = _crc16_table()


def crc16(data: bytes) -> int:
    crc = 0
    t = _TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ t[((crc >> 8) ^ b) & 0xFF]
    return crc


def key_slot(key: bytes) -> int:
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1 : e]
    return crc16(key) % SLOTS


@dataclass
class Node:
    host: str
    port: int
    node_id: str = ""
    slots: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Topology:
    cluster: bool
    nodes: list[Node]
    slot_owner: list[int] | None = None  # slot -> index into nodes

    def owner(self, key: bytes) -> int:
        if self.slot_owner is None:
            return 0
        return self.slot_owner[key_slot(key)]


def parse_info(text: bytes | str) -> dict[str, str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, _, v = line.partition(":")
            out[k.strip()] = v.strip()
    return out


def parse_cluster_nodes(text: bytes | str, default_host: str) -> list[Node]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    nodes = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        flags = parts[2].split(",")
        if "master" not in flags or "fail" in flags or "noaddr" in flags:
            continue
        addr = parts[1].split("@", 1)[0]
        host, _, port = addr.rpartition(":")
        if not port.isdigit():
            continue
        node = Node(host or default_host, int(port), parts[0])
        for s in parts[8:]:
            if s.startswith("["):
                continue  # a slot being migrated
            a, _, b = s.partition("-")
            if a.isdigit():
                node.slots.append((int(a), int(b) if b.isdigit() else int(a)))
        nodes.append(node)
    return nodes


def discover(conn: RedisConn) -> tuple[Topology, dict[str, str], list[str]]:
    """Topology of the target behind `conn`, its INFO fields, and notes."""
    notes: list[str] = []
    info: dict[str, str] = {}
    for section in ("server", "replication", "memory", "cluster", "keyspace"):
        try:
            info.update(parse_info(conn.call("INFO", section)))  # type: ignore[arg-type]
        except CommandRefused as exc:
            if section == "server":
                notes.append(f"{exc.reason}; server facts unknown")
                break
    t = conn.target
    if info.get("cluster_enabled") != "1":
        return Topology(False, [Node(t.host or "", t.port)]), info, notes
    try:
        raw = conn.call("CLUSTER", "NODES")
    except CommandRefused as exc:
        raise StoreRefused(
            f"{t.location} is a Redis Cluster node but CLUSTER NODES was refused "
            f"({exc.reply}); "
            "allow +cluster|nodes to scan every primary") from exc
    nodes = parse_cluster_nodes(raw, t.host or "127.0.0.1")  # type: ignore[arg-type]
    if not nodes:
        raise TargetUnreadable(f"{t.location}: the cluster has no reachable primary")
    owner = [0] * SLOTS
    for i, n in enumerate(nodes):
        for a, b in n.slots:
            for s in range(max(0, a), min(SLOTS - 1, b) + 1):
                owner[s] = i
    return Topology(True, nodes, owner), info, notes
