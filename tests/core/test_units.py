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
