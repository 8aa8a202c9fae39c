"""The file-store walk: one lstat per entry, integer arithmetic into a Census, in parallel.

The hot loop keeps no per-file Python objects: every counter lives in a local variable
until the directory is done. Directories are opened relative to their parent's fd with
O_NOFOLLOW, so a directory swapped for a symlink mid-scan is never followed.
"""

from __future__ import annotations

import heapq
import math
import os
import random
import re
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from operator import floordiv

from sessdiag.census import Census
from sessdiag.core.errors import DecodeError
from sessdiag.stores.files import fsops, pool
from sessdiag.stores.files.classify import SESSION, Classifier, open_failure, walk_off_layout
from sessdiag.stores.files.fsops import MAX_PAYLOAD_BYTES, S_IFDIR, S_IFMT, S_IFREG
from sessdiag.stores.files.inflight import Engine, EngineSettings, WalkStats
from sessdiag.stores.files.layout import Layout
from sessdiag.stores.files.partition import Partition
from sessdiag.stores.files.pool import Unit, UpperListing


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
    mounts: frozenset[str] = frozenset()  # root-relative mount points inside the store
    partition: Partition | None = None  # --partition K/N: only what that part owns
    # In-flight cap, rate cap, fan-out policy (inflight.py).
    engine: EngineSettings = field(default_factory=EngineSettings)

    @property
    def expire_cut(self) -> int:
        # beego's GC: expired when mtime.Unix() + maxlifetime < now.Unix(). For an integer
        # cut, int(mtime) < cut holds exactly when mtime < cut.
        return int(self.now) - self.max_lifetime

    def new_census(self) -> Census:
        return Census(buckets=len(self.age_edges) + 1)

    def classifier(self) -> Classifier:
        return Classifier(self.layout, self.root_dev, self.mounts)


PayloadCheck = Callable[[bytes], bool]  # bytes -> is_empty; raises DecodeError


