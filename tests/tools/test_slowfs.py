"""tools/slowfs: the delay is real, counted, concurrent requests overlap, unmount is clean."""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from pathlib import Path

import pytest

SLOWFS = Path(__file__).resolve().parents[2] / "tools" / "slowfs" / "slowfs.py"
_spec = importlib.util.spec_from_file_location("slowfs", SLOWFS)
assert _spec is not None and _spec.loader is not None
slowfs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(slowfs)

_why = slowfs.fuse_available()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"slowfs cannot mount here: {_why}")

DELAY_MS = 20


@pytest.fixture
def source(tmp_path):
    src = tmp_path / "src"
    d = src / "a" / "b"
    d.mkdir(parents=True)
    for i in range(16):
        p = d / f"ab{i:030x}"
        p.write_bytes(b"x" * i)
        os.utime(p, ns=(1_700_000_000_123_456_789 + i, 1_700_000_000_123_456_789 + i))
    return src


def test_delay_is_observable_and_counted(source, tmp_path):
    mnt = tmp_path / "mnt"
    with slowfs.mount_slowfs(source, mnt, delay_ms=DELAY_MS) as fs:
        assert os.path.ismount(mnt)
        names = sorted(os.listdir(mnt / "a" / "b"))
        assert len(names) == 16
        fs.reset()
        t = time.perf_counter()
        for n in names[:8]:  # 8 first lookups: each is one delayed getattr
            os.lstat(mnt / "a" / "b" / n)
        elapsed = time.perf_counter() - t
        st = fs.stats()
        assert st["delayed"]["getattr"] >= 8
        assert elapsed >= 8 * DELAY_MS / 1000 * 0.9
        # Pass-through is exact: size and nanosecond mtime.
        s3 = os.lstat(mnt / "a" / "b" / names[3])
        assert s3.st_size == 3 and s3.st_mtime_ns == 1_700_000_000_123_456_789 + 3
        fs.set_delay(0)
        t = time.perf_counter()
        os.unlink(mnt / "a" / "b" / names[15])
        assert time.perf_counter() - t < DELAY_MS / 1000
        assert not (source / "a" / "b" / names[15]).exists()
        assert fs.stats()["ops"]["unlink"] == 1
    assert not os.path.ismount(mnt)


def test_concurrent_requests_overlap(source, tmp_path):
    # libfuse 2 does not negotiate FUSE_PARALLEL_DIROPS: the kernel serialises lookups in one
    # directory, so the concurrent lookups go to 8 different directories (like a sharded scan).
    for i in range(8):
        (source / "c" / str(i)).mkdir(parents=True)
        (source / "c" / str(i) / "f").write_bytes(b"")
    mnt = tmp_path / "mnt"
    with slowfs.mount_slowfs(source, mnt, delay_ms=100, ops="lookup") as fs:
        for i in range(8):
            os.listdir(mnt / "c" / str(i))  # warms the directories' own lookups
        fs.reset()
        barrier = threading.Barrier(8)

        def stat(i: int) -> None:
            barrier.wait()
            os.lstat(mnt / "c" / str(i) / "f")

        threads = [threading.Thread(target=stat, args=(i,)) for i in range(8)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t
        assert fs.stats()["delayed"]["getattr"] >= 8
    # 8 x 100 ms serially would be 0.8 s; libfuse's worker threads overlap them.
    assert elapsed < 0.5


def test_unmounts_when_the_body_fails(source, tmp_path):
    mnt = tmp_path / "mnt"
    with pytest.raises(RuntimeError, match="boom"), \
            slowfs.mount_slowfs(source, mnt, delay_ms=1) as fs:
        handle = open(mnt / "a" / "b" / sorted(os.listdir(source / "a" / "b"))[1], "rb")  # noqa: SIM115
        assert fs.stats()["ops"]
        try:
            raise RuntimeError("boom")
        finally:
            handle.close()
    assert not os.path.ismount(mnt)


def test_refuses_bad_arguments(tmp_path):
    with pytest.raises(slowfs.SlowFSError), \
            slowfs.mount_slowfs(tmp_path / "missing", tmp_path / "mnt", delay_ms=1):
        pass
    with pytest.raises(ValueError):
        slowfs.parse_ops("getattr,teleport")
    assert slowfs.parse_ops("lookup,unlink") == ("getattr", "unlink")
