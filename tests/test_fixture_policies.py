"""The committed fixture specs under the committed policy: one passes, one fails."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / "fixtures" / "policies" / "beego-production.yaml"


def test_healthy_app_passes(cli, tmp_path):
    assert cli("fixtures", "make", tmp_path / "h", "--spec",
               REPO / "fixtures" / "healthy-app.yaml", "--quiet").code == 0
    res = cli("check", tmp_path / "h", "--policy", POLICY, "--max-lifetime", "1h", "--json")
    assert res.code == 0, res.out
    assert res.json()["ok"] is True


def test_casdoor_incident_fails_on_empty_sessions(cli, tmp_path):
    assert cli("fixtures", "make", tmp_path / "c", "--spec",
               REPO / "fixtures" / "casdoor-incident.yaml", "--quiet").code == 0
    res = cli("check", tmp_path / "c", "--policy", POLICY, "--max-lifetime", "30d", "--json")
    assert res.code == 1
    failed = {r["rule"] for r in res.json()["targets"][0]["results"] if r["status"] == "fail"}
    assert failed == {"max_empty_fraction", "max_expired_fraction"}
