"""The latency-aware engine under the file-store pool: many operations of one directory at once.

The pool (pool.py) hands whole directories to its workers; on a mount where every lstat is
a round trip, a worker walking its directory one name after another keeps one operation in
flight and the mount idle. The engine takes a worker's batch of names and lstats them on
its own threads, in chunks, as many at once as the adaptive limit (limiter.py) allows,
over every worker of the process together; the worker then reads the results in listing
order as if it had called os.lstat itself (`Engine.lstats`).

Local disks keep today's path: the first operations of a walk are timed, and while their
median stays under FANOUT_LATENCY_S the worker calls os.lstat itself, untimed (a thread
hand-off costs more than a cached lstat). Every other operation of the walk (opening a
directory, listing it, reading a payload) runs on the worker through `Engine.op`: gated by
the same limit and timed, so `WalkStats` (the report's `walk` object) sees all of them.

A batch's directory is dup'ed for its chunks: the caller may close its descriptor whenever
it likes, and a chunk still in the queue never lstats a name in a recycled descriptor.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from sessdiag.stores.files import cpupin
from sessdiag.stores.files.limiter import (
    BACK_OFF,
    PLATEAU,
    REBASE,
    Limiter,
    LimitSettings,
    RateCap,
)

T = TypeVar("T")

# A median lstat slower than this is a round trip (NFS, FUSE, a cold disk): fan out. A
# cached lstat on a local disk takes 2-5 us; a LAN NFS round trip 100 us and more.
FANOUT_LATENCY_S = 150e-6
PROBE_OPS = 8
MIN_CHUNK = 4
MAX_CHUNK = 64
SUB = 8  # latency histogram buckets per octave (9 % wide)
TRACE_MAX = 400  # limit_trace: every decision of the first 100, then back-offs, rebases
TRACE_ALL = 100  # and one a second, so a long walk's trace still shows its late changes


@dataclass
class WalkStats:
    """How a walk ran: mergeable over workers and processes, turned into the report's `walk`."""

    ops: int = 0
    untimed: int = 0  # lstats on the local-disk path: counted, not timed
    hist: dict[int, int] = field(default_factory=dict)  # log2(us) * SUB -> operations
    inflight_sum: int = 0  # in flight when each timed operation started, summed
    inflight_max: int = 0
    fanout: bool = False
    limit_max: int = 0
    limit_final: int = 0
    back_offs: int = 0
    rebases: int = 0
    plateaus: int = 0
    trace: list[list[float]] = field(default_factory=list)  # [t_s, limit, inflight, p50_us]
    cpu: int | None = None  # the CPU the fanning-out threads were kept on (cpupin.py)

    def add(self, latency: float, inflight: int) -> None:
        self.add_many((latency,), inflight)

    def add_many(self, latencies: Sequence[float], inflight: int) -> None:
        """Operations that started with the same number in flight (one chunk's)."""
        n = len(latencies)
        self.ops += n
        hist = self.hist
        get = hist.get
        log2 = math.log2
        for lat in latencies:
            us = lat * 1e6
            b = int(log2(us) * SUB) if us > 1 else 0
            hist[b] = get(b, 0) + 1
        self.inflight_sum += inflight * n
        if inflight > self.inflight_max:
            self.inflight_max = inflight

    def merge(self, o: WalkStats) -> None:
        self.ops += o.ops
        self.untimed += o.untimed
        for b, n in o.hist.items():
            self.hist[b] = self.hist.get(b, 0) + n
        self.inflight_sum += o.inflight_sum
        self.inflight_max = max(self.inflight_max, o.inflight_max)
        self.fanout = self.fanout or o.fanout
        self.limit_max = max(self.limit_max, o.limit_max)
        self.limit_final = max(self.limit_final, o.limit_final)
        self.back_offs += o.back_offs
        self.rebases += o.rebases
        self.plateaus += o.plateaus
        if not self.trace:
            self.trace = o.trace
        if self.cpu is None:
            self.cpu = o.cpu

    def percentile_us(self, q: float) -> float | None:
        timed = sum(self.hist.values())
        if not timed:
            return None
        want = q * timed
        seen = 0
        for b in sorted(self.hist):
            seen += self.hist[b]
            if seen >= want:
                return round(2 ** ((b + 0.5) / SUB), 1) if b else 1.0
        return None  # pragma: no cover - the loop reaches want

    def report(self, files: int) -> dict:
        timed = sum(self.hist.values())
        ops = self.ops + self.untimed
        return {
            "mode": "fan-out" if self.fanout else "per-worker",
            "operations": ops,
            "ops_per_file": round(ops / files, 3) if files else None,
            "inflight": {"max": self.inflight_max,
                         "mean": round(self.inflight_sum / timed, 1) if timed else None,
                         "limit": self.limit_final or None,
                         "limit_max": self.limit_max or None},
            "latency_us": {"p50": self.percentile_us(0.5), "p95": self.percentile_us(0.95),
                           "timed": timed},
            "back_offs": self.back_offs,
            "rebases": self.rebases,
            "plateaus": self.plateaus,
            "pinned_cpu": self.cpu,
            "limit_trace": self.trace,
        }


