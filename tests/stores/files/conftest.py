"""Fixtures for the file-store tests: trees with exact ages, snapshots, prune options."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sessdiag.fixtures import FixtureSpec, make_tree
from sessdiag.stores.files.layout import make_layout

REPO = Path(__file__).resolve().parents[3]

LIFE = 3600


def _snapshot(top: str) -> dict[str, tuple]:
    """Everything observable about a tree, without following symlinks or opening FIFOs."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, top)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
                out[rel] = ("f", st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino, st.st_nlink,
                            digest)
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", os.readlink(p), st.st_mtime_ns)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", st.st_mode, st.st_ino)
            else:
                out[rel] = ("o", st.st_mode, st.st_mtime_ns, st.st_ino)
    return out


@pytest.fixture
def snapshot() -> Callable[[str], dict[str, tuple]]:
    return _snapshot


def sessions_in(root: str, profile: str = "beego-file", php_depth: int = 0,
                life: int = LIFE) -> tuple[set[str], set[str]]:
    """(expired, fresh) root-relative paths of the sessions in the tree right now."""
    layout = make_layout(profile, php_depth=php_depth)
    now = time.time()
    expired: set[str] = set()
    fresh: set[str] = set()
    for dirpath, _dirs, files in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        parts = [] if rel_dir == "." else rel_dir.split(os.sep)
        for name in files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            sid = layout.sid_of(name)
            if not stat.S_ISREG(st.st_mode) or sid is None or len(parts) != layout.depth \
                    or tuple(parts) != layout.shard_of(sid):
                continue
            rel = os.path.relpath(p, root)
            (expired if st.st_mtime < now - life else fresh).add(rel)
    return expired, fresh


@pytest.fixture
def store(tmp_path: Path) -> Callable[..., tuple[str, set[str], set[str]]]:
    """make(name, sessions=…, expired_fraction=…, **spec) -> (root, expired, fresh)."""

    def make(name: str = "store", sessions: int = 300, expired_fraction: float = 0.5,
             **spec: object) -> tuple[str, set[str], set[str]]:
        root = str(tmp_path / name)
        data = {"sessions": sessions, "expired_fraction": expired_fraction, "max_lifetime": LIFE,
                "seed": 7}
        data.update(spec)
        make_tree(root, FixtureSpec.from_mapping(data))
        expired, fresh = sessions_in(root, str(data.get("profile", "beego-file")),
                                     int(data.get("php_depth", 0)))  # type: ignore[arg-type]
        return root, expired, fresh

    return make


@pytest.fixture
def popts(tmp_path: Path) -> Callable[..., object]:
    """PruneOptions with test defaults: serial, no process scan, a private lock file."""
    from sessdiag.stores.files.prune import PruneOptions

    def make(root: str, **kw: object) -> PruneOptions:
        base: dict[str, object] = {"target": root, "max_age": LIFE, "grace": 60,
                                   "profile": "beego-file", "jobs": 1, "check_processes": False,
                                   "lock_path": str(tmp_path / "prune.lock"), "seed": 1}
        base.update(kw)
        return PruneOptions(**base)  # type: ignore[arg-type]

    return make


def _drop_dac_override() -> None:  # pragma: no cover - runs in the child before exec
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def sessdiag_denied() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `python -m sessdiag ARGS…` so that a mode-000 directory really is unreadable.

    Root reads everything through CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; the child drops
    both from its bounding set before exec, so its permissions are checked like anyone's.
    """

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sessdiag", *map(str, args)],
                              capture_output=True, check=False, timeout=120,
                              # Names that are not UTF-8 reach the output: keep their bytes.
                              encoding="utf-8", errors="surrogateescape",
                              preexec_fn=_drop_dac_override if os.geteuid() == 0 else None,
                              env={**os.environ, "PYTHONPATH": str(REPO)})

    return run


@pytest.fixture
def deny() -> Iterator[Callable[[str], None]]:
    """chmod 000 a directory for the test; its mode comes back afterwards (cleanup)."""
    denied: list[str] = []

    def make(path: str) -> None:
        os.chmod(path, 0)
        denied.append(path)

    yield make
    for path in denied:
        os.chmod(path, 0o755)
