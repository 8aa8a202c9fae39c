"""slowfs: a FUSE passthrough filesystem that sleeps a fixed delay in chosen operations.

It makes a local directory behave like a high-latency mount (NFS, a slow FUSE backend) so
tests and benchmarks can measure what a latency-bound filesystem does to a tree walk, a GC
or a prune. Two halves live in this one file:

* the **server** (`python3 slowfs.py SOURCE MOUNTPOINT --delay-ms 1`): Debian's
  python3-fusepy (module `fusepy`, libfuse 2.9), run with the system /usr/bin/python3;
  multi-threaded, so concurrent requests overlap (libfuse 2.9 runs at most 10 worker
  threads: more than ~10 requests in flight queue in the kernel).
* the **client** (`mount_slowfs(...)`), importable from any Python 3.11 (the project's venv
  included) with the standard library only: it starts the server, waits until the mount
  answers, lets you read per-operation counters, change the delay, and always unmounts.

`mount_slowfs(..., impl="c", threads=64)` runs slowfs3.c instead (libfuse 3, built on demand
into bin/ by build.sh): same options, counters and control protocol, but up to `threads`
requests served at a time and microseconds of overhead per request, so the harness is not
the bottleneck of a highly concurrent client.

    from slowfs import mount_slowfs
    with mount_slowfs("/tmp/tree", "/tmp/mnt", delay_ms=1) as fs:
        os.lstat("/tmp/mnt/a/b/x")
        fs.stats()  # {"delay_ms": 1.0, "ops": {"getattr": 3, ...}, "delayed": {...}}

See README.md in this directory for the protocol, the defaults and the caveats.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator

# Operations delayed by default: the metadata round trips of a tree walk and a GC. The
# high-level libfuse API has no separate lookup: the kernel's LOOKUP arrives as getattr,
# so "lookup" is accepted as another name for getattr.
DEFAULT_OPS = ("getattr", "readdir", "unlink")
ALL_OPS = ("getattr", "readdir", "unlink", "rmdir", "mkdir", "rename", "create", "open",
           "opendir", "read", "write", "release", "truncate", "utimens", "chmod", "chown",
           "link", "symlink", "readlink", "statfs", "fsync", "flush", "access", "mknod")
SYSTEM_PYTHON = "/usr/bin/python3"
READY_TIMEOUT_S = 15.0
IMPLS = ("python", "c")
HERE = os.path.dirname(os.path.abspath(__file__))
C_SOURCE = os.path.join(HERE, "slowfs3.c")
C_BUILD = os.path.join(HERE, "build.sh")
C_BINARY = os.path.join(HERE, "bin", "slowfs3")
C_DEFAULT_THREADS = 64
_build_lock = threading.Lock()


# ---------------------------------------------------------------------------------------
# Client side (standard library only).


class SlowFSError(RuntimeError):
    pass


def fuse_available(python: str = SYSTEM_PYTHON, impl: str = "python") -> str | None:
    """None when slowfs can mount here, else why not (for pytest.skip and benchmarks).

    impl="c": what building bin/slowfs3 needs is there (mount_slowfs builds it on first use;
    a failing compilation is an error, not a reason to skip).
    """
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {', '.join(IMPLS)}, not {impl!r}")
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not accessible (FUSE mounts need root or the fuse group)"
    if shutil.which("fusermount") is None and shutil.which("fusermount3") is None:
        return "fusermount is missing (Debian: apt-get install fuse3)"
    if impl == "c":
        return _c_missing()
    if not os.path.exists(python):
        return f"{python} is missing"
    probe = subprocess.run([python, "-c", "import fusepy"], capture_output=True, text=True,
                           check=False)
    if probe.returncode != 0:
        return "python3-fusepy is not installed (Debian: apt-get install python3-fusepy)"
    return None


def _c_fresh() -> bool:
    return os.path.exists(C_BINARY) and os.path.getmtime(C_BINARY) >= max(
        os.path.getmtime(C_SOURCE), os.path.getmtime(C_BUILD))


def _c_missing() -> str | None:
    """What building slowfs3 needs and is not there (None: nothing, or already built)."""
    if _c_fresh():
        return None
    if shutil.which(os.environ.get("CC", "cc")) is None:
        return "no C compiler to build slowfs3 (Debian: apt-get install gcc)"
    if shutil.which("pkg-config") is None:
        return "pkg-config is missing to build slowfs3 (Debian: apt-get install pkg-config)"
    if subprocess.run(["pkg-config", "--exists", "fuse3"], check=False).returncode != 0:
        return ("libfuse3 headers are missing to build slowfs3 "
                "(Debian: apt-get install libfuse3-dev)")
    return None


def build_slowfs3(force: bool = False) -> str:
    """Path of the slowfs3 binary, (re)built with build.sh when missing or stale.

    Raises SlowFSError saying what is missing (compiler, pkg-config, libfuse3-dev) or why the
    compilation failed.
    """
    with _build_lock:
        if not force and _c_fresh():
            return C_BINARY
        missing = _c_missing() if not force else None
        if missing:
            raise SlowFSError(missing)
        proc = subprocess.run(["sh", C_BUILD, C_BINARY], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0 or not os.path.exists(C_BINARY):
            raise SlowFSError(f"building slowfs3 failed: {proc.stderr.strip()[-1500:]}")
        return C_BINARY


def parse_ops(ops: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if ops is None:
        return DEFAULT_OPS
    items = ops.split(",") if isinstance(ops, str) else list(ops)
    out: list[str] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item == "all":
            out.extend(ALL_OPS)
            continue
        if item == "lookup":
            item = "getattr"
        if item not in ALL_OPS:
            raise ValueError(f"unknown slowfs operation {item!r} "
                             f"(choose from {', '.join(ALL_OPS)}, lookup, all)")
        out.append(item)
    return tuple(dict.fromkeys(out))


class SlowFS:
    """A running slowfs mount: counters and delay control over the server's stdin/stdout."""

    def __init__(self, proc: subprocess.Popen[str], source: str, mountpoint: str) -> None:
        self.proc = proc
        self.source = source
        self.mountpoint = mountpoint
        self._lock = threading.Lock()

    def _ask(self, line: str, timeout: float = 10.0) -> dict:
        with self._lock:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            try:
                self.proc.stdin.write(line + "\n")
                self.proc.stdin.flush()
            except BrokenPipeError as exc:
                raise SlowFSError("the slowfs server has exited") from exc
            reply = _readline(self.proc, timeout)
        if reply is None:
            raise SlowFSError(f"no answer from the slowfs server to {line!r}")
        return json.loads(reply)

    def stats(self) -> dict:
        """{"impl", "delay_ms", "delayed_ops", "ops": {op: count}, "delayed": {op: count}}
        (slowfs3 adds "threads")."""
        return self._ask("stats")

    def reset(self) -> dict:
        """Zero the counters (returns the counts before the reset)."""
        return self._ask("reset")

    def set_delay(self, delay_ms: float) -> dict:
        return self._ask(f"delay {float(delay_ms)!r}")


