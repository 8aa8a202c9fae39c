"""Shared by the analysis tests: the committed captures of real apps, and log writers.

Test modules use these as fixtures (never `import conftest`: tests/conftest.py has the same
module name).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

LOGS = Path(__file__).resolve().parents[2] / "fixtures" / "logs"
FRAMEWORKS = ("php", "php-lax", "flask", "django", "express")


def _capture(fw: str) -> tuple[str, dict]:
    d = LOGS / fw
    return str(d / "access.log"), json.loads((d / "expected.json").read_text())


def _nginx_line(ip: str, ts: str, request: str, cookie: str = "-", set_cookie: str = "-",
                status: int = 200, ua: str = "Mozilla/5.0") -> str:
    return f'{ip} - - [{ts}] "{request}" {status} 12 "-" "{ua}" "{cookie}" "{set_cookie}"'


@pytest.fixture
def capture():  # type: ignore[no-untyped-def]
    """capture(fw) -> (access.log path, the driver's expected.json) of a real app's capture."""
    return _capture


@pytest.fixture
def nginx_line():  # type: ignore[no-untyped-def]
    """nginx_line(ip, ts, request, cookie, set_cookie, status, ua) -> one contract log line."""
    return _nginx_line


@pytest.fixture
def write_log(tmp_path):  # type: ignore[no-untyped-def]
    """write_log(lines, name="access.log") -> path of a log holding those lines."""

    def write(lines: list[str], name: str = "access.log") -> str:
        p = tmp_path / name
        p.write_text("".join(line if line.endswith("\n") else line + "\n" for line in lines))
        return str(p)

    return write
