"""One spelling of undecodable bytes and control characters across every output."""

from __future__ import annotations

import os

from sessdiag.core.textsafe import (
    escape_undecodable,
    escape_unprintable,
    json_safe,
    terminal_safe,
)


def test_undecodable_bytes_read_as_backslash_x():
    name = os.fsdecode(b"0/0/\xff\xfebad")
    assert escape_undecodable(name) == "0/0/\\xff\\xfebad"
    assert escape_unprintable(name) == "0/0/\\xff\\xfebad"
    assert escape_undecodable(name).encode("utf-8")  # encodable now


def test_control_characters_are_neutralised_for_terminals_only():
    name = "esc\x1b[31mred\rcr"
    assert escape_unprintable(name) == "esc\\x1b[31mred\\x0dcr"
    assert escape_undecodable(name) == name  # JSON's own \u001b escape is inert
    assert escape_unprintable("tab\tnew\nline é ✓") == "tab\tnew\nline é ✓"
    assert escape_unprintable("\x9b2J") == "\\x9b2J"  # C1 CSI


def test_other_lone_surrogates_keep_their_code_point():
    assert escape_undecodable("a\ud800b") == "a\\ud800b"


def test_reports_are_walked_keys_included():
    bad = os.fsdecode(b"\xff")
    report = {"a": [bad, {bad: ("x\x1b", 3)}], "n": None, "f": 1.5}
    assert json_safe(report) == {"a": ["\\xff", {"\\xff": ["x\x1b", 3]}], "n": None, "f": 1.5}
    assert terminal_safe(report)["a"][1] == {"\\xff": ["x\\x1b", 3]}
