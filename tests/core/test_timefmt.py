"""The one time format of the reports (sessdiag.core.timefmt)."""

from __future__ import annotations

from sessdiag.core.timefmt import iso

T = 1795829400.987654  # 2026-11-28T01:30:00.987654Z


def test_whole_seconds_with_z_by_default():
    assert iso(T) == "2026-11-28T01:30:00Z"


def test_truncates_never_rounds_into_the_next_second():
    assert iso(59.9999) == "1970-01-01T00:00:59Z"


def test_sub_second_only_when_asked():
    assert iso(T, "milliseconds") == "2026-11-28T01:30:00.987Z"
    assert iso(T, "microseconds") == "2026-11-28T01:30:00.987654Z"


def test_none_and_unrepresentable_times_give_none():
    # A corrupt lastAccessedTime in a Spring hash must not crash a whole scan.
    assert iso(None) is None
    assert iso(1e20) is None
