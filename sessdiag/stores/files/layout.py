"""How a framework lays sessions out in a directory tree, and how to recognise one.

A layout answers three questions about a file: is its name a session id of this
framework, which shard directories should hold it, and which payload sizes are
exactly "empty". Detection looks at a bounded sample of names, never the whole tree.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass

from sessdiag.core.errors import TargetUnreadable, UsageError

FILE_PROFILES = ("beego-file", "php-files")

# beego: hex(rand N bytes), N = SessionIDLength (16 by default, so 32 chars).
BEEGO_SID = r"[0-9a-f]{16,256}"
# PHP: session.sid_bits_per_character 4/5/6 alphabets; sid_length 22..256.
PHP_SID = r"[0-9a-zA-Z,-]{22,256}"
# beego's empty session: the gob of an empty map[interface{}]interface{}
# (fixtures/beego-real, session "empty").
BEEGO_EMPTY_PAYLOAD_SIZE = 20


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
        if self.profile == "beego-file":
            return "beego file provider: ROOT/sid[0]/sid[1]/sid"
        if self.depth == 0:
            return "PHP files handler: ROOT/sess_<id>"
        levels = "/".join(f"c{i + 1}" for i in range(self.depth))
        return f"PHP files handler, save_path '{self.depth};…': ROOT/{levels}/sess_<id>"


def beego_layout(sid_pattern: str = BEEGO_SID) -> Layout:
    return Layout("beego-file", 2, "", sid_pattern, frozenset({0, BEEGO_EMPTY_PAYLOAD_SIZE}))


def php_layout(depth: int = 0, sid_pattern: str = PHP_SID) -> Layout:
    # PHP writes nothing for a session that holds nothing: the file stays 0 bytes.
    return Layout("php-files", depth, "sess_", sid_pattern, frozenset({0}))


def make_layout(profile: str, *, php_depth: int | None = None,
                sid_pattern: str | None = None) -> Layout:
    if profile == "beego-file":
        return beego_layout(sid_pattern or BEEGO_SID)
    if profile == "php-files":
        return php_layout(php_depth or 0, sid_pattern or PHP_SID)
    raise UsageError(
        f"unknown file-store profile {profile!r} (choose from {', '.join(FILE_PROFILES)})")


def layout_for(root: str, profile: str | None, *, php_depth: int | None = None,
               sid_pattern: str | None = None) -> Layout:
    """The layout to walk: detected, or the profile given.

    `--profile php-files` without `--php-depth` still takes the depth from the tree: a cron
    line that pins the profile must not read a "2;/path" store as flat and find nothing.
    """
    if profile is None:
        return detect_layout(root, sid_pattern=sid_pattern)
    if profile == "php-files" and php_depth is None:
        try:
            seen = detect_layout(root, sid_pattern=sid_pattern)
        except UsageError:  # empty, or nothing PHP-like yet: PHP's default, flat
            seen = None
        if seen is not None and seen.profile == "php-files":
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


def detect_layout(root: str, *, sid_pattern: str | None = None) -> Layout:
    """Guess the layout from a bounded sample of the tree; UsageError when it is neither."""
    try:
        top = _sample_names(root, 100_000)
        os.listdir(root)  # raises PermissionError on an unreadable root
    except PermissionError as exc:
        raise TargetUnreadable(f"cannot read {root}: permission denied") from exc

    votes = {"beego-file": 0, "php-files": 0}
    php_depths: dict[int, int] = {}
    beego = beego_layout(sid_pattern or BEEGO_SID)
    php0 = php_layout(0, sid_pattern or PHP_SID)

    for entry in top[:_SAMPLE_NAMES]:
        if php0.sid_of(entry.name) is not None and entry.is_file(follow_symlinks=False):
            votes["php-files"] += 1
            php_depths[0] = php_depths.get(0, 0) + 1

    shard1 = [e for e in top if len(e.name) == 1 and e.is_dir(follow_symlinks=False)]
    for d1 in shard1[:_SAMPLE_DIRS]:
        level2 = _sample_names(d1.path, _SAMPLE_NAMES)
        for e2 in level2:
            if e2.is_file(follow_symlinks=False):
                sid = php0.sid_of(e2.name)
                if sid is not None and sid[0] == d1.name:
                    votes["php-files"] += 1
                    php_depths[1] = php_depths.get(1, 0) + 1
        for d2 in [e for e in level2 if len(e.name) == 1 and e.is_dir(follow_symlinks=False)][:4]:
            for e3 in _sample_names(d2.path, 64):
                if not e3.is_file(follow_symlinks=False):
                    if len(e3.name) == 1 and e3.is_dir(follow_symlinks=False):
                        # Deeper single-character levels: PHP's "N;/path" with N >= 3.
                        depth = _php_depth_below(e3.path, 3)
                        if depth:
                            votes["php-files"] += 1
                            php_depths[depth] = php_depths.get(depth, 0) + 1
                    continue
                if beego.sid_of(e3.name) is not None and e3.name[:2] == d1.name + d2.name:
                    votes["beego-file"] += 1
                sid = php0.sid_of(e3.name)
                if sid is not None and sid[:2] == d1.name + d2.name:
                    votes["php-files"] += 1
                    php_depths[2] = php_depths.get(2, 0) + 1

    if votes["beego-file"] == 0 and votes["php-files"] == 0:
        what = "an empty directory" if not top else "neither a beego nor a PHP session tree"
        raise UsageError(
            f"{root} is {what}: no session files found "
            "(expected ROOT/s/i/sid (beego) or sess_<id> (PHP); pass --profile to scan it anyway)"
        )
    if votes["beego-file"] >= votes["php-files"]:
        return beego
    depth = max(php_depths, key=lambda d: php_depths[d])
    return php_layout(depth, sid_pattern or PHP_SID)


def _php_depth_below(path: str, depth: int) -> int:
    """Follow single-character directories down until a sess_ file shows the depth."""
    for _ in range(32):
        entries = _sample_names(path, 64)
        for e in entries:
            if e.name.startswith("sess_") and e.is_file(follow_symlinks=False):
                return depth
        subdirs = [e for e in entries if len(e.name) == 1 and e.is_dir(follow_symlinks=False)]
        if not subdirs:
            return 0
        path = subdirs[0].path
        depth += 1
    return 0


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
