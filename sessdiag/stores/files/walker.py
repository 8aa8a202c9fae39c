"""The file-store walk: one lstat per entry, integer arithmetic into a Census, in parallel.

The hot loop keeps no per-file Python objects: every counter lives in a local variable
until the directory is done. Directories are opened relative to their parent's fd with
O_NOFOLLOW, so a directory swapped for a symlink mid-scan is never followed.
"""

from __future__ import annotations

import heapq
import math
import os
import queue
import random
import re
import stat
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from operator import floordiv

from sessdiag.census import Census
from sessdiag.core.errors import DecodeError, TargetUnreadable
from sessdiag.stores.files.layout import Layout

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
# A directory inode larger than this holds ~100k+ entries: stream it instead of listing it
# whole, so memory stays flat on a flat PHP save_path with millions of files.
STREAM_DIR_BYTES = 4 << 20
STREAM_BATCH = 8192
# Payloads above this are counted as undecodable ("oversized") without being read.
MAX_PAYLOAD_BYTES = 64 << 20

_S_IFMT = 0o170000
_S_IFREG = 0o100000
_S_IFDIR = 0o040000
_S_IFLNK = 0o120000


@dataclass(frozen=True)
class ScanParams:
    root: str
    layout: Layout
    now: float
    max_lifetime: int
    age_edges: tuple[int, ...]
    sample_k: int = 1000
    deep: bool = False
    seed: int | None = None
    root_dev: int = 0

    @property
    def expire_cut(self) -> int:
        # beego's GC: expired when mtime.Unix() + maxlifetime < now.Unix(). For an integer
        # cut, int(mtime) < cut holds exactly when mtime < cut.
        return int(self.now) - self.max_lifetime

    def new_census(self) -> Census:
        return Census(buckets=len(self.age_edges) + 1)


PayloadCheck = Callable[[bytes], bool]  # bytes -> is_empty; raises DecodeError


def open_root(root: str) -> int:
    try:
        return os.open(root, DIR_FLAGS)
    except PermissionError as exc:
        raise TargetUnreadable(f"cannot read {root}: permission denied") from exc


