"""The limits every backend's prune takes, checked in one place."""

from __future__ import annotations

import pytest

from sessdiag.core.errors import UsageError
from sessdiag.core.prune_contract import check_limits
from sessdiag.stores.files.prune.options import PruneOptions
from sessdiag.stores.redis.prune.options import RedisPruneOptions


@pytest.mark.parametrize(("kw", "needle"), [
    ({"rate": 0.0}, "--rate must be a positive number of things per second"),
    ({"max_delete": -1}, "--max-delete must not be negative"),
    ({"max_runtime": 0.0}, "--max-runtime must be a positive duration"),
    ({"max_fraction": 0.0}, "--max-fraction must be in (0, 1]"),
    ({"max_fraction": 1.5}, "--max-fraction must be in (0, 1]"),
])
def test_each_bad_limit_names_its_flag(kw: dict, needle: str) -> None:
    args = {"rate": None, "max_delete": None, "max_runtime": None, "max_fraction": 0.95, **kw}
    with pytest.raises(UsageError) as exc:
        check_limits(**args, per_second="things")
    assert str(exc.value) == needle


def test_the_edges_are_allowed() -> None:
    check_limits(0.001, 0, 0.001, 1.0, per_second="things")


def test_both_backends_check_them() -> None:
    with pytest.raises(UsageError, match="deletions per second"):
        PruneOptions(target="/nonexistent", max_age=3600, rate=-1).validate()
    with pytest.raises(UsageError, match="changes per second"):
        RedisPruneOptions(target="redis://x", rate=-1).validate()
