"""User-supplied text files: UTF-8 or a one-line usage error naming file and line."""

from __future__ import annotations

import pytest

from sessdiag.core.errors import UsageError
from sessdiag.core.textfile import read_text


def test_utf8_text_is_returned(tmp_path):
    p = tmp_path / "a.yaml"
    p.write_text("name: café\n", encoding="utf-8")
    assert read_text(str(p)) == "name: café\n"


def test_undecodable_and_missing_files_are_usage_errors(tmp_path):
    p = tmp_path / "a.yaml"
    p.write_bytes(b"a: 1\nb: \xff\n")
    expected = r"--x .*a\.yaml:2: not UTF-8 text \(byte 0xff at offset 8\)"
    with pytest.raises(UsageError, match=expected):
        read_text(str(p), "--x ")
    with pytest.raises(UsageError, match="No such file"):
        read_text(str(tmp_path / "missing.yaml"))
