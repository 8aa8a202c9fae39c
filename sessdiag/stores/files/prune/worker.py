"""The apply pass: for each spilled candidate, re-check it and remove it, or leave it.

Immediately before acting, the candidate is lstat'ed again through its directory's fd (the
directory chain re-checked before every batch, so a directory swapped for a symlink is
never followed) and acted on only if it is still a regular file with the same device,
inode, mtime and ctime, still older than max-age + grace by the filesystem clock,
single-linked and writable. The default action renames it to a private name in the same
directory, lstats that name, and unlinks it only if it is still the same untouched inode;
otherwise it is put back (never over a file the app re-created). --direct-unlink skips the
rename (a one-syscall window); --quarantine moves it out of the store instead.
"""

from __future__ import annotations

import contextlib
import operator
import os
import time
from typing import Any

from sessdiag.stores.files import fsops
from sessdiag.stores.files.classify import OWN_PREFIX, STAGE_RE
from sessdiag.stores.files.fsops import S_IFMT, S_IFREG, Chain, kind_name
from sessdiag.stores.files.inflight import Engine, EngineSettings, WalkStats
from sessdiag.stores.files.prune.control import Shared, StopControl
from sessdiag.stores.files.prune.journal import Journal, iso_ns
from sessdiag.stores.files.prune.planner import Plan
from sessdiag.stores.files.prune.tally import Tally