class _Walker:
    """Scans units (root-relative directories) into one Census."""

    def __init__(self, p: ScanParams, check: PayloadCheck | None, worker: int,
                 engine: Engine | None = None) -> None:
        self.p = p
        self.c = p.new_census()
        # Threads share the process's engine; a forked worker makes its own.
        self.own_engine = engine is None
        self.engine = engine or Engine(p.engine)
        self.check = check
        self.root_fd = fsops.open_root(p.root)
        self.rnd = random.Random(None if p.seed is None else p.seed * 7919 + worker).random
        self.layout = p.layout
        self.clf = p.classifier()
        self.name_match = p.layout.name_re.fullmatch
        self.plen = len(p.layout.prefix)
        self.shard_re: dict[str, re.Pattern[str]] = {}
        self.fast_class = _simple_class(p.layout.sid_pattern)

    def close(self) -> None:
        os.close(self.root_fd)

    # the pool's Worker protocol
    def run(self, u: Unit) -> int:
        return self.scan_unit(u)

    def skip(self, u: Unit) -> None:
        pass

    def finish(self) -> tuple[Census, WalkStats | None]:
        self.close()
        return self.c, self.engine.close() if self.own_engine else None

    def scan_unit(self, u: Unit) -> int:
        """Scan one unit and what lies below it; returns the entries seen (for progress)."""
        c = self.c
        rel = u.rel
        try:
            chain = self.engine.op(fsops.open_chain, self.root_fd, rel, self.p.root_dev)
        except OSError as exc:
            self._open_failed(open_failure(exc), rel, exc)
            return 0
        try:
            if chain and chain[-1][2] != u.ino:
                c.add_example("raced", f"{rel}: replaced since listed")
                c.vanished += 1
                return 0
            fd = fsops.chain_fd(self.root_fd, chain)
            shard_key = self.clf.shard_key(rel)
            if shard_key is None:
                return self._walk_off_layout(fd, None, rel)
            return self._scan_dir(fd, rel, shard_key, u)
        finally:
            fsops.close_chain(chain)

    def _open_failed(self, kind: str, rel: str, exc: OSError | None = None) -> None:
        c = self.c
        if kind == "unreadable":
            c.unreadable += 1
            c.add_example("unreadable", rel or ".")
        elif kind == "vanished":
            c.vanished += 1
        else:
            # ELOOP/ENOTDIR: the directory was replaced by a symlink or a file since listed.
            c.add_example("raced", f"{rel}: {exc.strerror}" if exc else rel)
            c.vanished += 1

    def _non_sessions(self, names: list[str], shard_key: str) -> set[str]:
        """Names in this batch that are not session ids of this shard, in one C-level pass.

        A per-name regex call costs more than the lstat bookkeeping; removing every valid
        line from the joined listing with one substitution leaves only the others.
        """
        joined = "\n".join(names)
        if self.fast_class is not None and self._all_sessions(joined, names, shard_key):
            return set()
        is_session = self.clf.is_session_name
        if joined.count("\n") != len(names) - 1:
            # A name holding a newline would split; judge this batch name by name.
            return {n for n in names if not is_session(n, shard_key)}
        pattern = self.shard_re.get(shard_key)
        if pattern is None:
            pattern = re.compile(
                "^" + re.escape(self.layout.prefix) + "(?=" + re.escape(shard_key) + ")(?:"
                + self.layout.sid_pattern + ")\n", re.M)
            self.shard_re[shard_key] = pattern
        rest = pattern.sub("", joined + "\n")
        bad = set(rest.split("\n")[:-1]) if rest else set()
        # Ids never start with a dot (beego refuses them; prune's own names do).
        bad.update(n for n in names if n[:1] == ".")
        return bad

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

    def _scan_dir(self, fd: int, rel: str, shard_key: str, u: Unit) -> int:
        c = self.c
        c.dirs += u.owns_dir
        prefix = rel + "/" if rel else ""
        mounted = self._mounted_names(rel)
        subdirs: list[str] = []
        seen = 0
        try:
            for batch in self.engine.op(pool.unit_names, fd, u):
                seen += len(batch)
                others = self._scan_sessions(fd, batch, shard_key, prefix, mounted)
                for name, st in others:
                    self._classify_other(fd, name, st, rel, shard_key, subdirs)
        except PermissionError:
            c.unreadable += 1
            c.add_example("unreadable", rel or ".")
            return seen
        n = c.shards.pop("", 0)
        if n:
            key = rel or "."
            c.shards[key] = c.shards.get(key, 0) + n
        for name in subdirs:
            seen += self._walk_off_layout(fd, name, prefix + name)
        return seen

    def _mounted_names(self, rel: str) -> set[str]:
        """Names in ROOT/rel that are mount points (a bind-mounted file is no session)."""
        if not self.p.mounts:
            return set()
        return {m.rpartition("/")[2] for m in self.p.mounts if m.rpartition("/")[0] == rel}

    def _walk_off_layout(self, parent_fd: int, name: str | None, rel: str) -> int:
        """A directory off the layout and everything below it: classified, nothing a session."""
        c = self.c
        cut = self.p.expire_cut
        seen = 0
        for what, path, st, outcome, detail in walk_off_layout(self.clf, parent_fd, name, rel):
            if what == "entry":
                seen += 1
                assert st is not None
                self._count_anomaly(outcome, detail, path, st, cut)
            elif what == "dir":
                c.dirs += 1
            else:
                self._open_failed(what, path)
        return seen

    def _count_anomaly(self, outcome: str, detail: str | None, path: str,
                       st: os.stat_result, cut: int) -> None:
        c = self.c
        setattr(c, outcome, getattr(c, outcome) + 1)
        example = self.clf.example(outcome, path, st)
        c.add_example(outcome, example)
        if detail is not None:
            setattr(c, detail, getattr(c, detail) + 1)
            c.add_example(detail, path)
        if (st.st_mode & S_IFMT) == S_IFDIR:
            c.foreign_dirs += 1
        elif st.st_mtime < cut:
            c.old_non_sessions += 1
            # Its own examples: a finding about what the GC deletes names only those.
            c.add_example("old_non_sessions", example)

    def _scan_sessions(self, fd: int, batch: list[str], shard_key: str, prefix: str,
                       mounted: set[str]) -> list[tuple[str, os.stat_result | None]]:
        """The hot loop over one batch of names; returns the entries that are not sessions.

        Per session it only appends the mtime to an array; sorting the array afterwards
        gives the histogram, expiry, extremes and hourly timeline by bisection, in C.
        """
        c = self.c
        p = self.p
        bad = self._non_sessions(batch, shard_key)
        if mounted:
            bad |= mounted
        root_dev = p.root_dev
        # os.lstat itself on a local disk; on a slow mount, the engine's results of the
        # batch's names stat'ed many at once, handed back in this loop's order.
        lstat = self.engine.lstats(fd, batch)
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
            if (st.st_mode & S_IFMT) != S_IFREG or (bad and name in bad) \
                    or st.st_dev != root_dev:
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

    def _classify_other(self, fd: int, name: str, st: os.stat_result | None, rel: str,
                        shard_key: str, subdirs: list[str]) -> None:
        """Everything that is not a session of this shard: rare, so clarity beats speed."""
        c = self.c
        prefix = rel + "/" if rel else ""
        if st is None:
            try:
                st = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                c.vanished += 1
                return
            except OSError as exc:
                self._open_failed(open_failure(exc), prefix + name, exc)
                return
        outcome, detail = self.clf.entry(name, st, rel, shard_key)
        if outcome == SESSION:  # pragma: no cover - the hot loop counts every session
            raise AssertionError(f"{prefix}{name}: a session the hot loop passed over")
        if (st.st_mode & S_IFMT) == S_IFDIR and detail is None:
            subdirs.append(name)
            outcome = "foreign"
        self._count_anomaly(outcome, detail, prefix + name, st, self.p.expire_cut)

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
    return _count_read(c, _read_raw(dir_fd, name, st))


