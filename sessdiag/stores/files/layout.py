"""How a framework lays sessions out in a directory tree, and how to recognise one.

A layout answers three questions about a file: is its name a session id of this
framework, which shard directories should hold it, and which payload sizes are
exactly "empty". Detection looks at a bounded sample of names, never the whole tree.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sessdiag import frameworks
from sessdiag.core.errors import TargetUnreadable, UsageError
from sessdiag.frameworks import beego, php
from sessdiag.frameworks.base import FileLayout, TreeSample, Votes

# Profiles, id patterns, shard depths and detection votes come from the framework registry
# (sessdiag/frameworks): a file-store framework is one module there.
FILE_PROFILES = frameworks.FILE_PROFILES
BEEGO_SID = beego.SID
PHP_SID = php.SID
BEEGO_EMPTY_PAYLOAD_SIZE = beego.EMPTY_PAYLOAD_SIZE
T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class Layout:
    profile: str
    depth: int  # shard directory levels between the root and a session file
    prefix: str  # file-name prefix before the id ("sess_" for PHP)
    sid_pattern: str
    empty_sizes: frozenset[int]

    @property
    def name_re(self) -> re.Pattern[str]:
        return re.compile(re.escape(self.prefix) + "(" + self.sid_pattern + ")")

    def sid_of(self, name: str) -> str | None:
        m = self.name_re.fullmatch(name)
        return m.group(1) if m else None

    def shard_of(self, sid: str) -> tuple[str, ...]:
        """Directory names (root-relative) where this sid belongs."""
        return tuple(sid[: self.depth])

    def describe(self) -> str:
        return _files(self.profile).describe(self.depth)


def _files(profile: str) -> FileLayout:
    fw = frameworks.REGISTRY.get(profile)
    if fw is None or fw.files is None:
        raise UsageError(f"unknown file-store profile {profile!r} "
                         f"(choose from {', '.join(FILE_PROFILES)})")
    return fw.files


def beego_layout(sid_pattern: str = BEEGO_SID) -> Layout:
    return make_layout("beego-file", sid_pattern=sid_pattern)


def php_layout(depth: int = 0, sid_pattern: str = PHP_SID) -> Layout:
    return make_layout("php-files", php_depth=depth, sid_pattern=sid_pattern)


def make_layout(profile: str, *, php_depth: int | None = None,
                sid_pattern: str | None = None) -> Layout:
    """The layout of a file profile; `php_depth` sets the depth of a variable-depth one."""
    f = _files(profile)
    depth = php_depth if f.variable_depth and php_depth is not None else f.depth
    return Layout(profile, depth, f.prefix, sid_pattern or f.sid_pattern, f.empty_sizes)


def layout_for(root: str, profile: str | None, *, php_depth: int | None = None,
               sid_pattern: str | None = None, threads: int = 1) -> Layout:
    """The layout to walk: detected, or the profile given.

    `--profile php-files` without `--php-depth` still takes the depth from the tree: a cron
    line that pins the profile must not read a "2;/path" store as flat and find nothing.
    `threads` > 1 lists the sampled directories that many at once (a latency-bound mount).
    """
    if profile is None:
        return detect_layout(root, sid_pattern=sid_pattern, threads=threads)
    if _files(profile).variable_depth and php_depth is None:
        try:
            seen = detect_layout(root, sid_pattern=sid_pattern, threads=threads)
        except UsageError:  # empty, or nothing PHP-like yet: PHP's default, flat
            seen = None
        if seen is not None and seen.profile == profile:
            php_depth = seen.depth
    return make_layout(profile, php_depth=php_depth, sid_pattern=sid_pattern)


_SAMPLE_DIRS = 24
_SAMPLE_NAMES = 400


def _sample_names(path: str, limit: int) -> list[os.DirEntry[str]]:
    out: list[os.DirEntry[str]] = []
    try:
        with os.scandir(path) as it:
            for entry in it:
                out.append(entry)
                if len(out) >= limit:
                    break
    except PermissionError:
        return out
    except FileNotFoundError:
        return out
    return out


def detect_layout(root: str, *, sid_pattern: str | None = None, threads: int = 1) -> Layout:
    """Guess the layout from a bounded sample of the tree; UsageError when it is neither."""
    try:
        top = _sample_names(root, 100_000)
        os.listdir(root)  # raises PermissionError on an unreadable root
    except PermissionError as exc:
        raise TargetUnreadable(f"cannot read {root}: permission denied") from exc

    sample = _tree_sample(top, threads)
    best: tuple[int, str, Votes] | None = None
    for profile in FILE_PROFILES:
        f = _files(profile)
        name_re = re.compile(re.escape(f.prefix) + "(" + (sid_pattern or f.sid_pattern) + ")")
        votes = f.vote(sample, name_re)
        total = sum(votes.values())
        if total and (best is None or total > best[0]):  # a tie goes to the first registered
            best = (total, profile, votes)
    if best is None:
        names = " nor a ".join(dict.fromkeys(frameworks.get(p).family for p in FILE_PROFILES))
        what = "an empty directory" if not top else f"neither a {names} session tree"
        raise UsageError(
            f"{root} is {what}: no session files found "
            f"(expected {'; '.join(_files(p).describe(_files(p).depth) for p in FILE_PROFILES)}"
            "; pass --profile to scan it anyway)"
        )
    _total, profile, votes = best
    depth = max(votes, key=lambda d: votes[d])
    return make_layout(profile, php_depth=depth, sid_pattern=sid_pattern)


def _kinds(entries: list[os.DirEntry[str]]) -> list[tuple[str, bool]]:
    return [(e.name, e.is_file(follow_symlinks=False)) for e in entries]


def _tree_sample(top: list[os.DirEntry[str]], threads: int = 1) -> TreeSample:
    """Names at the root and in up to 24 x 4 one-character shard directories below it.

    With threads > 1 the directories of each level are listed concurrently: on a mount where
    a listing is a round trip, beego's 16 + 64 sampled directories one after the other took
    a quarter of a second of a 20,000-file scan. The sample is the same either way.
    """
    shard1 = [e for e in top if len(e.name) == 1 and e.is_dir(follow_symlinks=False)]
    shard1 = shard1[:_SAMPLE_DIRS]
    ex = None
    if threads > 1 and shard1:
        from concurrent.futures import ThreadPoolExecutor

        ex = ThreadPoolExecutor(max_workers=min(threads, 4 * len(shard1)),
                                thread_name_prefix="sessdiag-layout")

    def each(fn: Callable[[T], U], items: list[T]) -> list[U]:
        return list(ex.map(fn, items)) if ex is not None else [fn(i) for i in items]

    try:
        level2s = each(lambda d1: _sample_names(d1.path, _SAMPLE_NAMES), shard1)
        d2s = [[e for e in level2 if len(e.name) == 1 and e.is_dir(follow_symlinks=False)][:4]
               for level2 in level2s]
        below_all = each(_below, [d2 for group in d2s for d2 in group])
    finally:
        if ex is not None:
            ex.shutdown()
    shards = []
    k = 0
    for d1, level2, group in zip(shard1, level2s, d2s, strict=True):
        shards.append((d1.name, _kinds(level2), below_all[k:k + len(group)]))
        k += len(group)
    return TreeSample(top=_kinds(top[:_SAMPLE_NAMES]), shards=shards)


def _below(d2: os.DirEntry[str],
           ) -> tuple[str, list[tuple[str, bool]], list[list[tuple[int, list[str]]]]]:
    """A second-level directory's names, and the chains of one-character directories in it."""
    level3 = _sample_names(d2.path, 64)
    chains = [_chain(e3.path, 3) for e3 in level3
              if len(e3.name) == 1 and e3.is_dir(follow_symlinks=False)]
    return d2.name, _kinds(level3), chains


