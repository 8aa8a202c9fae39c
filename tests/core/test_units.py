import pytest

from sessdiag.core.errors import UsageError
from sessdiag.core.units import format_bytes, format_duration, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("30d", 2592000), ("2w", 1209600), ("3600", 3600),
     (" 7d ", 604800), ("1.5h", 5400), (42, 42)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5y", "-3s", "1h30m", True, -1])
def test_parse_duration_rejects(text):
    with pytest.raises(UsageError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "n"),
    [("2GiB", 2 * 1024**3), ("500MB", 500 * 1000**2), ("1024", 1024), ("10 KiB", 10240),
     ("1TB", 10**12), ("3B", 3), ("1kB", 1000)],
)
def test_parse_size(text, n):
    assert parse_size(text) == n


@pytest.mark.parametrize("text", ["2GX", "lots", "-1", "1.2.3GB"])
def test_parse_size_rejects(text):
    with pytest.raises(UsageError):
        parse_size(text)


def test_formats():
    assert format_duration(2592000) == "30d"
    assert format_duration(5400) == "1.5h"
    assert format_duration(0.25) == "250ms"
    assert format_bytes(4096) == "4.0 KiB"
    assert format_bytes(31999361024).endswith("GiB")


def test_counts_have_one_form():
    from sessdiag.core.units import format_count

    assert [format_count(n) for n in (0, 9485, 17000, 28500, 7812344)] == [
        "0", "9,485", "17,000", "28,500", "7,812,344"]


@pytest.mark.parametrize(("fraction", "text"), [
    (19_999 / 20_000, ">99.9%"), (1.0, "100.0%"), (0.0, "0.0%"), (1 / 20_000, "<0.1%"),
    (0.154, "15.4%"), (0.9995, ">99.9%"), (0.999, "99.9%")])
def test_percent_never_rounds_to_all_or_none(fraction, text):
    from sessdiag.core.units import format_percent

    assert format_percent(fraction) == text


def test_percent_whole_digits():
    from sessdiag.core.units import format_percent

    assert (format_percent(0.996, 0), format_percent(0.004, 0)) == (">99%", "<1%")
