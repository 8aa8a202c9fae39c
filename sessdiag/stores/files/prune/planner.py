"""The plan pass: list and lstat every entry, count sessions and candidates, spill these.

Runs on every prune (a dry run is only this pass). Entries are judged by the one
classifier (classify.py) scan uses, so a dry run and a scan of the same tree agree; with
--apply the candidates are spilled to small temp files (memory stays O(shards)), one line
each with the identity (inode, mtime, ctime) the apply pass re-checks before acting.
"""

from __future__ import annotations

import heapq
import os
import random
import time
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

from sessdiag.stores.files import fsops, pool
from sessdiag.stores.files.classify import (
    SESSION,
    Classifier,
    open_failure,
    walk_off_layout,
)
from sessdiag.stores.files.fsops import S_IFDIR, S_IFMT, S_IFREG
from sessdiag.stores.files.inflight import Engine, EngineSettings, WalkStats
from sessdiag.stores.files.layout import Layout
from sessdiag.stores.files.partition import Partition
from sessdiag.stores.files.pool import Unit, UpperListing
from sessdiag.stores.files.prune.control import StopControl
from sessdiag.stores.files.prune.options import AGE_EDGES
from sessdiag.stores.files.prune.tally import Tally

SPILL_CHUNK = 4096  # candidates per spill file = one apply task


@dataclass(frozen=True)
class Plan:
    root: str
    layout: Layout
    root_dev: int
    max_age_ns: int
    grace_ns: int
    clock_adj_ns: int  # min(0, fs clock - local clock): judge age by the earlier clock
    plan_now_ns: int
    apply: bool
    action: str  # "stage" | "direct" | "quarantine"
    run_id: str
    spill_dir: str | None
    journal: str | None
    quarantine_run: str | None
    mounts: frozenset[str]  # root-relative mount points below the root
    batch: int
    sample_k: int
    seed: int
    deadline: float | None  # CLOCK_MONOTONIC

    @property
    def plan_cutoff_ns(self) -> int:
        return self.plan_now_ns - self.max_age_ns - self.grace_ns

    def cutoff_now_ns(self) -> int:
        return time.time_ns() + self.clock_adj_ns - self.max_age_ns - self.grace_ns

    def classifier(self) -> Classifier:
        return Classifier(self.layout, self.root_dev, self.mounts)


def count(t: Tally, outcome: str, detail: str | None, example: str, path: str) -> None:
    """One classified entry (or an open failure) into the tally."""
    if outcome == "vanished":
        return
    t.anomaly(outcome, example)
    if detail is not None:
        t.anomaly(detail, path)


def upper_tally(top: UpperListing) -> Tally:
    """The tally of what the levels above the shards hold."""
    t = Tally()
    t.dirs = top.dirs
    t.entries = top.entries
    for outcome, detail, path, example, _mtime in top.events:
        count(t, outcome, detail, example, path)
    return t


def plan_units(plan: Plan, root_fd: int, parts: int, threads: int = 1,
               partition: Partition | None = None) -> tuple[Tally, list[Unit]]:
    """The levels above the shards, listed in-process (pool.plan_units): tally and units;
    with `partition` only what that part owns (stores/files/partition.py)."""
    top, units = pool.plan_units(plan.classifier(), root_fd, parts=parts, threads=threads,
                                 partition=partition)
    return upper_tally(top), units


