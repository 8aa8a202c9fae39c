"""--partition K/N: parts are disjoint, cover the tree, and do not depend on what exists."""

from __future__ import annotations

import json

import pytest

from sessdiag.core.errors import UsageError
from sessdiag.fixtures import FixtureSpec, make_tree
from sessdiag.stores.files.partition import Partition, parse_partition, part_of

NOW = 1_790_000_000


def test_parse() -> None:
    assert parse_partition("2/4") == Partition(2, 4)
    assert parse_partition(None) is None
    for bad in ("0/4", "5/4", "4", "a/b", "1/0", "-1/2", "1/70000"):
        with pytest.raises(UsageError, match="--partition"):
            parse_partition(bad)


def test_each_name_has_exactly_one_owner_fixed_by_its_bytes() -> None:
    names = [*"0123456789abcdef", "README.txt", "caf\udcc3\udca9", ".nfs0001"]
    for n in (1, 2, 3, 7):
        for name in names:
            owners = [k for k in range(1, n + 1) if Partition(k, n).owns(name)]
            assert owners == [part_of(name, n)]
    # crc32 of the bytes, not Python's per-process hash(): the same on every host.
    assert [part_of(c, 4) for c in "0123456789abcdef"] == [
        2, 4, 2, 4, 1, 3, 1, 3, 4, 2, 4, 2, 4, 1, 3, 1]
    assert Partition(1, 3).owns_root and not Partition(2, 3).owns_root


def test_a_staged_session_belongs_to_the_part_of_its_name() -> None:
    """A killed prune's `.sessdiag-<8 hex>-NAME` is finished or put back as NAME: by the part
    that owns NAME, so no prune ever writes into another part."""
    for n in (2, 3, 5):
        for name in ("sess_abc", "sess_q0v9", "0f3a"):
            assert part_of(f".sessdiag-0123abcd-{name}", n) == part_of(name, n)


@pytest.mark.parametrize("profile,depth", [("beego-file", 0), ("php-files", 0), ("php-files", 2)])
def test_parts_add_up_to_the_whole(cli, tmp_path, profile, depth) -> None:
    root = tmp_path / "t"
    make_tree(str(root), FixtureSpec.from_mapping({
        "profile": profile, "php_depth": depth, "sessions": 120, "seed": 3, "now": NOW,
        "expired_fraction": 0.3, "zero_byte": 2, "undecodable": 2, "foreign": 3,
        "misplaced": 2 if depth or profile == "beego-file" else 0, "symlinks": 2, "fifos": 1}))

    def scan(*extra: str) -> dict:
        res = cli("scan", root, "--json", "--deep", "--now", NOW, "-j", "1", *extra)
        assert res.code == 0, res.err
        return json.loads(res.out)

    whole = scan()
    parts = [scan("--partition", f"{k}/3") for k in (1, 2, 3)]
    for key in ("sessions", "bytes", "allocated_bytes", "expired", "empty", "dirs"):
        assert sum(p[key] for p in parts) == whole[key], key
    for kind, n in whole["anomalies"].items():
        assert sum(p["anomalies"][kind] for p in parts) == n, kind
    assert [p["target"]["partition"] for p in parts] == [
        {"index": k, "count": 3, "scheme": "crc32-first-level"} for k in (1, 2, 3)]
    assert "partition" not in whole["target"]


def test_partition_of_a_redis_target_is_refused(cli) -> None:
    res = cli("scan", "redis://127.0.0.1:1/0", "--partition", "1/2")
    assert res.code == 2 and "--partition" in res.err and len(res.err.splitlines()) == 1
