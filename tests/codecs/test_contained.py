"""The decode boundary: whatever a decoder raises, one session is undecodable and the scan goes on.

Every decoder promises that only DecodeError escapes (tests/codecs/test_fuzz.py holds each to it);
`contained` is the second line, at the one place sessions are decoded, for a bug nobody found yet.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sessdiag import frameworks
from sessdiag.codecs import contained, jsonsafe
from sessdiag.core.errors import DecodeError
from sessdiag.frameworks.base import FileLayout, Framework

FAULTS = [IndexError("list index out of range"), TypeError("unhashable"), RecursionError(),
          UnicodeEncodeError("latin-1", "\u0100", 0, 1, "x"), MemoryError(), ValueError("int")]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda e: type(e).__name__)
def test_a_decoder_fault_becomes_a_decode_error_that_names_it(fault: Exception) -> None:
    def broken(data: bytes) -> object:
        raise fault

    with pytest.raises(DecodeError) as info:
        contained(broken)(b"payload")
    assert info.value.reason == f"decoder fault ({type(fault).__name__})"
    assert info.value.__cause__ is fault


def test_a_decode_error_and_a_value_pass_through_unchanged() -> None:
    own = DecodeError("trailing bytes", 7)

    def refuses(data: bytes) -> object:
        raise own

    with pytest.raises(DecodeError) as info:
        contained(refuses)(b"x")
    assert info.value is own
    assert contained(lambda data: [{"key": "k", "value": len(data)}])(b"abc") == [
        {"key": "k", "value": 3}]


def _fault_on_marker(data: bytes) -> list[dict]:
    """A decoder with a bug: a payload holding b"BUG" makes it index past its list."""
    if b"BUG" in data:
        return [[][1]]
    return jsonsafe.decode_session(data)


BUGGY = Framework(
    name="buggy-files", family="Buggy", medium="files", cookie_names=("buggy_sid",),
    sid_from_cookie=lambda raw: raw.decode(), default_lifetime_s=600,
    decode=f"{__name__}:_fault_on_marker",
    files=FileLayout(depth=0, prefix="buggy_", sid_pattern=r"[0-9a-f]{20}",
                     empty_sizes=frozenset(), vote=lambda sample: {},
                     describe=lambda depth: "buggy: ROOT/buggy_<id>"),
)


def test_a_decoder_bug_costs_one_undecodable_session_not_the_scan(cli, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    for i in range(6):
        p = store / f"buggy_{i:020x}"
        p.write_bytes(b"BUG" if i == 2 else json.dumps({"user": f"u{i}"}).encode())
        os.utime(p, (1_700_000_000, 1_700_000_000))
    with frameworks.registered(BUGGY):
        res = cli("scan", store, "--deep", "--json", "--no-progress", "--profile", "buggy-files")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["sessions"] == 6
    assert report["anomalies"]["undecodable"] == 1
