"""Every session of a file store, one at a time: for readers that need each payload.

The same units (pool.plan_units) and the same classifier as scan, so client attribution
sees exactly the sessions scan counts; directories are opened fd-relative with O_NOFOLLOW
and payloads read through fsops, never through a symlink.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from sessdiag.stores.files import fsops, pool
from sessdiag.stores.files.classify import SESSION, Classifier
from sessdiag.stores.files.inflight import Engine
from sessdiag.stores.files.layout import Layout
from sessdiag.stores.files.partition import Partition


def iter_session_batches(root: str, layout: Layout, engine: Engine,
                         partition: Partition | None = None
                         ) -> Iterator[tuple[int, list[tuple[str, os.stat_result]]]]:
    """(directory fd, [(name, lstat)]) of the sessions of each batch of a directory's names;
    the fd is only valid during the step. The lstats go through `engine` (many at once on
    a slow mount)."""
    root_fd = fsops.open_root(root)
    try:
        root_dev = os.fstat(root_fd).st_dev
        clf = Classifier(layout, root_dev, fsops.mounts_below(root))
        _top, units = pool.plan_units(clf, root_fd, partition=partition)
        for u in units:
            shard = clf.shard_key(u.rel)
            if shard is None:
                continue  # off the layout: never holds a session
            try:
                chain = engine.op(fsops.open_chain, root_fd, u.rel, root_dev)
            except OSError:
                continue
            try:
                if chain and chain[-1][2] != u.ino:
                    continue
                fd = fsops.chain_fd(root_fd, chain)
                for batch in engine.op(pool.unit_names, fd, u):
                    lstat = engine.lstats(fd, batch)
                    found = []
                    for name in batch:
                        try:
                            st = lstat(name, dir_fd=fd)
                        except OSError:
                            continue
                        if clf.entry(name, st, u.rel, shard)[0] == SESSION:
                            found.append((name, st))
                    if found:
                        yield fd, found
            finally:
                fsops.close_chain(chain)
    finally:
        os.close(root_fd)


def iter_sessions(root: str, layout: Layout,
                  engine: Engine | None = None) -> Iterator[tuple[int, str, os.stat_result]]:
    """(directory fd, name, lstat) of each session; the fd is only valid during the step."""
    eng = engine or Engine()
    try:
        for fd, found in iter_session_batches(root, layout, eng):
            for name, st in found:
                yield fd, name, st
    finally:
        if engine is None:
            eng.close()


def read_session(dir_fd: int, name: str, st: os.stat_result) -> bytes | None:
    """The payload, or None when it cannot be read as the file lstat'ed (gone, swapped)."""
    try:
        got = fsops.read_payload(dir_fd, name, ino=st.st_ino)
    except OSError:
        return None
    return None if got is None else got[0]