def _chain(path: str, depth: int) -> list[tuple[int, list[str]]]:
    """Follow one-character directories down: the regular files at each depth (PHP's "N;")."""
    out = []
    for _ in range(32):
        entries = _sample_names(path, 64)
        files = [e.name for e in entries if e.is_file(follow_symlinks=False)]
        out.append((depth, files))
        subdirs = [e for e in entries if len(e.name) == 1 and e.is_dir(follow_symlinks=False)]
        if not subdirs:
            break
        path = subdirs[0].path
        depth += 1
    return out


def resolve_root(path: str) -> tuple[str, list[str]]:
    """Check a store root; return its real path (a root symlink resolved once) and warnings."""
    warnings: list[str] = []
    try:
        st = os.lstat(path)
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no such file or directory") from exc
    except PermissionError as exc:
        raise TargetUnreadable(f"cannot read {path}: permission denied") from exc
    real = path
    bare = path.rstrip("/")
    if bare and bare != path and os.path.islink(bare):
        # "link/" resolves through the link, as it does for beego's Walk: no GC warning, but
        # the walker opens the real directory (it refuses to follow a link on its own).
        real = os.path.realpath(path)
    elif stat.S_ISLNK(st.st_mode):
        real = os.path.realpath(path)
        warnings.append(f"the store root {path} is a symlink to {real} (resolved once)")
        try:
            st = os.stat(real)
        except OSError as exc:
            raise UsageError(
                f"{path}: symlink to {real}, which cannot be opened ({exc.strerror})") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(
            f"{path} is not a directory; to decode one session file use 'sessdiag inspect {path}'"
        )
    if not os.access(real, os.R_OK | os.X_OK):
        raise TargetUnreadable(f"cannot read {path}: permission denied")
    return os.path.abspath(real), warnings