def _readline(proc: subprocess.Popen[str], timeout: float) -> str | None:
    """One line from the server's stdout, or None on EOF/timeout (never blocks forever)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if sel.select(left):
                line = proc.stdout.readline()
                return line or None


def _unmount(mountpoint: str) -> bool:
    """Unmount; lazily when busy. True when the mountpoint is no longer a mount."""
    tool = shutil.which("fusermount") or shutil.which("fusermount3")
    attempts: list[list[str]] = []
    if tool:
        attempts += [[tool, "-u", mountpoint], [tool, "-u", "-z", mountpoint]]
    attempts += [["umount", mountpoint], ["umount", "-l", mountpoint]]
    for cmd in attempts:
        if not os.path.ismount(mountpoint):
            return True
        subprocess.run(cmd, capture_output=True, check=False)
    return not os.path.ismount(mountpoint)


@contextlib.contextmanager
def mount_slowfs(source: str, mountpoint: str, delay_ms: float = 1.0, *,
                 ops: str | tuple[str, ...] | list[str] | None = None,
                 attr_timeout: float = 1.0, entry_timeout: float = 1.0,
                 python: str = SYSTEM_PYTHON, impl: str = "python",
                 threads: int | None = None,
                 parallel_dirops: bool = True, ctime: str = "source") -> Iterator[SlowFS]:
    """Mount SOURCE at MOUNTPOINT with `delay_ms` in each of `ops`; unmount on exit, always.

    `ops`: names from ALL_OPS, "lookup" (= getattr) or "all"; default getattr, readdir,
    unlink. `attr_timeout`/`entry_timeout` are the kernel cache times (libfuse default 1 s).
    `impl`: "python" (this file's fusepy server, libfuse 2.9, at most 10 requests served at
    a time) or "c" (slowfs3.c, libfuse 3, `threads` server threads, default 64; built on
    demand); `parallel_dirops=False` makes slowfs3 keep the kernel's one-at-a-time LOOKUP and
    READDIR per directory (libfuse 2.9's behaviour; NFS clients do not serialise them).
    `ctime="mtime"` (slowfs.py only) reports each file's mtime as its ctime, as filesystems
    without a real change time do (some SMB servers, FUSE backends over object stores): a
    hard link or chmod then leaves the ctime seen through the mount unchanged.
    Raises SlowFSError when the mount cannot be made (see fuse_available()).
    """
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {', '.join(IMPLS)}, not {impl!r}")
    if threads is not None and (impl != "c" or threads < 1):
        raise ValueError("threads= needs impl='c' and at least 1 thread "
                         "(libfuse 2.9's thread count is fixed)")
    if ctime not in ("source", "mtime") or (ctime != "source" and impl != "python"):
        raise ValueError("ctime= is 'source', or 'mtime' with impl='python'")
    if not parallel_dirops and impl != "c":
        raise ValueError("parallel_dirops=False needs impl='c' (slowfs.py never has them)")
    source = os.path.abspath(source)
    mountpoint = os.path.abspath(mountpoint)
    if not os.path.isdir(source):
        raise SlowFSError(f"{source} is not a directory")
    os.makedirs(mountpoint, exist_ok=True)
    if os.path.ismount(mountpoint):
        raise SlowFSError(f"{mountpoint} is already a mount point")
    opts = [source, mountpoint, "--delay-ms", str(delay_ms), "--ops", ",".join(parse_ops(ops)),
            "--attr-timeout", str(attr_timeout), "--entry-timeout", str(entry_timeout)]
    if impl == "c":
        cmd = [build_slowfs3(), *opts, "--threads", str(threads or C_DEFAULT_THREADS)]
        if not parallel_dirops:
            cmd.append("--serial-dirops")
    else:
        cmd = [python, os.path.abspath(__file__), *opts, "--ctime", ctime]
    # The server's log goes to a file, never to a pipe nobody drains: a full pipe would
    # block a FUSE worker in write(2) and with it every process using the mount.
    errlog = tempfile.TemporaryFile(mode="w+t")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=errlog, text=True, bufsize=1)
    try:
        line = _readline(proc, READY_TIMEOUT_S)
        if line is None or json.loads(line).get("ready") is not True:
            proc.poll()
            errlog.seek(0)
            err = errlog.read().strip()[-2000:]
            raise SlowFSError(f"slowfs did not mount {mountpoint}: {err or 'no ready signal'}")
        yield SlowFS(proc, source, mountpoint)
    finally:
        unmounted = _unmount(mountpoint)
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        errlog.close()
        if not unmounted:
            raise SlowFSError(f"could not unmount {mountpoint}")


# ---------------------------------------------------------------------------------------
# Server side (runs under /usr/bin/python3 with Debian's python3-fusepy).


def _make_ops(source: str, delay_ms: float, delayed: tuple[str, ...],  # type: ignore[no-untyped-def]
              ctime: str = "source"):
    import fusepy
    from fusepy import FuseOSError, Operations

    class SlowPassthrough(Operations):
        use_ns = True

        def __init__(self) -> None:
            self.root = source
            self.delay = delay_ms / 1000.0
            self.delayed = frozenset(delayed)
            self.counts: dict[str, int] = {}
            self.delayed_counts: dict[str, int] = {}
            self.lock = threading.Lock()

        # Every operation goes through here: count it, sleep if it is a delayed one.
        def __call__(self, op, *args):  # type: ignore[no-untyped-def]
            slow = op in self.delayed
            with self.lock:
                self.counts[op] = self.counts.get(op, 0) + 1
                if slow:
                    self.delayed_counts[op] = self.delayed_counts.get(op, 0) + 1
                delay = self.delay
            if slow and delay > 0:
                time.sleep(delay)
            fn = getattr(self, op, None)
            if fn is None:
                raise FuseOSError(errno.ENOSYS)
            return fn(*args)

        def _full(self, path: str) -> str:
            return os.path.join(self.root, path.lstrip("/"))

        # -- control channel ----------------------------------------------------------
        def init(self, path):  # type: ignore[no-untyped-def]
            threading.Thread(target=self._control, name="slowfs-control", daemon=True).start()
            _reply({"ready": True, "impl": "python", "pid": os.getpid(), "delay_ms": delay_ms,
                    "delayed_ops": sorted(self.delayed)})

        def snapshot(self, reset: bool = False) -> dict:
            with self.lock:
                out = {"impl": "python", "delay_ms": self.delay * 1000.0,
                       "delayed_ops": sorted(self.delayed),
                       "ops": dict(sorted(self.counts.items())),
                       "delayed": dict(sorted(self.delayed_counts.items()))}
                if reset:
                    self.counts.clear()
                    self.delayed_counts.clear()
            return out

        def _control(self) -> None:
            for raw in sys.stdin:
                words = raw.split()
                if not words:
                    continue
                if words[0] == "stats":
                    _reply(self.snapshot())
                elif words[0] == "reset":
                    _reply(self.snapshot(reset=True))
                elif words[0] == "delay" and len(words) == 2:
                    with self.lock:
                        self.delay = max(0.0, float(words[1])) / 1000.0
                    _reply(self.snapshot())
                else:
                    _reply({"error": f"unknown command {raw.strip()!r}"})
            # The client went away without unmounting: do not leave a dead mount behind.
            tool = shutil.which("fusermount") or "fusermount"
            subprocess.run([tool, "-u", "-z", self.mountpoint], capture_output=True, check=False)

        # -- metadata -----------------------------------------------------------------
        def getattr(self, path, fh=None):  # type: ignore[no-untyped-def]
            try:
                st = os.lstat(self._full(path))
            except OSError as exc:
                raise FuseOSError(exc.errno) from None
            out = {k: getattr(st, k) for k in (
                "st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks", "st_ino")}
            # use_ns: times in nanoseconds, so mtimes pass through exactly.
            out.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns,
                       st_ctime=st.st_mtime_ns if ctime == "mtime" else st.st_ctime_ns)
            return out

        def readdir(self, path, fh):  # type: ignore[no-untyped-def]
            out: list = [".", ".."]
            try:
                with os.scandir(self._full(path)) as it:
                    for e in it:
                        # Names plus the file type (d_type), like NFS READDIR: no attributes.
                        try:
                            if e.is_dir(follow_symlinks=False):
                                mode = 0o040000
                            elif e.is_symlink():
                                mode = 0o120000
                            else:
                                mode = 0o100000
                        except OSError:
                            mode = 0
                        out.append((e.name, {"st_mode": mode}, 0))
            except OSError as exc:
                raise FuseOSError(exc.errno) from None
            return out

        def readlink(self, path):  # type: ignore[no-untyped-def]
            return _os(os.readlink, self._full(path))

        def access(self, path, amode):  # type: ignore[no-untyped-def]
            if not os.access(self._full(path), amode, follow_symlinks=False):
                raise FuseOSError(errno.EACCES)
            return 0

        def statfs(self, path):  # type: ignore[no-untyped-def]
            sv = _os(os.statvfs, self._full(path))
            return {k: getattr(sv, k) for k in (
                "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files",
                "f_flag", "f_frsize", "f_namemax")}

        def chmod(self, path, mode):  # type: ignore[no-untyped-def]
            return _os(os.chmod, self._full(path), mode)

        def chown(self, path, uid, gid):  # type: ignore[no-untyped-def]
            return _os(os.lchown, self._full(path), uid, gid)

        def utimens(self, path, times=None):  # type: ignore[no-untyped-def]
            if times is None:
                return _os(os.utime, self._full(path), follow_symlinks=False)
            return _os(os.utime, self._full(path), ns=times, follow_symlinks=False)

        def mknod(self, path, mode, dev):  # type: ignore[no-untyped-def]
            return _os(os.mknod, self._full(path), mode, dev)

        def mkdir(self, path, mode):  # type: ignore[no-untyped-def]
            return _os(os.mkdir, self._full(path), mode)

        def rmdir(self, path):  # type: ignore[no-untyped-def]
            return _os(os.rmdir, self._full(path))

        def unlink(self, path):  # type: ignore[no-untyped-def]
            return _os(os.unlink, self._full(path))

        def symlink(self, target, source_):  # type: ignore[no-untyped-def]
            # fusepy passes (link path, link contents).
            return _os(os.symlink, source_, self._full(target))

        def link(self, target, source_):  # type: ignore[no-untyped-def]
            return _os(os.link, self._full(source_), self._full(target))

        def rename(self, old, new):  # type: ignore[no-untyped-def]
            return _os(os.rename, self._full(old), self._full(new))

        # -- file data ----------------------------------------------------------------
        def open(self, path, flags):  # type: ignore[no-untyped-def]
            return _os(os.open, self._full(path), flags)

        def create(self, path, mode, fi=None):  # type: ignore[no-untyped-def]
            return _os(os.open, self._full(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)

        def read(self, path, size, offset, fh):  # type: ignore[no-untyped-def]
            return _os(os.pread, fh, size, offset)

        def write(self, path, data, offset, fh):  # type: ignore[no-untyped-def]
            return _os(os.pwrite, fh, data, offset)

        def truncate(self, path, length, fh=None):  # type: ignore[no-untyped-def]
            if fh is not None:
                return _os(os.ftruncate, fh, length)
            return _os(os.truncate, self._full(path), length)

        def flush(self, path, fh):  # type: ignore[no-untyped-def]
            return 0

        def fsync(self, path, datasync, fh):  # type: ignore[no-untyped-def]
            return _os(os.fdatasync if datasync else os.fsync, fh)

        def release(self, path, fh):  # type: ignore[no-untyped-def]
            return _os(os.close, fh)

    del fusepy
    return SlowPassthrough()


def _os(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Call an os function; turn its OSError into the errno FUSE returns."""
    from fusepy import FuseOSError

    try:
        out = fn(*args, **kwargs)
    except OSError as exc:
        raise FuseOSError(exc.errno or errno.EIO) from None
    return 0 if out is None else out


_out_lock = threading.Lock()


def _reply(obj: dict) -> None:
    with _out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def serve(argv: list[str] | None = None) -> int:
    import argparse
    import logging

    ap = argparse.ArgumentParser(prog="slowfs", description=__doc__.split("\n\n")[0])
    ap.add_argument("source")
    ap.add_argument("mountpoint")
    ap.add_argument("--delay-ms", type=float, default=1.0)
    ap.add_argument("--ops", default=",".join(DEFAULT_OPS))
    ap.add_argument("--attr-timeout", type=float, default=1.0)
    ap.add_argument("--entry-timeout", type=float, default=1.0)
    ap.add_argument("--ctime", choices=("source", "mtime"), default="source")
    ap.add_argument("--debug", action="store_true")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.debug else logging.WARNING, stream=sys.stderr)
    try:
        import fusepy
    except ImportError:
        sys.stderr.write("slowfs: python3-fusepy is missing (apt-get install python3-fusepy)\n")
        return 2
    ops = _make_ops(os.path.abspath(a.source), a.delay_ms, parse_ops(a.ops), a.ctime)
    ops.mountpoint = os.path.abspath(a.mountpoint)
    fusepy.FUSE(ops, a.mountpoint, foreground=True, nothreads=False, fsname="slowfs",
                attr_timeout=a.attr_timeout, entry_timeout=a.entry_timeout)
    return 0


if __name__ == "__main__":
    sys.exit(serve())