_OVERSIZED, _UNREADABLE = "oversized", "unreadable"


def _read_raw(dir_fd: int, name: str, st: os.stat_result) -> bytes | str | None:
    """The payload, _OVERSIZED, _UNREADABLE or None (gone, or not the file lstat'ed)."""
    if st.st_size > MAX_PAYLOAD_BYTES:
        return _OVERSIZED
    try:
        got = fsops.read_payload(dir_fd, name, ino=st.st_ino)
    except FileNotFoundError:
        return None
    except fsops.PayloadTooLarge:  # grew since the lstat
        return _OVERSIZED
    except OSError:
        return _UNREADABLE
    return None if got is None else got[0]


def _count_read(c: Census, got: bytes | str | None) -> bytes | None:
    if got == _OVERSIZED:
        c.oversized += 1
        c.undecodable += 1
        c.undecodable_reasons["oversized"] = c.undecodable_reasons.get("oversized", 0) + 1
        return None
    if got == _UNREADABLE:
        c.payload_unreadable += 1
        return None
    return got  # type: ignore[return-value]


def decode_sample(root: str, rels: Iterable[str], c: Census,
                  check: PayloadCheck | None, engine: Engine | None = None) -> None:
    """Decode payloads named root-relative into c, every directory opened with O_NOFOLLOW.

    A path whose directories were swapped for symlinks since the walk is skipped, never
    followed out of the store. On a slow mount the reads go out many at once (`engine`);
    the decoding stays on this thread, in the sample's order.
    """
    root_fd = fsops.open_root(root)
    eng = engine or Engine()
    try:
        rels = list(rels)
        for group in _by_dirs(rels, SAMPLE_OPEN_DIRS):
            _decode_group(root_fd, group, c, check, eng)
    finally:
        if engine is None:
            eng.close()
        os.close(root_fd)


# Directories the sample reads keep open at once. A sample of 1,000 in a beego tree falls in
# ~250 shards: each is opened once for all its files (~4), not once per file (two opens and
# closes each: on a FUSE or NFS mount every one a round trip to the server).
SAMPLE_OPEN_DIRS = 256


def _by_dirs(rels: list[str], most: int) -> Iterable[list[str]]:
    """Consecutive slices of rels, each within at most `most` directories."""
    group: list[str] = []
    dirs: set[str] = set()
    for rel in rels:
        d = rel.rpartition("/")[0]
        if d not in dirs and len(dirs) >= most:
            yield group
            group, dirs = [], set()
        dirs.add(d)
        group.append(rel)
    if group:
        yield group