class ApplyWorker:
    """The apply pass over spill files; the pool's Worker."""

    def __init__(self, plan: Plan, shared: Shared, stop: StopControl, root_fd: int,
                 engine: Engine | None = None, settings: EngineSettings | None = None) -> None:
        self.plan = plan
        # Every operation on the store goes through the engine: gated by the in-flight limit
        # and timed. The protocol's order is the same; only how many directories are worked
        # on at once changes (rename and unlink in one directory are serialised by the
        # kernel anyway).
        self.own_engine = engine is None
        self.engine = engine or Engine(settings)
        self.op = self.engine.op
        # The per-file calls of the protocol (_act_one): self.op, or straight to os while the
        # engine runs inline (_act_batch); n_ops counts them.
        self.file_op = self.op
        self.n_ops = 0
        self.shared = shared
        self.stop = stop
        self.t = Tally()
        # Our own open file description of the root, as every worker.
        self.root_fd = fsops.reopen_dir(root_fd)
        self.journal = Journal(plan.journal) if plan.journal and plan.apply else None
        self.q_root = -1
        if plan.quarantine_run:
            self.q_root = os.open(plan.quarantine_run, fsops.DIR_FLAGS)
        self._chain_rel: str | None = None
        self._chain: Chain = []
        self._q_dirs: dict[str, int] = {}

    def run(self, task: tuple[str, str, int]) -> int:
        return self.apply_task(task)

    def skip(self, task: tuple[str, str, int]) -> None:
        self.t.not_attempted += spill_count(task[0])

    def finish(self) -> tuple[Tally, WalkStats | None]:
        fsops.close_chain(self._chain)
        self._chain = []
        for fd in self._q_dirs.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._q_dirs.clear()
        if self.q_root >= 0:
            os.close(self.q_root)
        if self.journal is not None:
            self.journal.close()
        os.close(self.root_fd)
        return self.t, self.engine.close() if self.own_engine else None

    def _unit_chain(self, rel: str, ino: int) -> Chain | None:
        if self._chain_rel == rel:
            return self._chain
        fsops.close_chain(self._chain)
        self._chain, self._chain_rel = [], None
        try:
            chain = self.op(fsops.open_chain, self.root_fd, rel, self.plan.root_dev)
        except OSError as exc:
            self.t.anomaly("raced", f"{rel}: {exc.strerror}")
            return None
        if chain and chain[-1][2] != ino:
            fsops.close_chain(chain)
            self.t.anomaly("raced", f"{rel}: replaced since the plan")
            return None
        self._chain, self._chain_rel = chain, rel
        return chain

    def apply_task(self, task: tuple[str, str, int]) -> int:
        """Act on one spill file of candidates; returns the number removed."""
        spill_path, rel, ino = task
        with open(spill_path, encoding="utf-8", errors="surrogateescape") as fh:
            items = [line.rstrip("\n").split(" ", 6) for line in fh]
        with contextlib.suppress(OSError):
            os.unlink(spill_path)
        t = self.t
        before = t.deleted
        chain = self._unit_chain(rel, ino)
        if chain is None:
            t.skip("raced", len(items))
            return 0
        fd = fsops.chain_fd(self.root_fd, chain)
        plan = self.plan
        batch_n = plan.batch
        for start in range(0, len(items), batch_n):
            batch = items[start:start + batch_n]
            if self.stop.requested or not self.shared.acquire(len(batch), self.stop,
                                                              plan.deadline):
                t.not_attempted += len(items) - start
                break
            if plan.deadline is not None and time.monotonic() > plan.deadline:
                self.stop.request("max-runtime")
                t.not_attempted += len(items) - start
                break
            if not self.op(fsops.chain_intact, self.root_fd, chain, plan.root_dev):
                t.anomaly("raced", f"{rel}: directory moved or replaced during the run")
                t.skip("raced", len(items) - start)
                break
            self._act_batch(fd, rel, batch)
        return t.deleted - before

    def _act_batch(self, fd: int, rel: str, batch: list[list[str]]) -> None:
        plan = self.plan
        j = self.journal
        prefix = plan.root.rstrip("/") + "/" + (rel + "/" if rel else "")
        stages = []
        # The private names' randomness for the whole batch in one getrandom(2): one system
        # call (and one handover of the GIL) per batch instead of one per file.
        tokens = os.urandom(4 * len(batch)).hex() if plan.action == "stage" else ""
        for i, (kind, ino, mt, _ct, size, _blocks, name) in enumerate(batch):
            if kind == "l":
                stage: str | None = name
                m = STAGE_RE.fullmatch(name)
                name = m.group(1) if m else name
            elif plan.action == "stage":
                stage = stage_name(name, tokens[8 * i:8 * i + 8])
            else:
                stage = None
            stages.append(stage)
            if j is not None:
                rec = {"event": "intent", "run": plan.run_id, "path": prefix + name,
                       "inode": int(ino), "size": int(size), "mtime_ns": int(mt)}
                if stage:
                    rec["stage"] = stage
                if plan.action == "quarantine" and kind == "c":
                    rec["to"] = os.path.join(plan.quarantine_run or "", rel, name)
                j.add(rec)
        if j is not None:
            j.flush(sync=True)  # intents are durable before anything is touched
        cutoff = plan.cutoff_now_ns()
        # On a local disk (the engine runs operations inline: cached, a few us each) the
        # protocol's calls go straight to os: the engine's op, a Python call of ~1 us, cost
        # as much as they do. They are counted here instead, handed over once per batch.
        eng = self.engine
        inline = eng.inline
        self.file_op = operator.call if inline else self.op
        self.n_ops = 0
        for (kind, ino, mt, ct, size, blocks, name), stage in zip(batch, stages, strict=True):
            if self.stop.requested:
                if kind == "l":  # not one of this run's candidates; the intent names the id
                    m = STAGE_RE.fullmatch(name)
                    self._result("not-deleted", prefix + (m.group(1) if m else name),
                                 reason="stopped")
                else:
                    self.t.not_attempted += 1
                    self._result("not-deleted", prefix + name, reason="stopped")
                continue
            if kind == "l":
                self._finish_leftover(fd, rel, name, int(ino), int(mt), int(size), int(blocks),
                                      cutoff)
            else:
                self._act_one(fd, rel, name, stage, int(ino), int(mt), int(ct), int(size),
                              int(blocks), cutoff)
        if inline:
            eng.counted(self.n_ops)
        if j is not None:
            j.flush()

    def _result(self, event: str, path: str, **extra: Any) -> None:
        if self.journal is not None:
            rec = {"event": event, "run": self.plan.run_id, "path": path}
            rec.update(extra)
            self.journal.add(rec)

    def _act_one(self, fd: int, rel: str, name: str, stage: str | None, ino: int, mt: int,
                 ct: int, size: int, blocks: int, cutoff: int) -> None:
        t = self.t
        plan = self.plan
        path = f"{plan.root.rstrip('/')}/{rel + '/' if rel else ''}{name}"
        op = self.file_op
        # 1. The re-check, immediately before acting.
        self.n_ops += 1
        try:
            st = op(os.lstat, name, dir_fd=fd)
        except FileNotFoundError:
            t.vanished += 1
            self._result("vanished", path, inode=ino)
            return
        except OSError as exc:
            t.errors += 1
            t.example("errors", f"{path}: {exc.strerror}")
            self._result("failed", path, error=exc.strerror)
            return
        if st.st_mode & S_IFMT != S_IFREG or st.st_dev != plan.root_dev:
            t.skip("replaced")
            t.example("replaced", f"{path} ({kind_name(st.st_mode)})")
            self._result("skipped", path, reason="replaced")
            return
        # Any change to the inode since the plan (a touch, a write, a chmod, a new file that
        # reused the inode number) moves its ctime, which no one can set back.
        if st.st_ino != ino or st.st_mtime_ns != mt or st.st_ctime_ns != ct \
                or st.st_mtime_ns >= cutoff:
            t.skipped_fresh += 1
            self._result("skipped", path, reason="fresh")
            return
        if st.st_nlink != 1:
            t.skip("hardlink")
            t.anomaly("hardlinks", path)
            self._result("skipped", path, reason="hardlink")
            return
        if not st.st_mode & 0o222:
            t.skip("readonly")
            self._result("skipped", path, reason="readonly")
            return
        if not self.shared.take():
            self.stop.request("max-delete")
            t.not_attempted += 1
            self._result("not-deleted", path, reason="max-delete")
            return
        # 2. Act.
        if plan.action == "direct" or (plan.action == "stage" and stage is None):
            self.n_ops += 1
            try:
                op(os.unlink, name, dir_fd=fd)
            except FileNotFoundError:
                self._lost_race(path, ino)
                return
            except OSError as exc:
                self._failed(path, exc.strerror)
                return
            self._deleted(path, ino, mt, size, blocks)
            return
        if plan.action == "quarantine":
            qfd = self._q_dir(rel)
            if qfd is None:
                self._failed(path, "cannot create the quarantine directory")
                return
            dst_fd, dst = qfd, name
        else:
            assert stage is not None
            dst_fd, dst = fd, stage
        self.n_ops += 1
        try:
            op(os.rename, name, dst, src_dir_fd=fd, dst_dir_fd=dst_fd)
        except FileNotFoundError:
            self._lost_race(path, ino)
            return
        except OSError as exc:
            self._failed(path, exc.strerror)
            return
        # 3. The file is out of the app's reach: look at what we actually moved.
        self.n_ops += 1
        try:
            st2 = op(os.lstat, dst, dir_fd=dst_fd)
        except FileNotFoundError:
            # Someone (beego's own GC) removed it from under us: gone either way.
            self._lost_race(path, ino)
            return
        untouched = (st2.st_mode & S_IFMT == S_IFREG and st2.st_ino == ino
                     and st2.st_mtime_ns == mt and st2.st_size == st.st_size
                     and st2.st_nlink == 1)
        if not untouched:
            self.shared.give_back()
            self._put_back(fd, name, dst_fd, dst, path)
            return
        if plan.action == "quarantine":
            self._deleted(path, ino, mt, size, blocks, event="quarantined",
                          to=os.path.join(plan.quarantine_run or "", rel, name))
            return
        self.n_ops += 1
        try:
            op(os.unlink, dst, dir_fd=dst_fd)
        except FileNotFoundError:
            self._lost_race(path, ino)
            return
        except OSError as exc:
            self.shared.give_back()
            t.errors += 1
            t.example("errors", f"{path}: staged as {dst}, unlink failed: {exc.strerror}")
            self._result("failed", path, error=exc.strerror, stage=dst)
            return
        self._deleted(path, ino, mt, size, blocks)

    def _lost_race(self, path: str, ino: int) -> None:
        """The file went away under us (the app, or beego's own GC): gone either way."""
        self.shared.give_back()
        self.t.vanished += 1
        self._result("vanished", path, inode=ino)

    def _failed(self, path: str, error: str) -> None:
        self.shared.give_back()
        self.t.errors += 1
        self.t.example("errors", f"{path}: {error}")
        self._result("failed", path, error=error)

    def _deleted(self, path: str, ino: int, mt: int, size: int, blocks: int,
                 event: str = "deleted", **extra: Any) -> None:
        t = self.t
        t.deleted += 1
        t.deleted_bytes += size
        t.deleted_blocks += blocks
        if self.journal is not None:
            self._result(event, path, size=size, mtime=iso_ns(mt), mtime_ns=mt, inode=ino,
                         deleted_at=iso_ns(time.time_ns()), **extra)

    def _put_back(self, fd: int, name: str, src_fd: int, src: str, path: str) -> None:
        """Touched between the re-check and the rename: return it, never over a new file."""
        t = self.t
        try:
            os.link(src, name, src_dir_fd=src_fd, dst_dir_fd=fd, follow_symlinks=False)
        except FileExistsError:
            # The app re-created the session in that instant; keep both, report it.
            t.skip("conflict")
            t.example("conflict", f"{path}: touched while being removed and re-created; "
                                  f"the touched copy is kept as {src}")
            self._result("not-deleted", path, reason="conflict", kept_as=src)
            return
        except OSError as exc:
            t.errors += 1
            t.example("errors", f"{path}: could not be put back from {src}: {exc.strerror}")
            self._result("failed", path, error=exc.strerror, kept_as=src)
            return
        with contextlib.suppress(OSError):
            os.unlink(src, dir_fd=src_fd)
        t.skipped_fresh += 1
        t.restored += 1
        self._result("skipped", path, reason="fresh", restored=True)

    def _finish_leftover(self, fd: int, rel: str, stage: str, ino: int, mt: int, size: int,
                         blocks: int, cutoff: int) -> None:
        """A staged session from a killed run: finish the deletion, or put it back."""
        t = self.t
        m = STAGE_RE.fullmatch(stage)
        assert m is not None
        name = m.group(1)
        path = f"{self.plan.root.rstrip('/')}/{rel + '/' if rel else ''}{name}"
        try:
            st = os.lstat(stage, dir_fd=fd)
        except FileNotFoundError:
            return
        except OSError:
            t.errors += 1
            return
        if st.st_mode & S_IFMT != S_IFREG or st.st_ino != ino or st.st_nlink != 1:
            return
        t.leftovers_finished += 1
        if st.st_mtime_ns == mt and mt < cutoff:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stage, dir_fd=fd)
            t.deleted_blocks += blocks
            t.deleted_bytes += size
            self._result("deleted", path, size=size, mtime=iso_ns(mt), mtime_ns=mt, inode=ino,
                         deleted_at=iso_ns(time.time_ns()), leftover=stage)
        else:
            before = t.skipped_fresh
            self._put_back(fd, name, fd, stage, path)
            t.skipped_fresh = before  # not one of this run's candidates

    def _q_dir(self, rel: str) -> int | None:
        fd = self._q_dirs.get(rel)
        if fd is not None:
            return fd
        parent = self.q_root
        opened: list[int] = []
        try:
            for name in [p for p in rel.split("/") if p]:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o700, dir_fd=parent)
                parent = os.open(name, fsops.DIR_FLAGS, dir_fd=parent)
                opened.append(parent)
        except OSError:
            for x in opened:
                os.close(x)
            return None
        for x in opened[:-1]:
            os.close(x)
        fd = opened[-1] if opened else os.dup(self.q_root)
        self._q_dirs[rel] = fd
        return fd


def stage_name(name: str, token: str | None = None) -> str | None:
    """The private name for the verified rename; None when it would exceed NAME_MAX.

    `token`: 8 hex digits from os.urandom (drawn here when not given)."""
    stage = f"{OWN_PREFIX}{token or os.urandom(4).hex()}-{name}"
    if len(stage.encode("utf-8", "surrogateescape")) > 255:
        return None  # a > 237-character id: re-check + unlink for this one file
    return stage


def spill_count(path: str) -> int:
    """Candidates in a spill file never acted on (a stop came first); the file is removed."""
    try:
        with open(path, "rb") as fh:
            n = sum(1 for _ in fh)
        os.unlink(path)
        return n
    except OSError:
        return 0
