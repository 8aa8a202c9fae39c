"""How the suite runs in CI: hypothesis profiles, and skips that fail unless allowed.

Imported by tests/conftest.py (which re-exports the hooks) and by the tests of this policy.

- Hypothesis: `ci` (CI=true) draws the same inputs on every run, so a red CI run is red
  again on a laptop, and a failure prints the blob that reproduces it; `fuzz`
  (SESSDIAG_FUZZ=1) draws new random inputs on every run, many of them (a test that pins its
  own max_examples keeps it); `dev` otherwise.
- Skips: with CI=true or SESSDIAG_STRICT_SKIPS=1 a skipped test (or a module skipped whole)
  is reported as a failure unless tests/allowed_skips.txt names it with a reason. A machine
  without root, FUSE, Go, nginx or php-fpm would otherwise pass CI with the
  hostile-filesystem and real-framework tests unrun.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          database=None)
settings.register_profile("fuzz", deadline=None, derandomize=False, max_examples=20_000,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
HYPOTHESIS_PROFILE = "fuzz" if env_flag("SESSDIAG_FUZZ") else "ci" if env_flag("CI") else "dev"
settings.load_profile(HYPOTHESIS_PROFILE)

ALLOWED_SKIPS = Path("tests") / "allowed_skips.txt"  # relative to the rootdir


def strict_skips() -> bool:
    return env_flag("CI") or env_flag("SESSDIAG_STRICT_SKIPS")


def load_allowed_skips(path: Path) -> dict[str, str]:
    """node id (or a prefix ending in `::` or `/`) -> reason, from `ID  # reason` lines."""
    allowed: dict[str, str] = {}
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        node, sep, reason = line.partition("#")
        if not sep or not reason.strip() or not node.strip():
            raise pytest.UsageError(f"{path}:{n}: an entry is `NODE-ID  # reason`: {raw!r}")
        allowed[node.strip()] = reason.strip()
    return allowed


def skip_allowed(nodeid: str, allowed: dict[str, str]) -> bool:
    return any(nodeid == a or (a.endswith(("::", "/")) and nodeid.startswith(a))
               for a in allowed)


def _unallowed_skip(config: pytest.Config,
                    report: pytest.TestReport | pytest.CollectReport) -> str | None:
    """The skip's reason when strict mode forbids this skip, else None."""
    if not (report.skipped and strict_skips()) or hasattr(report, "wasxfail"):
        return None
    if skip_allowed(report.nodeid, load_allowed_skips(config.rootpath / ALLOWED_SKIPS)):
        return None
    longrepr = report.longrepr
    return str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)


def _fail(report: pytest.TestReport | pytest.CollectReport, what: str, reason: str) -> None:
    report.outcome = "failed"
    report.longrepr = (f"{what} skipped in CI ({reason}): make it run, or list it in "
                       f"{ALLOWED_SKIPS} with the reason it may skip")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    reason = _unallowed_skip(item.config, report)
    if reason is not None:
        _fail(report, "test", reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # type: ignore[no-untyped-def]
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    reason = _unallowed_skip(collector.config, report)
    if reason is not None:  # importorskip or a module-level skip: the whole module
        _fail(report, "module", reason)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"hypothesis profile: {HYPOTHESIS_PROFILE}; skips "
            + (f"fail unless listed in {ALLOWED_SKIPS}" if strict_skips() else "allowed")]