def _decode_group(root_fd: int, rels: list[str], c: Census, check: PayloadCheck | None,
                  eng: Engine) -> None:
    """Open each directory of rels once (fd-relative, O_NOFOLLOW), read every file from it,
    decode in rels' order."""
    dirs = list(dict.fromkeys(rel.rpartition("/")[0] for rel in rels))
    fds: dict[str, int | None] = {}
    try:
        # closing(): every open has finished before the descriptors are looked at or closed.
        with closing(eng.map(partial(_open_dir, root_fd), dirs)) as opened:
            for d, fd in zip(dirs, opened, strict=True):
                fds[d] = fd
        items = [(fds[d], name) for d, _, name in (rel.rpartition("/") for rel in rels)]
        # closing(): every read has finished before the descriptors are closed.
        with closing(eng.map(_fetch, items)) as got_all:
            for rel, got in zip(rels, got_all, strict=True):
                data = _count_read(c, got)
                if data is not None:
                    classify_payload(c, check, data, rel)
    finally:
        for fd in fds.values():
            if fd is not None:
                os.close(fd)


def _open_dir(root_fd: int, d: str) -> int | None:
    """A new descriptor of ROOT/d, every component opened with O_NOFOLLOW; None if it can't be
    (gone, or swapped for a symlink since the walk: never followed)."""
    try:
        return fsops.open_rel(root_fd, d) if d else os.dup(root_fd)
    except OSError:
        return None


def _fetch(item: tuple[int | None, str]) -> bytes | str | None:
    dir_fd, name = item
    if dir_fd is None:
        return None
    try:
        st = os.lstat(name, dir_fd=dir_fd)
    except OSError:
        return None
    return _read_raw(dir_fd, name, st)


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
    if not all(c.isascii() for c in chars) or "." in chars:
        return None  # (ids never start with a dot: the regex path checks that)
    return "".join(sorted(chars)).encode() + b"\n", int(m.group(2)), int(m.group(3))


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


# ---------------------------------------------------------------------------------------
# Planning and execution: the file store's one pool (pool.py) with the walker as worker.


def plan_units(p: ScanParams, *, threads: int = 1) -> tuple[Census, list[Unit]]:
    """List the levels above the shard depth in-process; return their census and the units."""
    root_fd = fsops.open_root(p.root)
    try:
        top, units = pool.plan_units(p.classifier(), root_fd, threads=threads,
                                     partition=p.partition)
    finally:
        os.close(root_fd)
    return upper_census(p, top), units


def upper_census(p: ScanParams, top: UpperListing) -> Census:
    """The census of what the levels above the shards hold."""
    c = p.new_census()
    c.dirs = top.dirs
    c.vanished = top.vanished
    cut = p.expire_cut
    for outcome, detail, path, example, mtime in top.events:
        if outcome in ("raced", "vanished"):
            c.vanished += 1
            if outcome == "raced":
                c.add_example("raced", example)
            continue
        setattr(c, outcome, getattr(c, outcome) + 1)
        c.add_example(outcome, example)
        if detail is not None:
            setattr(c, detail, getattr(c, detail) + 1)
            c.add_example(detail, path)
        if mtime is None:
            c.foreign_dirs += outcome == "foreign"
        elif mtime < cut:
            c.old_non_sessions += 1
            c.add_example("old_non_sessions", example)
    return c


Progress = Callable[[int], None]


def run_units(p: ScanParams, units: list[Unit], *, jobs: int, mode: str,
              check: PayloadCheck | None, progress: Progress | None = None,
              engine: Engine | None = None, walk: WalkStats | None = None) -> Census:
    """The census of the units. Threads share `engine` (one is made when not given);
    forked workers each run their own. `walk` receives how the walk ran."""
    if mode == "processes" and jobs > 1:
        # Largest shards first would need a stat per shard; shuffling spreads big ones instead.
        units = list(units)
        random.Random(p.seed).shuffle(units)
    shared = engine
    if shared is None and mode == "threads":
        shared = Engine(p.engine)
    stats = WalkStats()

    def merge(total: Census, part: tuple[Census, WalkStats | None]) -> None:
        total.merge(part[0], p.sample_k)
        if part[1] is not None:
            stats.merge(part[1])

    out = pool.run(units, jobs=jobs, model=mode,
                   make_worker=lambda i: _Walker(p, check, worker=i,
                                                 engine=shared if mode == "threads" else None),
                   new_total=p.new_census, merge=merge, progress=progress,
                   name="sessdiag-scan")
    if shared is not None and engine is None:
        stats.merge(shared.close())
    if walk is not None:
        walk.merge(stats)
    if out.lost:
        raise RuntimeError("scan worker failed: " + "; ".join(out.lost))
    return out.total
