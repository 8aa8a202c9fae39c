"""A saved scan report is a target: recognised by its content, never re-measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sessdiag.core.errors import UsageError
from sessdiag.stores import ScanSettings, open_store, target_kind
from sessdiag.stores.base import SessionStore

REPORT = {"schema": "sessdiag.scan/1", "target": {"kind": "files", "location": "/srv/t"},
          "max_lifetime_s": 3600, "sessions": 3, "age_histogram": [], "groups": []}


def test_a_report_is_recognised_by_its_schema_not_its_name(tmp_path: Path) -> None:
    saved = tmp_path / "scan.out"
    saved.write_text(json.dumps(REPORT, indent=2))
    other = tmp_path / "other.json"
    other.write_text('{"schema": "sessdiag.prune/1"}')
    assert target_kind(str(saved)) == "report"
    assert target_kind(str(other)) == "files"  # not a report: a (bad) file-store target
    link = tmp_path / "link.json"
    link.symlink_to(saved)
    assert target_kind(str(link)) == "files"  # never followed
    store = open_store(str(saved))
    assert isinstance(store, SessionStore) and store.kind == "report"
    assert store.scan(ScanSettings())["sessions"] == 3
    assert store.scan(ScanSettings(max_lifetime=3600, max_lifetime_given=True))["sessions"] == 3
    with pytest.raises(UsageError, match="cannot be measured again"):
        store.scan(ScanSettings(max_lifetime=60, max_lifetime_given=True))
    with pytest.raises(UsageError, match="saved report"):
        store.inspect("abc")
    assert store.lookup(None, "sid") is None and store.attribute("user") is None
