"""Hash slots against Redis itself: `CLUSTER KEYSLOT` on a real cluster node is the truth.

sessdiag routes a key to the primary that owns its slot (Spring's session hash for a shadow
key on another node, for one); a slot computed differently from Redis sends the read to the
wrong node. The keys: the Cluster spec's hash-tag cases, tags that open or close twice,
empty tags, multibyte and invalid UTF-8, and a few thousand seeded random keys built from
the characters that matter.
"""

from __future__ import annotations

import random

import redis

from sessdiag.stores.redis.resp import RedisConn
from sessdiag.stores.redis.target import parse_target
from sessdiag.stores.redis.topology import discover, key_slot

EDGE_KEYS: list[bytes] = [
    b"", b"foo", b"123456789", b"{", b"}", b"{}", b"}{", b"{}x", b"x{}", b"{}{a}", b"{a}}b",
    b"{a}", b"a{b}c{d}", b"a{{b}}c", b"{{a}}", b"{a{b}c}", b"foo{}{bar}", b"foo{{bar}}zap",
    b"foo{bar}{zap}", b"{user1000}.following", b"{user1000}.followers", b"a}b{c}",
    b"spring:session:sessions:{0f3c}", b"spring:session:sessions:expires:0f3c",
    "{é}x".encode(), "x{日本}y{z}".encode(), "{😀}".encode(), "😀{".encode(),
    b"{\xff\xfe}", b"\xff{\x00}", b"{\x00}", b"\x00\x00", bytes(range(256)),
    b"k" * 10_000, b"{" + b"k" * 5000 + b"}" + b"z" * 5000,
]
ALPHABET = [b"a", b"b", b"{", b"}", b"{", b"}", b":", b"\x00", b"\xff", "é".encode(),
            "€".encode(), "😀".encode()]


def random_keys(n: int, seed: int = 19) -> list[bytes]:
    rng = random.Random(seed)
    return [b"".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12))) for _ in range(n)]


def redis_slots(port: int, keys: list[bytes]) -> list[int]:
    r = redis.Redis(host="127.0.0.1", port=port)
    try:
        pipe = r.pipeline(transaction=False)
        for k in keys:
            pipe.execute_command("CLUSTER", "KEYSLOT", k)
        return [int(x) for x in pipe.execute()]
    finally:
        r.close()


def test_key_slot_agrees_with_cluster_keyslot(redis_cluster) -> None:  # type: ignore[no-untyped-def]
    keys = EDGE_KEYS + random_keys(4000)
    truth = redis_slots(redis_cluster[0].port, keys)
    wrong = [(k, key_slot(k), t) for k, t in zip(keys, truth, strict=True) if key_slot(k) != t]
    assert not wrong, wrong[:10]
    # The random keys did exercise tags: many hash a tag, not the whole key.
    tagged = sum(1 for k in keys if b"{" in k and b"}" in k[k.index(b"{") + 2:])
    assert tagged > 500
    assert len(set(truth)) > 2000  # and they spread over the slots


def test_topology_routes_each_key_to_the_node_that_takes_it(redis_cluster) -> None:  # type: ignore[no-untyped-def]
    """A write sent where sessdiag's topology says succeeds; Redis would answer MOVED
    anywhere else. Reads go the same way, so this is the routing scans rely on."""
    conn = RedisConn(parse_target(f"redis://127.0.0.1:{redis_cluster[0].port}"))
    try:
        topo, _info, _notes = discover(conn)
    finally:
        conn.close()
    assert topo.cluster and len(topo.nodes) == 3
    keys = EDGE_KEYS[:-2] + random_keys(300, seed=5)
    clients = {n.port: redis.Redis(host="127.0.0.1", port=n.port) for n in topo.nodes}
    try:
        for k in keys:
            port = topo.nodes[topo.owner(k)].port
            assert clients[port].set(k, b"1") is True, k
            others = [p for p in clients if p != port]
            try:
                clients[others[0]].get(k)
            except redis.exceptions.MovedError as exc:  # MOVED <slot> <host>:<port>
                assert (exc.slot_id, exc.port) == (key_slot(k), port), (k, str(exc))
            else:
                raise AssertionError(f"{k!r}: a node that does not own it answered")
            clients[port].delete(k)
    finally:
        for c in clients.values():
            c.close()
