"""Hash slots (CRC16/XMODEM, hash tags) and CLUSTER NODES parsing."""

from __future__ import annotations

from sessdiag.stores.redis.topology import crc16, key_slot, parse_cluster_nodes, parse_info


def test_crc16_and_slots() -> None:
    assert crc16(b"123456789") == 0x31C3  # the Redis Cluster spec's test vector
    assert key_slot(b"foo") == 12182
    assert key_slot(b"{user1000}.following") == key_slot(b"{user1000}.followers")



def test_hash_tags_as_the_cluster_spec_defines_them() -> None:
    """The first `{`, then the first `}` after it; an empty tag hashes the whole key.

    These are the Cluster spec's own examples; tests/integration/test_redis_keyslot.py checks
    thousands more against a real server's CLUSTER KEYSLOT.
    """
    def slot(b: bytes) -> int:
        return crc16(b) % 16384

    assert key_slot(b"foo{}{bar}") == slot(b"foo{}{bar}")  # empty first tag: whole key
    assert key_slot(b"{}x") == slot(b"{}x")
    assert key_slot(b"foo{{bar}}zap") == slot(b"{bar")  # from the first { to the first }
    assert key_slot(b"foo{bar}{zap}") == slot(b"bar")  # the first tag only
    assert key_slot(b"{a}}b") == slot(b"a")  # the first }, not the last
    assert key_slot(b"a{b}c{d}") == slot(b"b")
    assert key_slot(b"x{") == slot(b"x{") and key_slot(b"}{") == slot(b"}{")
    assert key_slot("{é}x".encode()) == slot("é".encode())
    # The cases above can tell the first } from the last: the two readings differ.
    assert slot(b"a") != slot(b"a}") and slot(b"b") != slot(b"b}c{d")


def test_cluster_nodes() -> None:
    text = (
        "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n"
        "b2 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922 [10923->-c3]\n"
        "c3 127.0.0.1:7002@17002,host master - 0 0 3 connected 10923-16383\n"
        "d4 127.0.0.1:7003@17003 slave a1 0 0 1 connected\n"
        "e5 :0@0 master,fail,noaddr - 0 0 4 disconnected\n")
    nodes = parse_cluster_nodes(text, "127.0.0.1")
    assert [(n.port, n.slots) for n in nodes] == [(7000, [(0, 5460)]), (7001, [(5461, 10922)]),
                                                 (7002, [(10923, 16383)])]


def test_info() -> None:
    assert parse_info(b"# Server\r\nredis_version:7.0.15\r\nrole:master\r\n") == {
        "redis_version": "7.0.15", "role": "master"}