def open_rel(root_fd: int, rel: str, flags: int = DIR_FLAGS) -> int:
    """Open ROOT/rel one component at a time, refusing symlinks at every level."""
    parts = [p for p in rel.split("/") if p]
    fd = os.dup(root_fd)
    try:
        for i, part in enumerate(parts):
            nxt = os.open(part, flags if i == len(parts) - 1 else DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


class _Walker:
    """Scans units (root-relative directories) into one Census."""

    def __init__(self, p: ScanParams, check: PayloadCheck | None, worker: int) -> None:
        self.p = p
        self.c = p.new_census()
        self.check = check
        self.root_fd = open_root(p.root)
        self.rnd = random.Random(None if p.seed is None else p.seed * 7919 + worker).random
        self.layout = p.layout
        self.name_match = p.layout.name_re.fullmatch
        self.plen = len(p.layout.prefix)
        self.shard_re: dict[str, re.Pattern[str]] = {}
        self.fast_class = _simple_class(p.layout.sid_pattern)

    def close(self) -> None:
        os.close(self.root_fd)

    def scan_unit(self, rel: str) -> int:
        """Scan ROOT/rel recursively; returns the number of entries seen (for progress)."""
        c = self.c
        try:
            fd = open_rel(self.root_fd, rel) if rel else os.dup(self.root_fd)
        except FileNotFoundError:
            c.vanished += 1
            return 0
        except PermissionError:
            c.unreadable += 1
            c.add_example("unreadable", rel)
            return 0
        except OSError as exc:
            # ELOOP/ENOTDIR: the directory was replaced by a symlink or a file since listed.
            c.add_example("raced", f"{rel}: {exc.strerror}")
            c.vanished += 1
            return 0
        try:
            return self._scan_dir(fd, rel)
        finally:
            os.close(fd)

    def _batches(self, fd: int) -> Iterable[list[str]]:
        if os.fstat(fd).st_size > STREAM_DIR_BYTES:
            return _stream_batches(fd)
        return (os.listdir(fd),)

    def _non_sessions(self, names: list[str], shard_key: str) -> set[str]:
        """Names in this batch that are not session ids of this shard, in one C-level pass.

        A per-name regex call costs more than the lstat bookkeeping; removing every valid
        line from the joined listing with one substitution leaves only the others.
        """
        joined = "\n".join(names)
        if self.fast_class is not None and self._all_sessions(joined, names, shard_key):
            return set()
        if joined.count("\n") != len(names) - 1:
            # A name holding a newline would split; judge this batch name by name.
            return {n for n in names
                    if self.name_match(n) is None or not n.startswith(shard_key, self.plen)}
        pattern = self.shard_re.get(shard_key)
        if pattern is None:
            pattern = re.compile(
                "^" + re.escape(self.layout.prefix) + "(?=" + re.escape(shard_key) + ")(?:"
                + self.layout.sid_pattern + ")\n", re.M)
            self.shard_re[shard_key] = pattern
        rest = pattern.sub("", joined + "\n")
        return set(rest.split("\n")[:-1]) if rest else set()

    def _all_sessions(self, joined: str, names: list[str], shard_key: str) -> bool:
        """Every name a session id of this shard? Checked a whole listing at a time, in C.

        The usual shard holds nothing else; proving that with bytes.translate, counts and
        lengths costs a tenth of the regex, which then only runs when something is odd.
        """
        allowed, lo, hi = self.fast_class  # type: ignore[misc]
        n = len(names)
        head = self.layout.prefix + shard_key
        if not joined.startswith(head) or joined.count("\n" + head) != n - 1 \
                or joined.count("\n") != n - 1 or not joined.isascii():
            return False
        lengths = list(map(len, names))
        plen = self.plen
        if min(lengths) - plen < lo or max(lengths) - plen > hi:
            return False
        body = joined.replace("\n" + self.layout.prefix, "\n")[plen:] if plen else joined
        return not body.encode("ascii").translate(None, allowed)

    def _scan_dir(self, fd: int, rel: str) -> int:
        c = self.c
        c.dirs += 1
        parts = rel.split("/") if rel else []
        shard_key: str | None = None
        if len(parts) == self.layout.depth and all(len(x) == 1 for x in parts):
            shard_key = "".join(parts)
        prefix = rel + "/" if rel else ""
        subdirs: list[str] = []
        seen = 0
        try:
            for batch in self._batches(fd):
                seen += len(batch)
                if shard_key is None:
                    others = [(name, None) for name in batch]
                else:
                    others = self._scan_sessions(fd, batch, shard_key, prefix)
                for name, st in others:
                    self._classify_other(fd, name, st, prefix, subdirs)
        except PermissionError:
            c.unreadable += 1
            c.add_example("unreadable", rel or ".")
            return seen
        if shard_key is not None:
            n = c.shards.pop("", 0)
            if n:
                key = rel or "."
                c.shards[key] = c.shards.get(key, 0) + n

        for name in subdirs:
            try:
                sub = os.open(name, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                continue
            except PermissionError:
                c.unreadable += 1
                c.add_example("unreadable", prefix + name)
                continue
            except OSError:
                c.vanished += 1
                continue
            try:
                seen += self._scan_dir(sub, prefix + name)
            finally:
                os.close(sub)
        return seen

    def _scan_sessions(self, fd: int, batch: list[str], shard_key: str,
                       prefix: str) -> list[tuple[str, os.stat_result | None]]:
        """The hot loop over one batch of names; returns the entries that are not sessions.

        Per session it only appends the mtime to an array; sorting the array afterwards
        gives the histogram, expiry, extremes and hourly timeline by bisection, in C.
        """
        c = self.c
        p = self.p
        bad = self._non_sessions(batch, shard_key)
        lstat = os.lstat
        empty_sizes = self.layout.empty_sizes
        rnd = self.rnd
        sample = c.sample
        sample_k = p.sample_k
        # The sample keeps the k smallest of iid uniform keys. Rather than drawing a key per
        # file, draw how many files pass before one falls below the threshold (geometric)
        # and give that one a key uniform below it: the same sample, ~0.2 us a file less.
        # 1.0 takes every file until the sample is full; with --sample 0 it is full and
        # empty at once and nothing is ever taken.
        thresh = 1.0 if len(sample) < sample_k else (-sample[0][0] if sample else 0.0)
        skip = _gap(rnd, thresh)
        deep = p.deep
        mts = array("d")
        add_mt = mts.append
        emts = array("d")
        add_empty = emts.append
        nbytes = blocks = zero = 0
        others: list[tuple[str, os.stat_result | None]] = []

        for name in batch:
            try:
                st = lstat(name, dir_fd=fd)
            except FileNotFoundError:
                c.vanished += 1
                continue
            except PermissionError:
                c.unreadable += 1
                c.add_example("unreadable", prefix + name)
                continue
            if (st.st_mode & _S_IFMT) != _S_IFREG or (bad and name in bad):
                others.append((name, st))
                continue
            size = st.st_size
            mt = st.st_mtime
            nbytes += size
            blocks += st.st_blocks
            add_mt(mt)
            if deep:
                self._check_payload(fd, name, prefix, st, mt)
            elif size in empty_sizes:
                add_empty(mt)
                if size == 0:
                    zero += 1
            skip -= 1
            if skip < 0:
                item = (-rnd() * thresh, prefix + name, size)
                if len(sample) < sample_k:
                    heapq.heappush(sample, item)
                    if len(sample) >= sample_k:
                        thresh = -sample[0][0]
                else:
                    heapq.heappushpop(sample, item)
                    thresh = -sample[0][0]
                skip = _gap(rnd, thresh)

        n = len(mts)
        if n:
            c.sessions += n
            c.bytes += nbytes
            c.blocks += blocks
            c.zero_byte += zero
            self._aggregate_times(sorted(mts))
            if emts:
                c.empty += len(emts)
                count_hours(c.empty_hours, emts)
            c.shards[""] = c.shards.get("", 0) + n
        return others

    def _aggregate_times(self, a: list[float]) -> None:
        """Histogram, expiry, future and extremes of one batch's sorted mtimes."""
        c = self.c
        p = self.p
        n = len(a)
        now = p.now
        # A session is in bucket i when edges[i-1] < now - mtime <= edges[i], i.e. when
        # mtime >= now - edges[i]: count those from the right end of the sorted mtimes.
        below = 0
        for i, edge in enumerate(p.age_edges):
            within = n - bisect_left(a, now - edge)
            c.hist[i] += within - below
            below = within
        c.hist[-1] += n - below
        c.expired += bisect_left(a, p.expire_cut)
        c.future += n - bisect_right(a, now)
        c.oldest = a[0] if c.oldest is None else min(c.oldest, a[0])
        c.newest = a[-1] if c.newest is None else max(c.newest, a[-1])

    def _classify_other(self, fd: int, name: str, st: os.stat_result | None, prefix: str,
                        subdirs: list[str]) -> None:
        """Everything that is not a session of this shard: rare, so clarity beats speed."""
        c = self.c
        p = self.p
        if st is None:
            try:
                st = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                c.vanished += 1
                return
            except PermissionError:
                c.unreadable += 1
                c.add_example("unreadable", prefix + name)
                return
        fmt = st.st_mode & _S_IFMT
        if fmt == _S_IFDIR:
            if st.st_dev != p.root_dev:
                c.other_fs += 1
                c.foreign += 1
                c.add_example("other_fs", prefix + name)
            else:
                subdirs.append(name)
            return
        if fmt == _S_IFLNK:
            c.symlinks += 1
            c.add_example("symlinks", prefix + name)
        elif fmt == _S_IFREG:
            kind = "misplaced" if self.name_match(name) is not None else "foreign"
            setattr(c, kind, getattr(c, kind) + 1)
            c.add_example(kind, prefix + name)
        else:
            # FIFOs, sockets, devices: never opened (a FIFO would block a reader).
            c.foreign += 1
            c.add_example("foreign", prefix + name + f" ({_kind(st.st_mode)})")
        if st.st_mtime < p.expire_cut:
            c.old_non_sessions += 1

    def _check_payload(self, dir_fd: int, name: str, prefix: str, st: os.stat_result,
                       mt: float) -> None:
        c = self.c
        size = st.st_size
        empty = False
        if size == 0:
            c.zero_byte += 1
            empty = True
            c.decoded += 1
        else:
            data = read_payload(c, dir_fd, name, st)
            if data is None:
                return
            empty = classify_payload(c, self.check, data, prefix + name)
        if empty:
            c.empty += 1
            h = int(mt) // 3600
            c.empty_hours[h] = c.empty_hours.get(h, 0) + 1


def read_payload(c: Census, dir_fd: int, name: str, st: os.stat_result) -> bytes | None:
    """Read one session payload by dir fd, never through a symlink; None if it can't be."""
    if st.st_size > MAX_PAYLOAD_BYTES:
        c.oversized += 1
        c.undecodable += 1
        c.undecodable_reasons["oversized"] = c.undecodable_reasons.get("oversized", 0) + 1
        return None
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError:
        c.payload_unreadable += 1
        return None
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode) or fst.st_ino != st.st_ino:
            return None
        chunks = []
        left = min(fst.st_size, MAX_PAYLOAD_BYTES) + 1
        while left > 0:
            want = min(left, 1 << 20)
            b = os.read(fd, want)
            chunks.append(b)
            left -= len(b)
            if len(b) < want:  # a short read of a regular file is its end: no extra read
                break
        return b"".join(chunks)
    except OSError:
        c.payload_unreadable += 1
        return None
    finally:
        os.close(fd)


def classify_payload(c: Census, check: PayloadCheck | None, data: bytes, path: str) -> bool:
    """Decode one payload into the census; returns True when it holds no attributes."""
    c.decoded += 1
    if check is None:
        return len(data) == 0
    if len(data) > MAX_PAYLOAD_BYTES:
        c.oversized += 1
        c.undecodable += 1
        c.undecodable_reasons["oversized"] = c.undecodable_reasons.get("oversized", 0) + 1
        return False
    try:
        empty = check(data)
    except DecodeError as exc:
        c.undecodable += 1
        reason = exc.reason.split(":")[0][:60]
        c.undecodable_reasons[reason] = c.undecodable_reasons.get(reason, 0) + 1
        c.add_example("undecodable", f"{path}: {exc}")
        return False
    if empty:
        c.decoded_empty += 1
    return empty


def _simple_class(pattern: str) -> tuple[bytes, int, int] | None:
    """`[0-9a-f]{16,256}` -> (the bytes it allows plus newline, 16, 256); None otherwise."""
    m = re.fullmatch(r"\[([^\]\\^]+)\]\{(\d+),(\d+)\}", pattern)
    if m is None:
        return None
    spec, chars = m.group(1), set()
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            chars.update(chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            chars.add(spec[i])
            i += 1
    if not all(c.isascii() for c in chars):
        return None
    return "".join(sorted(chars)).encode() + b"\n", int(m.group(2)), int(m.group(3))


def _stream_batches(fd: int) -> Iterator[list[str]]:
    size = STREAM_BATCH
    dup = os.dup(fd)
    try:
        with os.scandir(dup) as it:
            batch: list[str] = []
            for entry in it:
                batch.append(entry.name)
                if len(batch) >= size:
                    yield batch
                    batch = []
            if batch:
                yield batch
    finally:
        os.close(dup)


def _gap(rnd: Callable[[], float], p: float) -> float:
    """Files to pass over before the next whose uniform key falls below p: Geometric(p)."""
    if p >= 1.0:
        return 0
    if p <= 0.0:
        return math.inf
    return math.floor(math.log(1.0 - rnd()) / math.log1p(-p))


def count_hours(hours: dict[int, int], mtimes: Iterable[float]) -> None:
    """Count mtimes per hour (int(epoch) // 3600) without sorting them: all in C.

    Sorting a shard's empty sessions just to bisect them by hour cost as much as the
    histogram's own sort; a Counter over the hours is a third of that.
    """
    per_hour = Counter(map(floordiv, map(int, mtimes), repeat(3600)))
    for h, n in per_hour.items():
        hours[h] = hours.get(h, 0) + n


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special"


# ---------------------------------------------------------------------------------------
# Planning: the parent lists the levels above the shards; shard directories are the units.


def plan_units(p: ScanParams) -> tuple[Census, list[str]]:
    """Walk the levels above the shard depth in-process; return their census and the units."""
    top = _Walker(p, None, worker=-1)
    units: list[str] = []
    try:
        if p.layout.depth == 0:
            return top.c, [""]
        frontier = [""]
        for _level in range(p.layout.depth):
            nxt: list[str] = []
            for rel in frontier:
                nxt.extend(_list_level(top, rel))
            frontier = nxt
        units = frontier
    finally:
        top.close()
    return top.c, units


def _list_level(w: _Walker, rel: str) -> list[str]:
    """Account the non-directories of one upper-level directory; return its subdirectories."""
    c = w.c
    p = w.p
    try:
        fd = open_rel(w.root_fd, rel) if rel else os.dup(w.root_fd)
    except FileNotFoundError:
        return []
    except PermissionError:
        c.unreadable += 1
        c.add_example("unreadable", rel)
        return []
    except OSError:
        c.vanished += 1
        return []
    c.dirs += 1
    prefix = rel + "/" if rel else ""
    out: list[str] = []
    try:
        try:
            names = sorted(os.listdir(fd))
        except PermissionError:
            c.unreadable += 1
            c.add_example("unreadable", rel or ".")
            return []
        for name in names:
            try:
                st = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                c.vanished += 1
                continue
            except PermissionError:
                c.unreadable += 1
                continue
            if stat.S_ISDIR(st.st_mode):
                if st.st_dev != p.root_dev:
                    c.other_fs += 1
                    c.foreign += 1
                    c.add_example("other_fs", prefix + name)
                else:
                    out.append(prefix + name)
                continue
            if stat.S_ISLNK(st.st_mode):
                c.symlinks += 1
                c.add_example("symlinks", prefix + name)
            elif stat.S_ISREG(st.st_mode) and w.name_match(name):
                c.misplaced += 1
                c.add_example("misplaced", prefix + name)
            else:
                c.foreign += 1
                c.add_example("foreign", prefix + name)
            if st.st_mtime < p.expire_cut:
                c.old_non_sessions += 1
    finally:
        os.close(fd)
    return out


# ---------------------------------------------------------------------------------------
# Execution: processes for CPU-bound local disks, threads for latency-bound mounts.

Progress = Callable[[int], None]


def run_units(p: ScanParams, units: list[str], *, jobs: int, mode: str,
              check: PayloadCheck | None, progress: Progress | None = None) -> Census:
    if jobs <= 1 or len(units) <= 1:
        w = _Walker(p, check, worker=0)
        try:
            for rel in units:
                seen = w.scan_unit(rel)
                if progress:
                    progress(seen)
        finally:
            w.close()
        return w.c
    if mode == "threads":
        return _run_threads(p, units, jobs, check, progress)
    return _run_processes(p, units, jobs, check, progress)


def _run_threads(p: ScanParams, units: list[str], jobs: int, check: PayloadCheck | None,
                 progress: Progress | None) -> Census:
    tasks: queue.SimpleQueue[str] = queue.SimpleQueue()
    for u in units:
        tasks.put(u)
    lock = threading.Lock()

    def work(i: int) -> Census:
        w = _Walker(p, check, worker=i)
        try:
            while True:
                try:
                    rel = tasks.get_nowait()
                except queue.Empty:
                    return w.c
                seen = w.scan_unit(rel)
                if progress:
                    with lock:
                        progress(seen)
        finally:
            w.close()

    total = p.new_census()
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="sessdiag-scan") as ex:
        for part in ex.map(work, range(jobs)):
            total.merge(part, p.sample_k)
    return total


def _process_main(p: ScanParams, check: PayloadCheck | None, units: list[str], worker: int,
                  tasks, results) -> None:  # type: ignore[no-untyped-def]
    try:
        w = _Walker(p, check, worker=worker)
        while True:
            idx = tasks.get()
            if idx is None:
                break
            seen = w.scan_unit(units[idx])
            results.put(("progress", seen))
        w.close()
        results.put(("done", w.c))
    except BaseException as exc:  # report, never hang the parent
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def _run_processes(p: ScanParams, units: list[str], jobs: int, check: PayloadCheck | None,
                   progress: Progress | None) -> Census:
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    tasks = ctx.SimpleQueue()
    results = ctx.SimpleQueue()
    # Largest shards first would need a stat per shard; shuffling spreads big ones instead.
    order = list(range(len(units)))
    random.Random(p.seed).shuffle(order)
    for idx in order:
        tasks.put(idx)
    for _ in range(jobs):
        tasks.put(None)
    procs = [ctx.Process(target=_process_main, args=(p, check, units, i, tasks, results),
                         daemon=True) for i in range(jobs)]
    for proc in procs:
        proc.start()
    total = p.new_census()
    done = 0
    error: str | None = None
    try:
        while done < jobs:
            kind, payload = results.get()
            if kind == "progress":
                if progress:
                    progress(payload)
            elif kind == "done":
                total.merge(payload, p.sample_k)
                done += 1
            else:
                error = payload
                done += 1
    finally:
        for proc in procs:
            if error is not None or proc.is_alive():
                proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
    if error is not None:
        raise RuntimeError(f"scan worker failed: {error}")
    return total
