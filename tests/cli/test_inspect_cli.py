"""`sessdiag inspect` on real beego v1.12.3 files and PHP sessions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BEEGO_REAL = REPO / "fixtures" / "beego-real"


@pytest.fixture(scope="module")
def manifest() -> dict:
    path = BEEGO_REAL / "manifest.json"
    if not path.is_file():
        pytest.fail(f"real beego fixtures missing: {path}", pytrace=False)
    return json.loads(path.read_text())


def _by_name(manifest: dict, name: str) -> dict:
    return next(s for s in manifest["sessions"] if s["name"] == name and s["provider"] == "file")


def test_inspect_file_matches_contract_example(cli, manifest):
    rec = _by_name(manifest, "string")
    res = cli("inspect", BEEGO_REAL / rec["path"], "--json")
    assert res.code == 0, res.err
    r = res.json()
    assert r["schema"] == "sessdiag.inspect/1"
    assert (r["sid"], r["profile"], r["size"]) == (rec["sid"], "beego-file", 64)
    assert r["entries"] == [{"key": {"type": "string", "value": "username"},
                             "value": {"type": "string", "value": "built-in/admin"}}]


def test_inspect_dir_and_sid(cli, manifest):
    rec = _by_name(manifest, "custom_struct")
    r = cli("inspect", BEEGO_REAL / "tree", rec["sid"], "--json").json()
    assert r["size"] == rec["size"]
    (entry,) = r["entries"]
    assert entry["value"]["type"] == "main.User"
    assert entry["value"]["value"]["Name"] == {"type": "string", "value": "Alice"}
    assert entry["value"]["value"]["ID"] == {"type": "int64", "value": 1001}


@pytest.mark.parametrize("name", ["empty", "created_not_released"])
def test_inspect_empty_sessions(cli, manifest, name):
    rec = _by_name(manifest, name)
    r = cli("inspect", BEEGO_REAL / rec["path"], "--json").json()
    assert r["entries"] == [] and r["empty"] is True
    assert r["size"] == rec["size"]


def test_inspect_human_view(cli, manifest):
    rec = _by_name(manifest, "casdoor_login")
    res = cli("inspect", BEEGO_REAL / rec["path"])
    assert res.code == 0, res.err
    assert "username" in res.out and "SessionData" in res.out


def test_inspect_php_session(cli, tmp_path):
    f = tmp_path / "sess_5rgcc89nvmtgj3skmfm18d4mra"
    f.write_bytes(b'uid|i:42;name|s:3:"bob";')
    r = cli("inspect", f, "--json").json()
    assert r["profile"] == "php-files" and r["sid"] == "5rgcc89nvmtgj3skmfm18d4mra"
    assert r["entries"][0] == {"key": {"type": "string", "value": "uid"},
                               "value": {"type": "int", "value": 42}}


def test_inspect_refuses_symlink_and_truncated(cli, manifest, tmp_path):
    rec = _by_name(manifest, "string")
    link = tmp_path / rec["sid"]
    link.symlink_to(BEEGO_REAL / rec["path"])
    res = cli("inspect", link, "--json")
    assert res.code == 2 and "symlink" in res.err and res.out == ""
    bad = tmp_path / "d133f3a8b752a7ae6a06de256899ef16"
    shutil.copyfile(BEEGO_REAL / rec["path"], bad)
    bad.write_bytes(bad.read_bytes()[:40])
    res = cli("inspect", bad, "--json")
    assert res.code == 2 and "not a valid beego-file session payload" in res.err
    assert len(res.err.strip().splitlines()) == 1


def test_inspect_redacts_credentials_unless_asked(cli):
    tree = REPO / "fixtures/beego-real/tree"
    sid = "2853d5c5fbe53ea4c9729910ca7755b0"  # a casdoor login: its accessToken is a JWT
    for args in ((), ("--json",)):
        res = cli("inspect", tree, sid, *args)
        assert res.code == 0, res.err
        assert "eyJhbGciOi" not in res.out
        assert "redacted" in res.out
    shown = cli("inspect", tree, sid, "--json", "--show-secrets").json()
    token = next(e["value"] for e in shown["entries"] if e["key"]["value"] == "accessToken")
    assert token["value"].startswith("eyJhbGciOi") and "redacted" not in shown
