"""open_store: the one place a TARGET becomes a backend (scheme, RDB magic, directory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sessdiag.core.errors import UsageError
from sessdiag.stores import BACKENDS, ScanSettings, open_store, target_kind
from sessdiag.stores.base import SessionStore


@pytest.mark.parametrize(("target", "kind", "location"), [
    ("redis://user:s3cret@cache.internal:6380/2", "redis", "redis://cache.internal:6380/2"),
    ("rediss://:s3cret@cache:6379/0", "redis", "rediss://cache:6379/0"),
    ("unix:///run/redis/redis.sock?db=3", "redis", "unix:///run/redis/redis.sock"),
])
def test_urls_open_redis_stores_without_credentials(target: str, kind: str, location: str):
    store = open_store(target)  # opening connects to nothing
    assert (store.kind, target_kind(target)) == (kind, kind)
    assert store.location.startswith(location)
    assert "s3cret" not in store.location
    assert isinstance(store, SessionStore)


def test_directories_and_session_files_open_file_stores(tmp_path: Path):
    (tmp_path / "sess_abc").write_bytes(b"a|i:1;")
    for target in (str(tmp_path), str(tmp_path / "sess_abc"), str(tmp_path / "missing")):
        store = open_store(target)
        assert (store.kind, target_kind(target)) == ("files", "files")
        assert store.location == target


def test_a_dump_is_recognised_by_its_magic_not_its_name(tmp_path: Path):
    dump = tmp_path / "backup.bin"
    dump.write_bytes(b"REDIS0011\xfa\tredis-ver")
    assert target_kind(str(dump)) == "rdb"
    store = open_store(str(dump))
    assert store.kind == "rdb"
    with pytest.raises(UsageError, match=r"backup\.bin: the dump ends inside a record"):
        store.scan(ScanSettings())  # a dump cut short is bad input: exit 2
    fake = tmp_path / "dump.rdb"
    fake.write_bytes(b"REDISXX")  # no version digits: not a dump
    assert target_kind(str(fake)) == "files"
    link = tmp_path / "link.rdb"
    link.symlink_to(dump)  # never followed, even to sniff
    assert target_kind(str(link)) == "files"


def test_a_new_backend_is_one_table_entry(tmp_path: Path, monkeypatch):
    opened = []

    class MemStore:
        kind, location = "mem", "mem://x"

        def scan(self, settings, progress=None):  # type: ignore[no-untyped-def]
            return {"target": {"kind": self.kind, "location": self.location}}

        def inspect(self, sid, profile=None): ...  # type: ignore[no-untyped-def]
        def lookup(self, profile, cookie_name, secret=None): ...  # type: ignore[no-untyped-def]
        def attribute(self, attr): ...  # type: ignore[no-untyped-def]
        def close(self) -> None: ...

    def factory(target: str, **kw: object) -> MemStore:
        opened.append(target)
        return MemStore()

    monkeypatch.setattr("sessdiag.stores.BACKENDS",
                        [("mem", lambda t: t.startswith("mem://"), factory), *BACKENDS])
    from sessdiag.scanning import run_scan

    r = run_scan("mem://x", ScanSettings())
    assert opened == ["mem://x"] and r["target"]["kind"] == "mem"
    assert target_kind("mem://x") == "mem" and target_kind(str(tmp_path)) == "files"
