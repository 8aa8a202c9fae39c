"""tools/slowfs/slowfs3.c (the libfuse 3 twin of slowfs.py): the delay is real and counted,
many requests overlap (more than libfuse 2.9's 10, and within one directory), unmount is
clean also when the client goes away, and no path leaves the source through a symlink."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

SLOWFS = Path(__file__).resolve().parents[2] / "tools" / "slowfs" / "slowfs.py"
_spec = importlib.util.spec_from_file_location("slowfs", SLOWFS)
assert _spec is not None and _spec.loader is not None
slowfs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(slowfs)

DELAY_MS = 20


@pytest.fixture(scope="module")
def built() -> str:
    """Builds bin/slowfs3 if needed; skips only when /dev/fuse, fusermount or what the build
    needs (compiler, pkg-config, libfuse3's headers) is missing: a failing build fails."""
    why = slowfs.fuse_available(impl="c")
    if why is not None:
        pytest.skip(f"slowfs3 cannot mount here: {why}")
    return slowfs.build_slowfs3()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    d = src / "a" / "b"
    d.mkdir(parents=True)
    for i in range(16):
        p = d / f"ab{i:030x}"
        p.write_bytes(b"x" * i)
        os.utime(p, ns=(1_700_000_000_123_456_789 + i, 1_700_000_000_123_456_789 + i))
    return src


def _parallel(fn, args: list) -> float:  # type: ignore[no-untyped-def]
    """Run fn(arg) for every arg in its own thread, all released at once; wall seconds."""
    barrier = threading.Barrier(len(args))
    errors: list[BaseException] = []

    def run(a) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        try:
            fn(a)
        except BaseException as exc:  # re-raised in the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in args]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    if errors:
        raise errors[0]
    return elapsed


def test_delay_is_observable_and_counted(built, source, tmp_path):
    mnt = tmp_path / "mnt"
    with slowfs.mount_slowfs(source, mnt, delay_ms=DELAY_MS, impl="c", threads=8,
                             ops="getattr,readdir,unlink,rename,link") as fs:
        assert os.path.ismount(mnt)
        names = sorted(os.listdir(mnt / "a" / "b"))
        assert len(names) == 16
        st = fs.reset()
        assert st["impl"] == "c" and st["threads"] == 8 and st["delayed"]["readdir"] >= 1
        t = time.perf_counter()
        for n in names[:8]:  # 8 first lookups: each is one delayed getattr
            os.lstat(mnt / "a" / "b" / n)
        elapsed = time.perf_counter() - t
        st = fs.stats()
        assert st["delayed"]["getattr"] == 8 and st["ops"]["getattr"] == 8
        assert elapsed >= 8 * DELAY_MS / 1000 * 0.9
        # Pass-through is exact: size, nanosecond mtime and the source's inode number.
        s3 = os.lstat(mnt / "a" / "b" / names[3])
        assert s3.st_size == 3 and s3.st_mtime_ns == 1_700_000_000_123_456_789 + 3
        assert s3.st_ino == os.lstat(source / "a" / "b" / names[3]).st_ino
        # The verified-rename protocol's operations are counted (and delayed) one each.
        fs.reset()
        d = mnt / "a" / "b"
        os.rename(d / names[4], d / "staged")
        os.link(d / "staged", d / names[4])
        os.unlink(d / "staged")
        st = fs.stats()
        assert st["delayed"]["rename"] == 1 and st["delayed"]["link"] == 1
        assert st["delayed"]["unlink"] == 1
        assert (source / "a" / "b" / names[4]).read_bytes() == b"x" * 4
        fs.set_delay(0)
        assert fs.stats()["delay_ms"] == 0
        t = time.perf_counter()
        os.unlink(d / names[15])
        assert time.perf_counter() - t < DELAY_MS / 1000
        assert not (source / "a" / "b" / names[15]).exists()
    assert not os.path.ismount(mnt)


def test_more_requests_overlap_than_libfuse2_serves(built, source, tmp_path):
    # 32 lookups in 32 directories at 200 ms: libfuse 2.9 (10 threads) needs >= 4 rounds.
    for i in range(32):
        (source / "c" / str(i)).mkdir(parents=True)
        (source / "c" / str(i) / "f").write_bytes(b"")
    mnt = tmp_path / "mnt"
    with slowfs.mount_slowfs(source, mnt, delay_ms=0, ops="lookup", impl="c", threads=64,
                             entry_timeout=60, attr_timeout=60) as fs:
        for i in range(32):
            os.listdir(mnt / "c" / str(i))  # the directories' own lookups, not timed
        fs.set_delay(200)
        fs.reset()
        elapsed = _parallel(lambda i: os.lstat(mnt / "c" / str(i) / "f"), list(range(32)))
        assert fs.stats()["delayed"]["getattr"] == 32
    assert elapsed < 0.6  # one round of 200 ms, with room for a busy machine


def test_lookups_in_one_directory_overlap(built, source, tmp_path):
    mnt = tmp_path / "mnt"
    paths = [mnt / "a" / "b" / f"ab{i:030x}" for i in range(8)]
    with slowfs.mount_slowfs(source, mnt, delay_ms=100, ops="lookup", impl="c",
                             entry_timeout=60, attr_timeout=60) as fs:
        os.listdir(mnt / "a" / "b")
        assert fs.stats()["parallel_dirops"] is True
        elapsed = _parallel(os.lstat, paths)
    assert elapsed < 0.5  # 8 x 100 ms one after the other would be 0.8 s
    # --serial-dirops keeps the kernel's per-directory serialisation (libfuse 2.9's).
    with slowfs.mount_slowfs(source, mnt, delay_ms=100, ops="lookup", impl="c",
                             entry_timeout=60, attr_timeout=60, parallel_dirops=False) as fs:
        os.listdir(mnt / "a" / "b")
        assert fs.stats()["parallel_dirops"] is False
        elapsed = _parallel(os.lstat, paths[:4])
    assert elapsed >= 4 * 0.1 * 0.9


def test_no_path_leaves_the_source_through_a_symlink(built, source, tmp_path):
    # The kernel keeps a/ and a/b/ cached (entry_timeout 60 s) while a/ is swapped for a
    # symlink to a directory outside the source behind the mount's back: requests on the
    # cached paths must fail, not act on the outside file.
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)
    name = f"ab{0:030x}"
    victim = outside / "b" / name
    victim.write_bytes(b"not yours")
    mnt = tmp_path / "mnt"
    with slowfs.mount_slowfs(source, mnt, delay_ms=0, impl="c", entry_timeout=60,
                             attr_timeout=0):
        assert os.lstat(mnt / "a" / "b" / name).st_size == 0
        os.rename(source / "a", source / "a-moved")
        os.symlink(outside, source / "a")
        with pytest.raises(OSError):
            os.unlink(mnt / "a" / "b" / name)
        with pytest.raises(OSError):
            os.lstat(mnt / "a" / "b" / name)
    assert victim.read_bytes() == b"not yours"
    assert (source / "a-moved" / "b" / name).exists()