class PlanWorker:
    """The plan pass over units; the pool's Worker."""

    def __init__(self, plan: Plan, stop: StopControl, root_fd: int, worker: int,
                 engine: Engine | None = None, settings: EngineSettings | None = None) -> None:
        self.plan = plan
        # Threads share the process's engine; a forked worker makes its own.
        self.own_engine = engine is None
        self.engine = engine or Engine(settings)
        self.stop = stop
        self.t = Tally()
        # Our own open file description of the root: listdir on a shared one would race.
        self.root_fd = fsops.reopen_dir(root_fd)
        self.clf = plan.classifier()
        self.name_match = plan.layout.name_re.fullmatch
        self.plen = len(plan.layout.prefix)
        self.rnd = random.Random(plan.seed * 7919 + worker).random

    def run(self, u: Unit) -> int:
        return self.scan_unit(u)

    def skip(self, u: Unit) -> None:
        pass

    def finish(self) -> tuple[Tally, WalkStats | None]:
        os.close(self.root_fd)
        return self.t, self.engine.close() if self.own_engine else None

    def scan_unit(self, u: Unit) -> int:
        t = self.t
        plan = self.plan
        if plan.deadline is not None and time.monotonic() > plan.deadline:
            self.stop.request("max-runtime")
            return 0
        try:
            chain = self.engine.op(fsops.open_chain, self.root_fd, u.rel, plan.root_dev)
        except OSError as exc:
            kind = open_failure(exc)
            count(t, kind, None, u.rel if kind == "unreadable" else f"{u.rel}: {exc.strerror}",
                  u.rel)
            return 0
        try:
            if chain and chain[-1][2] != u.ino:
                t.anomaly("raced", f"{u.rel}: replaced since listed")
                return 0
            fd = fsops.chain_fd(self.root_fd, chain)
            shard = self.clf.shard_key(u.rel)
            if shard is None:
                return self._walk_off_layout(fd, None, u.rel)
            if u.owns_dir:
                t.dirs += 1
            subdirs: list[str] = []
            try:
                seen = self._scan_names(fd, u, shard, self.engine.op(pool.unit_names, fd, u),
                                        subdirs)
            except PermissionError:
                t.anomaly("unreadable", u.rel or ".")
                return 0
            prefix = u.rel + "/" if u.rel else ""
            for name in subdirs:
                seen += self._walk_off_layout(fd, name, prefix + name)
            return seen
        finally:
            fsops.close_chain(chain)

    def _walk_off_layout(self, parent_fd: int, name: str | None, rel: str) -> int:
        """A directory off the layout and all below it: reported, nothing is a candidate."""
        t = self.t
        seen = 0
        for what, path, st, outcome, detail in walk_off_layout(self.clf, parent_fd, name, rel):
            if what == "entry":
                seen += 1
                assert st is not None
                count(t, outcome, detail, self.clf.example(outcome, path, st), path)
            elif what == "dir":
                t.dirs += 1
            else:
                count(t, what, None, path, path)
        t.entries += seen
        return seen

    def _scan_names(self, fd: int, u: Unit, shard: str, batches: Iterable[list[str]],
                    subdirs: list[str]) -> int:
        t = self.t
        plan = self.plan
        clf = self.clf
        lstats = self.engine.lstats
        match = self.name_match
        plen = self.plen
        prefix = u.rel + "/" if u.rel else ""
        cut = plan.plan_cutoff_ns
        now_ns = plan.plan_now_ns
        root_dev = plan.root_dev
        mounts = plan.mounts
        edges = AGE_EDGES
        hist = t.hist
        rnd = self.rnd
        sample = t.sample
        sample_k = plan.sample_k
        spill: list[str] | None = [] if plan.spill_dir else None
        chunk = 0
        seen = sessions = sbytes = expired = cands = cbytes = cblocks = 0
        oldest = t.oldest_ns if t.oldest_ns is not None else 1 << 62
        newest = t.newest_ns if t.newest_ns is not None else -(1 << 62)
        for batch in batches:
            # os.lstat itself on a local disk; on a slow mount, the engine's results of the
            # batch's names stat'ed many at once, handed back in this loop's order.
            lstat = lstats(fd, batch)
            for name in batch:
                seen += 1
                try:
                    st = lstat(name, dir_fd=fd)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    count(t, open_failure(exc), None, prefix + name, prefix + name)
                    continue
                fmt = st.st_mode & S_IFMT
                if fmt == S_IFREG and name[:1] != "." and match(name) is not None \
                        and name.startswith(shard, plen) and st.st_dev == root_dev \
                        and not (mounts and (prefix + name) in mounts):
                    sessions += 1
                    sbytes += st.st_size
                    mt = st.st_mtime_ns
                    if mt >= cut:
                        continue
                    expired += 1
                    if st.st_nlink != 1:
                        t.anomaly("hardlinks", f"{prefix}{name} ({st.st_nlink} links)")
                        t.skip("hardlink")
                        continue
                    if not st.st_mode & 0o222:
                        t.anomaly("readonly", prefix + name)
                        t.skip("readonly")
                        continue
                    cands += 1
                    cbytes += st.st_size
                    cblocks += st.st_blocks
                    if mt < oldest:
                        oldest = mt
                    if mt > newest:
                        newest = mt
                    hist[bisect_left(edges, (now_ns - mt) // 1_000_000_000)] += 1
                    r = rnd()
                    if len(sample) < sample_k:
                        heapq.heappush(sample, (r, prefix + name))
                    elif r > sample[0][0]:
                        heapq.heapreplace(sample, (r, prefix + name))
                    if spill is not None:
                        spill.append(f"c {st.st_ino} {mt} {st.st_ctime_ns} {st.st_size} "
                                     f"{st.st_blocks} {name}\n")
                        if len(spill) >= SPILL_CHUNK:
                            self._write_spill(u, chunk, spill)
                            chunk += 1
                            spill = []
                    continue
                # Not a session of this shard: rare, so clarity beats speed.
                outcome, detail = clf.entry(name, st, u.rel, shard)
                if outcome == SESSION:  # pragma: no cover - the loop above counts them all
                    raise AssertionError(f"{prefix}{name}: a session the plan passed over")
                if fmt == S_IFDIR and detail is None:
                    subdirs.append(name)
                    outcome = "foreign"
                count(t, outcome, detail, clf.example(outcome, prefix + name, st),
                      prefix + name)
                if detail == "stage_leftovers" and spill is not None and st.st_nlink == 1:
                    # A session staged for deletion by a run that was killed.
                    spill.append(f"l {st.st_ino} {st.st_mtime_ns} {st.st_ctime_ns} "
                                 f"{st.st_size} {st.st_blocks} {name}\n")
        if spill:
            self._write_spill(u, chunk, spill)
        t.entries += seen
        t.sessions += sessions
        t.session_bytes += sbytes
        t.expired += expired
        t.candidates += cands
        t.candidate_bytes += cbytes
        t.candidate_blocks += cblocks
        if cands:
            t.oldest_ns = oldest
            t.newest_ns = newest
        return seen

    def _write_spill(self, u: Unit, chunk: int, lines: list[str]) -> None:
        assert self.plan.spill_dir is not None
        path = os.path.join(self.plan.spill_dir, f"{u.idx}.{u.part}.{chunk}")
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.writelines(lines)
