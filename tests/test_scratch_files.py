"""Scratch files: sessdiag's go to TMPDIR and go away; the suite's stay in the suite's.

A user may be half-way through the README tour in /tmp/sessdiag-demo while the suite runs,
and a run must not leave a /tmp/sessdiag-prune-* spill directory behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sessdiag.fixtures import FixtureSpec, make_tree


def _store(root: Path) -> str:
    make_tree(str(root), FixtureSpec.from_mapping({
        "sessions": 200, "expired_fraction": 0.5, "max_lifetime": 3600, "seed": 3}))
    return str(root)


def test_each_test_has_its_own_tmpdir(private_tmpdir: Path, system_tmp: str) -> None:
    assert os.environ["TMPDIR"] == str(private_tmpdir)
    assert tempfile.gettempdir() == str(private_tmpdir)
    assert private_tmpdir.parent == Path(system_tmp) and private_tmpdir.name.startswith("sdt-")
    assert list(private_tmpdir.iterdir()) == []


def test_prune_spill_directory_is_made_in_tmpdir_and_removed(cli, tmp_path, private_tmpdir,
                                                              monkeypatch) -> None:
    root = _store(tmp_path / "store")
    made: list[str] = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):  # the real mkdtemp, with its answer noted
        path = real_mkdtemp(*args, **kwargs)
        made.append(path)
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    res = cli("prune", root, "--max-age", "1h", "--apply", "--json",
              "--lock", tmp_path / "prune.lock")
    assert res.code == 0, res.err
    assert res.json()["deleted"] == 100
    spills = [p for p in made if Path(p).name.startswith("sessdiag-prune-")]
    assert len(spills) == 1, made
    assert Path(spills[0]).parent == private_tmpdir  # TMPDIR honoured, not /tmp
    assert not Path(spills[0]).exists()  # and removed when the run ended
    assert list(private_tmpdir.iterdir()) == []


def test_prune_in_a_subprocess_leaves_its_tmpdir_empty(tmp_path) -> None:
    root = _store(tmp_path / "store")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch))
    res = subprocess.run([sys.executable, "-m", "sessdiag", "prune", root, "--max-age", "1h",
                          "--apply", "--lock", str(tmp_path / "prune.lock"), "--quiet"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert sum(len(f) for _d, _s, f in os.walk(root)) == 100  # it did delete, so it spilled
    assert list(scratch.iterdir()) == []