def test_unmounts_when_the_body_fails(built, source, tmp_path):
    mnt = tmp_path / "mnt"
    with pytest.raises(RuntimeError, match="boom"), \
            slowfs.mount_slowfs(source, mnt, delay_ms=1, impl="c") as fs:
        handle = open(mnt / "a" / "b" / sorted(os.listdir(source / "a" / "b"))[1], "rb")  # noqa: SIM115
        assert handle.read() == b"x"
        assert fs.stats()["ops"]["open"] == 1
        try:
            raise RuntimeError("boom")
        finally:
            handle.close()
    assert not os.path.ismount(mnt)


def test_unmounts_itself_when_the_client_goes_away(built, source, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.Popen([built, str(source), str(mnt), "--delay-ms", "0"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert '"ready": true' in proc.stdout.readline()
        assert os.path.ismount(mnt)
        proc.stdin.write("teleport\n")
        proc.stdin.flush()
        assert "unknown command" in proc.stdout.readline()
        proc.stdin.close()  # no unmount from us: the server must not leave the mount behind
        assert proc.wait(timeout=15) == 0
        assert not os.path.ismount(mnt)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        slowfs._unmount(str(mnt))


def test_refuses_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="impl"), \
            slowfs.mount_slowfs(tmp_path, tmp_path / "mnt", delay_ms=1, impl="rust"):
        pass
    with pytest.raises(ValueError, match="threads"), \
            slowfs.mount_slowfs(tmp_path, tmp_path / "mnt", delay_ms=1, threads=8):
        pass
