"""The suite's CI policy (tests/suite_policy.py): skips fail in CI unless allowed; the
hypothesis profile follows CI / SESSDIAG_FUZZ.

Each case runs a small pytest session of its own in a subprocess, with the policy installed
the way tests/conftest.py installs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from suite_policy import load_allowed_skips

TESTS = Path(__file__).resolve().parent

SKIPPING = """
import pytest

def test_runs():
    assert True

def test_needs_something():
    pytest.skip("needs a thing this machine lacks")

@pytest.mark.xfail(reason="known", strict=True)
def test_known_bug():
    assert False
"""


def session(tmp_path: Path, files: dict[str, str], allowed: str = "",
            **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "tests").mkdir(exist_ok=True)
    (tmp_path / "tests" / "conftest.py").write_text(
        "from suite_policy import pytest_make_collect_report, pytest_runtest_makereport\n")
    (tmp_path / "tests" / "allowed_skips.txt").write_text(allowed)
    for name, text in files.items():
        (tmp_path / "tests" / name).write_text(textwrap.dedent(text))
    clean = {k: v for k, v in os.environ.items()
             if k not in ("CI", "SESSDIAG_STRICT_SKIPS", "SESSDIAG_FUZZ")}
    run_env = clean | {"PYTHONPATH": str(TESTS)} | env
    return subprocess.run([sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), str(tmp_path / "tests")],
                          cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=120)


def test_a_skip_passes_outside_ci(tmp_path: Path) -> None:
    res = session(tmp_path, {"test_a.py": SKIPPING})
    assert res.returncode == 0, res.stdout
    assert "1 passed, 1 skipped, 1 xfailed" in res.stdout


@pytest.mark.parametrize("flag", [{"CI": "true"}, {"SESSDIAG_STRICT_SKIPS": "1"}])
def test_a_skip_fails_in_ci(tmp_path: Path, flag: dict[str, str]) -> None:
    res = session(tmp_path, {"test_a.py": SKIPPING}, **flag)
    assert res.returncode == 1, res.stdout
    assert "1 failed, 1 passed, 1 xfailed" in res.stdout  # an xfail is not a skip
    assert "FAILED tests/test_a.py::test_needs_something" in res.stdout
    assert "needs a thing this machine lacks" in res.stdout


def test_ci_false_is_not_strict(tmp_path: Path) -> None:
    res = session(tmp_path, {"test_a.py": SKIPPING}, CI="false")
    assert res.returncode == 0, res.stdout


def test_an_allowed_skip_passes_in_ci(tmp_path: Path) -> None:
    allowed = "tests/test_a.py::test_needs_something  # the thing cannot exist in CI\n"
    res = session(tmp_path, {"test_a.py": SKIPPING}, allowed, CI="true")
    assert res.returncode == 0, res.stdout
    assert "1 passed, 1 skipped, 1 xfailed" in res.stdout


def test_a_prefix_allows_a_whole_module(tmp_path: Path) -> None:
    allowed = "tests/test_a.py::  # every test in it may skip\n"
    res = session(tmp_path, {"test_a.py": SKIPPING, "test_b.py": SKIPPING}, allowed, CI="true")
    assert res.returncode == 1, res.stdout
    assert "FAILED tests/test_b.py::test_needs_something" in res.stdout
    assert "test_a.py::test_needs_something" not in res.stdout.split("FAILED", 1)[1]


def test_a_module_skipped_whole_fails_in_ci(tmp_path: Path) -> None:
    module = "import pytest\npytest.importorskip('no_such_module_xyz')\n\ndef test_x():\n" \
             "    assert True\n"
    res = session(tmp_path, {"test_m.py": module}, CI="true")
    assert res.returncode != 0, res.stdout
    assert "module skipped in CI" in res.stdout and "no_such_module_xyz" in res.stdout
    allowed = session(tmp_path, {"test_m.py": module, "test_ok.py": "def test_ok():\n    pass\n"},
                      "tests/test_m.py  # optional dep\n", CI="true")
    assert allowed.returncode == 0, allowed.stdout
    assert "1 passed, 1 skipped" in allowed.stdout


def test_an_entry_without_a_reason_is_refused(tmp_path: Path) -> None:
    res = session(tmp_path, {"test_a.py": SKIPPING}, "tests/test_a.py::test_needs_something\n",
                  CI="true")
    assert res.returncode != 0
    assert "an entry is `NODE-ID  # reason`" in res.stdout + res.stderr


def test_the_committed_allowlist_is_short_and_names_real_tests() -> None:
    allowed = load_allowed_skips(TESTS / "allowed_skips.txt")
    assert len(allowed) <= 5
    for node, reason in allowed.items():
        assert (TESTS.parent / node.split("::")[0]).is_file(), node
        assert len(reason) >= 10, node


PROFILE = "import suite_policy; from hypothesis import settings; s = settings.default; " \
          "print(suite_policy.HYPOTHESIS_PROFILE, s.derandomize, s.max_examples, s.print_blob)"


@pytest.mark.parametrize(("env", "want"), [
    ({}, "dev False 100 False"),
    ({"CI": "true"}, "ci True 100 True"),
    ({"SESSDIAG_FUZZ": "1"}, "fuzz False 20000 True"),
    ({"SESSDIAG_FUZZ": "1", "CI": "true"}, "fuzz False 20000 True"),
])
def test_hypothesis_profile_follows_the_environment(env: dict[str, str], want: str) -> None:
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "SESSDIAG_FUZZ")}
    res = subprocess.run([sys.executable, "-c", PROFILE], env=clean | env | {
        "PYTHONPATH": str(TESTS)}, capture_output=True, text=True, timeout=60, check=True)
    assert res.stdout.split() == want.split()
