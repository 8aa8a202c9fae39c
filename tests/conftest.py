"""Fixtures shared by the whole suite: run the CLI in-process and capture its outcome."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Hypothesis profiles and the CI skip policy (tests/suite_policy.py): importing the hooks
# into this conftest is what installs them.
from suite_policy import (
    pytest_make_collect_report,
    pytest_report_header,
    pytest_runtest_makereport,
)

__all__ = ["pytest_make_collect_report", "pytest_report_header", "pytest_runtest_makereport"]

REPO = Path(__file__).resolve().parents[1]
# The machine's temporary directory, read once before any test points TMPDIR elsewhere.
SYSTEM_TMP = tempfile.gettempdir()


@pytest.fixture
def system_tmp() -> str:
    """The machine's temporary directory, as it was before the suite gave each test its own."""
    return SYSTEM_TMP


@pytest.fixture(autouse=True)
def private_tmpdir(monkeypatch: pytest.MonkeyPatch,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Each test gets its own TMPDIR, removed afterwards, whatever the test left in it.

    sessdiag's own scratch files (prune's spill directory, the GC probe's scratch tree) go
    to TMPDIR, and so do those of the subprocesses a test starts: a prune killed mid-run by
    a crash test leaves its spill directory here, not in the machine's /tmp. The path is
    short so that Unix sockets made under it stay within the 108-byte limit.
    """
    tmp_path_factory.getbasetemp()  # pytest's tmp_path root is fixed before TMPDIR moves
    d = Path(tempfile.mkdtemp(prefix="sdt-", dir=SYSTEM_TMP))
    monkeypatch.setenv("TMPDIR", str(d))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() caches its answer
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
        if d.exists():  # a read-only directory a test made: make it writable, try again
            for sub, dirs, _files in os.walk(d):
                for name in dirs:
                    os.chmod(os.path.join(sub, name), 0o700)
            shutil.rmtree(d, ignore_errors=True)


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `sessdiag ARGS…` in-process; return exit code, stdout and stderr."""
    from sessdiag.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        else:  # pragma: no cover - main always exits
            code = 0
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


# --- one policy with every rule kind, and an access log that exercises the per-client rules

RULE_KINDS = ("max_sessions", "max_allocated_bytes", "max_bytes", "max_expired_fraction",
              "max_empty_fraction", "max_orphan_rate_per_hour",
              "max_orphans_per_route_per_hour", "max_gc_stall_seconds",
              "max_no_ttl_keys", "allowed_namespaces", "max_anomalies", "clients")


@pytest.fixture
def every_rule_policy(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a policy holding every rule kind `sessdiag.policy` knows, with these limits."""
    import yaml

    from sessdiag.policy import CLIENT_RULES, RULE_TYPES

    # A new rule kind must be added here (and so to every test using this fixture).
    assert set(RULE_KINDS) == {*RULE_TYPES, "max_anomalies", "clients"}

    def write(limits: dict, name: str = "every-rule.yaml") -> Path:
        assert set(limits) == set(RULE_KINDS), set(RULE_KINDS) ^ set(limits)
        assert set(limits["clients"]) == set(CLIENT_RULES)
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"rules": {k: limits[k] for k in RULE_KINDS}},
                                       sort_keys=False))
        return path

    return write


@pytest.fixture
def combined_log(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a combined-cookies access log from (t, ip, path, cookie sent, cookie set) rows."""
    from datetime import UTC, datetime

    def write(cookie_name: str, rows: list[tuple[float, str, str, str | None, str | None]],
              name: str = "access.log") -> Path:
        lines = []
        for t, ip, path, sent, issued in sorted(rows):
            when = datetime.fromtimestamp(t, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
            setc = f"{cookie_name}={issued}; Path=/; HttpOnly" if issued else "-"
            lines.append(f'{ip} - - [{when}] "GET {path} HTTP/1.1" 200 12 "-" "agent/1.0" '
                         f'"{sent or "-"}" "{setc}"')
        p = tmp_path / name
        p.write_text("\n".join(lines) + "\n")
        return p

    return write


@pytest.fixture(autouse=True)
def no_cpu_pin_left() -> Iterator[None]:
    """An engine that fanned out and was never closed would leave the process on one CPU
    (stores/files/cpupin.py): every later test would run there. Fail the test that did it."""
    from sessdiag.stores.files import cpupin

    yield
    if cpupin._users:
        cpupin._users = 1
        cpupin.unpin()
        pytest.fail("a fanning-out engine was never closed: the process stayed pinned to "
                    "one CPU (cpupin)")