@dataclass(frozen=True)
class EngineSettings:
    max_inflight: int | None = None  # cap of the adaptive limit (--max-inflight)
    fixed: int | None = None  # a fixed limit, no adaptation (benchmarks)
    rate: float | None = None  # operations per second, every thread together (--rate)
    fanout: str = "auto"  # "auto": by measured latency; "never"; "always"

    def limit_settings(self) -> LimitSettings:
        base = LimitSettings()
        top = next((v for v in (self.fixed, self.max_inflight) if v is not None), base.maximum)
        if top < 1:
            from sessdiag.core.errors import UsageError

            raise UsageError("--max-inflight must be at least 1")
        return LimitSettings(initial=min(base.initial, top) if self.fixed is None else top,
                             maximum=top)


def engine_settings(max_inflight: int | None, rate: float | None) -> EngineSettings:
    """--max-inflight and --rate, checked; SESSDIAG_FIXED_INFLIGHT=N (benchmarks) fixes the
    limit at N instead of adapting it."""
    from sessdiag.core.errors import UsageError

    if max_inflight is not None and max_inflight < 1:
        raise UsageError("--max-inflight must be at least 1")
    if rate is not None and rate <= 0:
        raise UsageError("--rate must be a positive number of operations per second")
    fixed = os.environ.get("SESSDIAG_FIXED_INFLIGHT")
    return EngineSettings(max_inflight=max_inflight, rate=rate,
                          fixed=int(fixed) if fixed and fixed.isdigit() and int(fixed) else None)


def _ready_flag() -> Any:
    """A chunk's "done" flag: a plain lock held until the chunk has run (released by the
    engine's thread, `_set`). A threading.Event is a Condition, a lock and Python calls to
    make, set and test; a bare lock is one C call for each (`locked()` tests it)."""
    lk = threading.Lock()
    lk.acquire()
    return lk


def _set(flag: Any) -> None:
    with contextlib.suppress(RuntimeError):  # set already (released twice)
        flag.release()


def _wait(flag: Any) -> None:
    if flag.locked():
        flag.acquire()
        flag.release()


