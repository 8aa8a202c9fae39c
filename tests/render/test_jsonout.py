"""Files sessdiag writes for other programs (--output, --prom, --junit)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessdiag.render.jsonout import write_atomic


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_write_atomic_honours_the_umask(tmp_path: Path, umask: None, mask: int,
                                        mode: int) -> None:
    os.umask(mask)
    path = tmp_path / "metrics.prom"
    write_atomic(str(path), "x 1\n")
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.read_text() == "x 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.prom"]  # no temp file left


def test_prom_junit_and_output_files_are_readable_by_others(cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                            umask: None) -> None:
    os.umask(0o022)
    store = tmp_path / "store"
    assert cli("fixtures", "make", store, "--sessions", "20", "--seed", "1").code == 0
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  max_sessions: 1000\n")
    out = {n: tmp_path / n for n in ("r.json", "m.prom", "j.xml")}
    res = cli("check", store, "--policy", policy, "--output", out["r.json"],
              "--prom", out["m.prom"], "--junit", out["j.xml"], "--quiet")
    assert res.code == 0, res.err
    for p in out.values():
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
