"""fd-relative operations: nothing is ever reached through a symlink, nothing blocks."""

from __future__ import annotations

import errno
import os

import pytest

from sessdiag.stores.files import fsops


def _tree(tmp_path):
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "s").write_bytes(b"payload")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "s").write_bytes(b"secret")
    return root, outside


def test_open_rel_refuses_a_symlink_at_any_level(tmp_path):
    root, outside = _tree(tmp_path)
    os.symlink(outside, root / "a" / "x")
    os.symlink(outside, root / "y")
    fd = fsops.open_root(str(root))
    try:
        for rel in ("a/x", "y", "y/s"):
            with pytest.raises(OSError) as exc:
                os.close(fsops.open_rel(fd, rel))
            assert exc.value.errno in (errno.ELOOP, errno.ENOTDIR), rel
        sub = fsops.open_rel(fd, "a/b")
        assert os.listdir(sub) == ["s"]
        os.close(sub)
    finally:
        os.close(fd)


def test_read_payload_never_follows_never_blocks(tmp_path):
    root, outside = _tree(tmp_path)
    d = root / "a" / "b"
    os.symlink(outside / "s", d / "link")
    os.mkfifo(d / "fifo")  # opening it for reading would block without O_NONBLOCK
    (d / "big").write_bytes(b"x" * 101)
    fd = fsops.open_root(str(root))
    try:
        data, st = fsops.read_payload_rel(fd, "a/b/s")
        assert data == b"payload" and st.st_size == 7
        with pytest.raises(OSError) as exc:
            fsops.read_payload_rel(fd, "a/b/link")
        assert exc.value.errno == errno.ELOOP
        assert fsops.read_payload_rel(fd, "a/b/fifo") is None
        with pytest.raises(fsops.PayloadTooLarge) as big:
            fsops.read_payload_rel(fd, "a/b/big", limit=100)
        assert big.value.size == 101
        dfd = fsops.open_rel(fd, "a/b")
        try:
            other = os.lstat("big", dir_fd=dfd).st_ino
            assert fsops.read_payload(dfd, "s", ino=other) is None  # not the inode looked at
        finally:
            os.close(dfd)
    finally:
        os.close(fd)


def test_chain_notices_a_directory_swapped_after_it_was_opened(tmp_path):
    root, outside = _tree(tmp_path)
    fd = fsops.open_root(str(root))
    dev = os.fstat(fd).st_dev
    chain = fsops.open_chain(fd, "a/b", dev)
    try:
        assert fsops.chain_intact(fd, chain, dev)
        os.rename(root / "a" / "b", tmp_path / "parked")
        os.symlink(outside, root / "a" / "b")
        assert not fsops.chain_intact(fd, chain, dev)
        assert os.listdir(fsops.chain_fd(fd, chain)) == ["s"]  # still the directory opened
    finally:
        fsops.close_chain(chain)
        os.close(fd)


def test_listing_batches_and_partitions_cover_each_name_once(tmp_path, monkeypatch):
    d = tmp_path / "flat"
    d.mkdir()
    names = {f"n{i}" for i in range(50)}
    for n in names:
        (d / n).write_bytes(b"")
    fd = os.open(d, fsops.DIR_FLAGS)
    try:
        assert [set(b) for b in fsops.batches(fd)] == [names]
        monkeypatch.setattr(fsops, "STREAM_DIR_BYTES", -1)
        monkeypatch.setattr(fsops, "STREAM_BATCH", 7)
        batches = list(fsops.batches(fd))
        assert max(map(len, batches)) == 7 and set().union(*batches) == names
        parts = [list(fsops.partition_names(fd, i, 3)) for i in range(3)]
        assert sorted(n for part in parts for n in part) == sorted(names)
    finally:
        os.close(fd)