class _Batch:
    """Results of one batch of calls, filled by chunks on the engine's threads, read in order."""

    __slots__ = ("chunk", "error", "fn", "items", "left", "lock", "on_done", "pos", "ready",
                 "results")

    def __init__(self, items: list[Any], fn: Callable[[Any], Any], chunk: int,
                 on_done: Callable[[], None] | None = None) -> None:
        self.items = items
        self.fn = fn
        self.results: list[Any] = [None] * len(items)
        self.chunk = chunk
        n_chunks = (len(items) + chunk - 1) // chunk
        self.ready = [_ready_flag() for _ in range(n_chunks)]
        self.pos = 0
        self.left = n_chunks
        self.lock = threading.Lock()
        self.on_done = on_done
        # A failure of the batch itself (its clean-up, or the engine): raised to the reader.
        self.error: RuntimeError | None = None

    def size(self, k: int) -> int:
        return min(self.chunk, len(self.items) - k * self.chunk)

    def run_chunk(self, k: int) -> list[float]:
        fn = self.fn
        res = self.results
        items = self.items
        clock = time.perf_counter
        lat: list[float] = []
        add = lat.append
        start = k * self.chunk
        try:
            # One clock reading per operation: each one's end is the next one's start.
            t0 = clock()
            for i in range(start, start + self.size(k)):
                try:
                    res[i] = fn(items[i])
                # Handed to the reader and raised there, whatever it is: on an engine thread
                # nothing else would ever see it.
                except BaseException as exc:
                    res[i] = _Failed(exc)
                t1 = clock()
                add(t1 - t0)
                t0 = t1
        finally:
            with self.lock:
                self.left -= 1
                last = self.left == 0
            if last and self.on_done is not None:
                # Every chunk has run: release the batch's descriptor. Before this chunk is
                # marked ready, so the reader, which waits for every chunk, sees a failure.
                try:
                    self.on_done()
                except BaseException as exc:
                    self.fail("closing its descriptor", exc)
            _set(self.ready[k])
        return lat

    def fail(self, what: str, exc: BaseException) -> None:
        """The batch itself failed: its reader gets a RuntimeError at its next read (not the
        cause itself: an OSError would pass for the failure of that read's item)."""
        if self.error is None:
            err = RuntimeError(f"in-flight engine: {what} failed: {exc!r}")
            err.__cause__ = exc
            self.error = err

    def next(self) -> Any:
        i = self.pos
        self.pos = i + 1
        flag = self.ready[i // self.chunk]
        if flag.locked():
            flag.acquire()
            flag.release()
        if self.error is not None:
            raise self.error
        r = self.results[i]
        self.results[i] = None
        if type(r) is _Failed:
            raise r.exc
        return r

    def __call__(self, name: str, dir_fd: int | None = None) -> os.stat_result:
        """os.lstat(name, dir_fd=...) of the next name, from the chunk that stat'ed it."""
        i = self.pos
        if i >= len(self.items) or self.items[i] != name:
            raise RuntimeError(f"lstat of {name!r} out of listing order")  # a caller bug
        # next(), inlined: this runs once per file of the walk.
        self.pos = i + 1
        flag = self.ready[i // self.chunk]
        if flag.locked():
            flag.acquire()
            flag.release()
        if self.error is not None:
            raise self.error
        r = self.results[i]
        self.results[i] = None
        if type(r) is _Failed:
            raise r.exc
        return r


class _Failed:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Engine:
    """One per process: the adaptive limit, the fan-out threads, the walk's statistics."""

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self.limiter = Limiter(self.settings.limit_settings())
        self.rate = RateCap(self.settings.rate)
        self.fixed = self.settings.fixed is not None
        self.stats = WalkStats(limit_max=self.limiter.current)
        # A plain lock under the condition (not the default RLock): taken twice per chunk
        # and per operation on the worker, `with self.lock` is one C call each way.
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.inflight = 0
        self.waiting = 0  # threads in cond.wait(): nobody to notify when 0
        # Chunks to run; the engine's threads block in get() (in C, the GIL released) and
        # then take a slot at the gate like any other operation. None stops a thread.
        self.queue: queue.SimpleQueue[tuple[_Batch, int] | None] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.t0 = time.perf_counter()
        mode = self.settings.fanout
        # The walk starts inline; the first PROBE_OPS operations are timed to decide.
        self.fanout = mode == "always"
        self.decided = mode != "auto"
        self.probe: list[float] = []
        self.rate_limited = self.settings.rate is not None
        # Operations run on their caller's thread, ungated and untimed: the local-disk path.
        # Read once per operation (op), so a flag, not the three conditions it stands for.
        self.inline = self.decided and not self.fanout and not self.rate_limited
        # Their count: next() of an itertools.count is one C call, atomic under the GIL, so
        # every thread shares it without a lock (a lock, or a dict by thread, cost more
        # than a cached lstat).
        self._untimed = itertools.count()
        self._pinned = False
        if self.fanout:
            self._pin()

    # -- the gate ---------------------------------------------------------------------------

    def _enter(self, n: int = 1) -> int:
        if self.rate_limited:
            self.rate.take(n)
        with self.lock:
            if self.inflight >= self.limiter.current:
                self._wait_for_slot()
            self.inflight += 1
            return self.inflight

    def _wait_for_slot(self) -> None:
        """With the lock held: wait until fewer than the limit are in flight."""
        self.waiting += 1
        try:
            while self.inflight >= self.limiter.current:
                self.cond.wait()
        finally:
            self.waiting -= 1

    def _leave(self, latencies: Sequence[float], inflight: int) -> None:
        now = time.perf_counter()
        with self.lock:
            self.inflight -= 1
            try:
                if latencies:
                    self.stats.add_many(latencies, inflight)
                    if not self.decided:
                        for lat in latencies:
                            self._probe(lat)
                            if self.decided:
                                break
                    # Within a window the limiter only collects the latencies (one extend);
                    # only a chunk that closes one goes through them one by one.
                    if not self.fixed and not self.limiter.absorb(latencies, now):
                        self._observe_each(latencies, now)
            finally:
                # One slot freed: wake one waiter (never all of them: a herd of threads
                # woken on every completion costs more CPU than the walk itself), even if
                # the bookkeeping failed: a slot nobody is told about is a slot lost.
                if self.waiting:
                    self.cond.notify()

    def _observe_each(self, latencies: Sequence[float], now: float) -> None:
        lim = self.limiter
        for lat in latencies:
            before = lim.current
            action = lim.observe(lat, now)
            if action is not None:
                self._acted(action)
                grown = lim.current - before
                if grown > 0 and self.waiting:
                    self.cond.notify(grown)

    def _acted(self, action: str) -> None:
        st = self.stats
        cur = self.limiter.current
        st.limit_max = max(st.limit_max, cur)
        if action == BACK_OFF:
            st.back_offs += 1
        elif action == REBASE:
            st.rebases += 1
        elif action == PLATEAU:
            st.plateaus += 1
        t = time.perf_counter() - self.t0
        if len(st.trace) < TRACE_MAX and (len(st.trace) < TRACE_ALL
                                          or action in (BACK_OFF, REBASE)
                                          or t - st.trace[-1][0] >= 1.0):
            med = self.limiter.last_median
            st.trace.append([round(t, 3), cur, self.inflight,
                             round(med * 1e6, 1) if med is not None else None])

    # -- operations on the caller's thread --------------------------------------------------

    def op(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Run one filesystem operation on this thread, gated and timed (on a local disk,
        once the first operations were fast, only counted)."""
        if self.inline:
            next(self._untimed)
            return fn(*args, **kw)
        inflight = self._enter()
        t0 = time.perf_counter()
        try:
            return fn(*args, **kw)
        finally:
            self._leave((time.perf_counter() - t0,), inflight)

    def counted(self, n: int) -> None:
        """n operations a caller ran itself while `inline` (a hot loop that cannot afford
        op's call per operation), counted with the untimed ones."""
        with self.lock:
            self.stats.untimed += n

    def _probe(self, lat: float) -> None:
        """Called with the lock held: the first operations decide inline or fan-out."""
        self.probe.append(lat)
        if len(self.probe) >= PROBE_OPS:
            self.probe.sort()
            self.fanout = self.probe[len(self.probe) // 2] > FANOUT_LATENCY_S
            self.decided = True
            self.inline = not self.fanout and not self.rate_limited
            if self.fanout:
                self._pin()

    def _pin(self) -> None:
        """Fanning out: every thread of the process onto one CPU (cpupin.py)."""
        if not self._pinned:
            self.stats.cpu = cpupin.pin()
            self._pinned = self.stats.cpu is not None

    # -- a directory's entries, many at once ------------------------------------------------

    def lstats(self, fd: int, names: list[str]) -> Callable[..., os.stat_result]:
        """An os.lstat for these names in this order: fanned out when the mount is slow."""
        if not self.decided:
            for name in names[:PROBE_OPS]:
                with contextlib.suppress(OSError):
                    self.op(os.lstat, name, dir_fd=fd)
                if self.decided:
                    break
        if not self.fanout or len(names) < 2:
            with self.lock:
                self.stats.untimed += len(names)
            if self.rate_limited:
                return self._rated_lstat
            return os.lstat
        dup = os.dup(fd)
        return self._submit(names, partial(os.lstat, dir_fd=dup), lambda: os.close(dup))

    def map(self, fn: Callable[[Any], T], items: list[Any]) -> Iterator[T]:
        """fn(item) for each item, in order, on the engine's threads when fanning out."""
        if not self.fanout or len(items) < 2:
            for item in items:
                yield self.op(fn, item)
            return
        batch = self._submit(items, fn, None)
        try:
            for _ in range(len(items)):
                yield batch.next()
        finally:
            # Closed early (the reader failed): the chunks may use the caller's descriptors,
            # which it closes next; let every one finish first.
            for flag in batch.ready:
                _wait(flag)

    def _submit(self, items: list[Any], fn: Callable[[Any], Any],
                on_done: Callable[[], None] | None) -> _Batch:
        with self.lock:
            self.stats.fanout = True
            cur = self.limiter.current
            want = min(cur, self.limiter.settings.maximum)
            while len(self.threads) < want:
                self._spawn()
        # Chunks of a few names: each costs a hand-over between threads (locks, a wake-up,
        # the GIL), and the queue holds many batches' chunks anyway.
        chunk = max(MIN_CHUNK, min(MAX_CHUNK, len(items) // (2 * cur)))
        batch = _Batch(items, fn, chunk, on_done)
        for k in range(len(batch.ready)):
            self.queue.put((batch, k))
        return batch

    def _rated_lstat(self, name: str, dir_fd: int | None = None) -> os.stat_result:
        self.rate.take()
        return os.lstat(name, dir_fd=dir_fd)

    def _spawn(self) -> None:
        th = threading.Thread(target=self._serve, name=f"sessdiag-io-{len(self.threads)}",
                              daemon=True)
        self.threads.append(th)
        th.start()

    def _serve(self) -> None:
        get = self.queue.get
        while True:
            task = get()
            if task is None:
                return
            batch, k = task
            if self.rate_limited:
                self.rate.take(batch.size(k))
            with self.lock:
                if self.inflight >= self.limiter.current:
                    self._wait_for_slot()
                self.inflight += 1
                inflight = self.inflight
            lat: list[float] = []
            # Whatever fails in a chunk, its slot comes back and this thread serves on: a
            # slot lost for good shrinks the limit, and with every thread gone the readers
            # would wait forever. The failure reaches the batch's reader.
            try:
                lat = batch.run_chunk(k)
            except BaseException as exc:
                batch.fail(f"chunk {k}", exc)
                _set(batch.ready[k])
            finally:
                self._leave(lat, inflight)

    def new_phase(self) -> None:
        with self.lock:
            self.limiter.new_phase()

    def close(self) -> WalkStats:
        """Stop the threads (after the queue drains); the statistics of the walk."""
        for _ in self.threads:
            self.queue.put(None)  # after every chunk already queued
        for th in self.threads:
            th.join()
        self.threads.clear()
        # The count's next value is how many operations took one before it.
        self.stats.untimed += next(self._untimed)
        self._untimed = itertools.count()
        self.stats.limit_final = self.limiter.current
        self.stats.limit_max = max(self.stats.limit_max, self.limiter.current)
        if self._pinned:
            self._pinned = False
            cpupin.unpin()
        return self.stats

