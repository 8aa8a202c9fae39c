"""The one worker pool of the file store: units of work, worker choice, and three runners.

A unit is a directory the parent found while listing the levels above the shard depth (a
shard directory, a stray directory off the layout, or a hash partition of one huge flat
directory). Workers take units from a queue and each keeps its own aggregate, which the
parent merges exactly: they never share mutable state. On local disks the walk is
CPU-bound and forked processes avoid the GIL; on network and FUSE mounts each operation is
a round trip, and many threads overlap the waits (docs/prune.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import stat
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from sessdiag.core.errors import UsageError
from sessdiag.stores.files import cpupin, fsops
from sessdiag.stores.files.classify import SHARD, WALK, Classifier, open_failure
from sessdiag.stores.files.partition import Partition

LATENCY_THREADS = 32
MAX_WRITE_PROCESSES = 8


def choose_workers(latency_bound: bool, jobs: int | None, model: str | None, *,
                   writes: bool = False) -> tuple[int, str]:
    """(jobs, model): one policy for every pass over a file store.

    Network/FUSE mounts: 32 threads overlap round trips. Local disks: processes; one per
    core for a pass that only reads (the walk is CPU-bound), twice the cores (at most 8) for
    a pass that deletes, so the disk stays busy while some workers wait in unlink (measured:
    benchmarks/prune_files.py, docs/prune.md).
    """
    if model not in (None, "threads", "processes"):
        raise UsageError(f"--workers must be 'threads' or 'processes', not {model!r}")
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if model is None:
        model = "threads" if latency_bound else "processes"
    if jobs is None:
        cores = os.cpu_count() or 1
        if model == "threads":
            jobs = LATENCY_THREADS
        elif writes:
            jobs = max(1, min(2 * cores, MAX_WRITE_PROCESSES))
        else:
            jobs = cores
    return jobs, model


# ---------------------------------------------------------------------------------------
# Planning: the parent lists the levels above the shards; the directories below are units.


@dataclass(frozen=True)
class Unit:
    idx: int
    rel: str
    ino: int
    part: int = 0
    parts: int = 1
    # --partition K/N of a flat store: only the root's names that part owns.
    select: Partition | None = None

    @property
    def owns_dir(self) -> bool:
        """Does this unit count its directory (once, whatever the hash or K/N split)?"""
        return self.part == 0 and (self.select is None or self.select.owns_root)


@dataclass
class UpperListing:
    """What the levels above the shards hold, besides the units: for the caller to count."""

    dirs: int = 0
    entries: int = 0
    vanished: int = 0
    # (outcome, detail, path, example, mtime): anomalies (classify kinds) and open failures
    # ("unreadable" / "raced") met while listing; mtime None for directories and failures.
    events: list[tuple[str, str | None, str, str, float | None]] = field(default_factory=list)

    def merge(self, o: UpperListing) -> None:
        self.dirs += o.dirs
        self.entries += o.entries
        self.vanished += o.vanished
        self.events.extend(o.events)


def _list_upper(clf: Classifier, root_fd: int, rel: str, ino: int,
                select: Partition | None = None,
                ) -> tuple[UpperListing, list[tuple[str, int]], list[tuple[str, int]]]:
    """List one directory above the shard level: (its listing, shard dirs, stray dirs);
    with `select` (the root under --partition) only the names that part owns."""
    out = UpperListing()
    shards: list[tuple[str, int]] = []
    strays: list[tuple[str, int]] = []
    try:
        chain = fsops.open_chain(root_fd, rel, clf.root_dev)
    except OSError as exc:
        kind = open_failure(exc)
        if kind == "vanished":
            out.vanished += 1
        else:
            out.events.append((kind, None, rel, rel if kind == "unreadable"
                               else f"{rel}: {exc.strerror}", None))
        return out, shards, strays
    try:
        fd = fsops.chain_fd(root_fd, chain)
        if chain and chain[-1][2] != ino:
            out.events.append(("raced", None, rel, f"{rel}: replaced while listing", None))
            return out, shards, strays
        out.dirs += select is None or select.owns_root
        try:
            names = sorted(os.listdir(fd))
        except OSError as exc:
            if select is None or select.owns_root:
                out.events.append((open_failure(exc), None, rel, rel or ".", None))
            return out, shards, strays
        if select is not None:
            names = [n for n in names if select.owns(n)]
        prefix = rel + "/" if rel else ""
        for name in names:
            rel_name = prefix + name
            out.entries += 1
            try:
                st = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                out.vanished += 1
                continue
            except OSError as exc:
                out.events.append((open_failure(exc), None, rel_name, rel_name, None))
                continue
            outcome, detail = clf.entry(name, st, rel, None)
            if outcome == SHARD:
                shards.append((rel_name, st.st_ino))
                continue
            if outcome == WALK:
                strays.append((rel_name, st.st_ino))
                outcome = "foreign"
            is_dir = stat.S_ISDIR(st.st_mode)
            out.events.append((outcome, detail, rel_name, clf.example(outcome, rel_name, st),
                               None if is_dir else st.st_mtime))
    finally:
        fsops.close_chain(chain)
    return out, shards, strays


def plan_units(clf: Classifier, root_fd: int, *, parts: int = 1, threads: int = 1,
               partition: Partition | None = None) -> tuple[UpperListing, list[Unit]]:
    """List the levels above the shards in-process; return their listing and the units.

    Units: the shard directories at the session level, then every stray directory found
    above it (walked too: beego's GC walks them). A flat store (depth 0) is one unit, or
    `parts` hash partitions of the root. With threads > 1 the directories of one level are
    listed concurrently (each with its own descriptors): on a latency-bound mount the 16
    first-level beego directories and their 256 entries are ~300 round trips, a third of a
    second one after the other. With `partition` only what that part owns (partition.py).
    """
    top = UpperListing()
    depth = clf.layout.depth
    root_ino = os.fstat(root_fd).st_ino
    if depth == 0:
        return top, [Unit(i, "", root_ino, i, parts, partition) for i in range(parts)]
    frontier: list[tuple[str, int]] = [("", root_ino)]
    strays: list[tuple[str, int]] = []
    for level in range(depth):
        # Only the root's own listing is split: below it every entry has one owner.
        sel = partition if level == 0 else None
        if threads > 1 and len(frontier) > 1:
            with ThreadPoolExecutor(max_workers=min(threads, len(frontier)),
                                    thread_name_prefix="sessdiag-top") as ex:
                listed = list(ex.map(lambda d, s=sel: _list_upper(clf, root_fd, *d, s), frontier))
        else:
            listed = [_list_upper(clf, root_fd, rel, ino, sel) for rel, ino in frontier]
        nxt: list[tuple[str, int]] = []
        for part, found, stray in listed:  # in frontier order: the same units, numbered the same
            top.merge(part)
            nxt.extend(found)
            strays.extend(stray)
        frontier = nxt
    units = [Unit(i, rel, ino) for i, (rel, ino) in enumerate(frontier + strays)]
    return top, units


def unit_names(fd: int, u: Unit) -> Iterable[list[str]]:
    """The names of a unit, in batches: its partition, or streamed when huge."""
    if u.parts > 1:
        names = fsops.in_batches(fsops.partition_names(fd, u.part, u.parts))
    else:
        names = fsops.batches(fd)
    if u.select is None:
        return names
    owns = u.select.owns
    return ([n for n in batch if owns(n)] for batch in names)


# ---------------------------------------------------------------------------------------
# Running units: serially, on threads, or on forked processes.


class Worker(Protocol):
    def run(self, task: Any) -> int: ...  # returns progress (entries seen, files removed)

    def skip(self, task: Any) -> None: ...  # a task not run because a stop was requested

    def finish(self) -> Any: ...  # close; the part to merge


class Stop(Protocol):
    @property
    def requested(self) -> bool: ...

    def request(self, reason: str) -> None: ...


class _NoStop:
    requested = False

    def request(self, reason: str) -> None:
        pass


@dataclass
class PoolRun:
    total: Any
    lost: list[str] = field(default_factory=list)  # workers that died without a result


def run(tasks: list[Any], *, jobs: int, model: str, make_worker: Callable[[int], Worker],
        new_total: Callable[[], Any], merge: Callable[[Any, Any], None],
        progress: Callable[[int], None] | None = None, stop: Stop | None = None,
        name: str = "sessdiag") -> PoolRun:
    """Run every task on `jobs` workers of `model` and merge their parts into a new total."""
    stop = stop or _NoStop()
    if not tasks:
        return PoolRun(new_total())
    if jobs <= 1 or len(tasks) == 1:
        total = new_total()
        merge(total, _drain(make_worker(0), iter(tasks), stop, progress))
        return PoolRun(total)
    if model == "threads":
        return _run_threads(tasks, jobs, make_worker, new_total, merge, progress, stop, name)
    return _run_processes(tasks, jobs, make_worker, new_total, merge, progress, stop)


def _drain(w: Worker, tasks: Iterable[Any], stop: Stop,
           progress: Callable[[int], None] | None) -> Any:
    try:
        for task in tasks:
            if stop.requested:
                w.skip(task)
                continue
            n = w.run(task)
            if progress:
                progress(n)
    except BaseException:
        stop.request("error")
        with contextlib.suppress(Exception):
            w.finish()
        raise
    return w.finish()


def _run_threads(tasks: list[Any], jobs: int, make_worker: Callable[[int], Worker],
                 new_total: Callable[[], Any], merge: Callable[[Any, Any], None],
                 progress: Callable[[int], None] | None, stop: Stop, name: str) -> PoolRun:
    q: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for task in tasks:
        q.put(task)
    plock = threading.Lock()

    def locked_progress(n: int) -> None:
        with plock:
            progress(n)  # type: ignore[misc]

    def from_queue() -> Iterable[Any]:
        while True:
            try:
                yield q.get_nowait()
            except queue.Empty:
                return

    def work(i: int) -> Any:
        return _drain(make_worker(i), from_queue(), stop, locked_progress if progress else None)

    total = new_total()
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix=name) as ex:
        futures = [ex.submit(work, i) for i in range(jobs)]
        for f in futures:
            merge(total, f.result())
    return PoolRun(total)


def _die_with_parent(ppid: int) -> None:
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != ppid:
        os._exit(1)


def _child_main(make_worker: Callable[[int], Worker], stop: Stop, tasks_q: Any,
                results_q: Any, worker: int, ppid: int) -> None:
    _die_with_parent(ppid)
    cpupin.forbid()
    # ^C reaches the whole process group: the parent decides; a SIGTERM sent to us (e.g. by
    # systemd to the whole cgroup) stops every worker cleanly after its current task.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.request("SIGTERM"))
    code = 0
    try:
        w = make_worker(worker)
        while True:
            task = tasks_q.get()
            if task is None:
                break
            if stop.requested:
                w.skip(task)
                continue
            results_q.put(("progress", worker, w.run(task)))
        results_q.put(("done", worker, w.finish()))
    except BaseException:
        stop.request("error")
        results_q.put(("error", worker, traceback.format_exc(limit=8)))
        code = 1
    finally:
        # Never run exit handlers or flush stdio inherited from the parent: a lock another
        # parent thread (the progress bar) held at fork time would hang us here.
        os._exit(code)


def _run_processes(tasks: list[Any], jobs: int, make_worker: Callable[[int], Worker],
                   new_total: Callable[[], Any], merge: Callable[[Any, Any], None],
                   progress: Callable[[int], None] | None, stop: Stop) -> PoolRun:
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("fork")
    tasks_q = ctx.SimpleQueue()
    results_q = ctx.SimpleQueue()
    procs = [ctx.Process(target=_child_main,
                         args=(make_worker, stop, tasks_q, results_q, i, os.getpid()),
                         daemon=True)
             for i in range(jobs)]
    for p in procs:
        p.start()
    # Feed tasks from a thread: a full task pipe must never block reading results.
    feeder = threading.Thread(target=_feed, args=(tasks_q, tasks, jobs), daemon=True)
    feeder.start()

    out = PoolRun(new_total())
    finished: set[int] = set()
    error: str | None = None
    reader = results_q._reader  # the pipe end, to wait on it together with the workers
    give_up_at: float | None = None  # set once a worker died: it may hold a queue lock
    clean = False
    try:
        while len(finished) < jobs:
            if give_up_at is not None and time.monotonic() > give_up_at:
                for i, p in enumerate(procs):
                    if i not in finished:
                        p.kill()
                        finished.add(i)
                        out.lost.append(f"worker {i} did not stop after another died; killed")
                break
            if results_q.empty():
                alive = {p.sentinel: i for i, p in enumerate(procs) if i not in finished}
                ready = wait([reader, *alive], timeout=1)
                if reader not in ready:
                    for s in ready:
                        i = alive[s]
                        if results_q.empty() and i not in finished:
                            # Died without a word (OOM killer, kill -9): stop the others.
                            stop.request("error")
                            give_up_at = give_up_at or time.monotonic() + 30
                            finished.add(i)
                            out.lost.append(f"worker {i} died (exit code {procs[i].exitcode})")
                    continue
            what, i, payload = results_q.get()
            if what == "progress":
                if progress:
                    progress(payload)
            elif what == "done":
                merge(out.total, payload)
                finished.add(i)
            else:
                error = error or payload
                finished.add(i)
        clean = True
    finally:
        feeder.join(timeout=5)
        for p in procs:
            if clean:
                p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join()
    if error is not None:
        raise RuntimeError(f"worker failed: {error.strip().splitlines()[-1]}")
    return out


def _feed(q: Any, tasks: list[Any], jobs: int) -> None:
    for task in tasks:
        q.put(task)
    for _ in range(jobs):
        q.put(None)
