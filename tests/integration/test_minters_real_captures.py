"""Who mints sessions, on real apps behind real nginx: orphans per route and per user agent
equal what the traffic driver's own clients recorded, and every agent's class is the one
the driver gave it (fixtures/logs/minters/, fixtures/laravel/minters/: a health probe, an
uptime monitor, a crawler and curl next to two browsers; tools/logapps/capture.py
--minters, tools/capture/laravel/capture.py minters)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from minters_truth import assert_minters_match

REPO = Path(__file__).resolve().parents[2]
LOGS = REPO / "fixtures" / "logs" / "minters"
LARAVEL = REPO / "fixtures" / "laravel" / "minters"
FRAMEWORKS = ("php", "php-lax", "flask", "django", "express")


def _capture(fw: str) -> tuple[Path, dict, list[str]]:
    if fw == "laravel":
        return (LARAVEL / "access.log", json.loads((LARAVEL / "expected.json").read_text()),
                ["--app-env", str(LARAVEL / "app.env")])
    d = LOGS / fw
    return d / "access.log", json.loads((d / "expected.json").read_text()), []


@pytest.mark.parametrize("fw", [*FRAMEWORKS, "laravel"])
def test_orphans_per_route_and_agent_equal_the_drivers_truth(cli, fw):
    log, exp, extra = _capture(fw)
    res = cli("clients", "--access-log", log, "--cookie-name", exp["cookie_name"], *extra,
              "--json")
    assert res.code == 0, res.err
    r = res.json()
    # Every row equal, and every agent the driver sent classed as it knows it to be,
    # minting or not.
    assert_minters_match(r, exp)
    # The contract's order: most orphans first, then most issued.
    keys = [(-x["orphans"], -x["issued"]) for x in r["routes"]]
    assert keys == sorted(keys)
    field = exp["log_set_cookie_field"]
    assert r["access_log"]["set_cookie_field"] == (
        "value" if field.startswith("$upstream_cookie_") else "header")


def test_laravel_needs_only_its_env_for_a_log_of_bare_values(cli):
    # The documented line logs "$upstream_cookie_laravel_session": no cookie name in the
    # log, and the .env (APP_NAME) gives it.
    log, exp, extra = _capture("laravel")
    r = cli("clients", "--access-log", log, *extra, "--json").json()
    assert r["access_log"]["cookie_name"] == exp["cookie_name"]
    assert_minters_match(r, exp)


def test_the_captures_hold_every_kind_of_minter():
    # What makes these captures worth having: each framework's log has all four machines.
    for fw in [*FRAMEWORKS, "laravel"]:
        _log, exp, _ = _capture(fw)
        assert sorted(set(exp["classes"].values())) == ["browser", "crawler", "monitor", "tool"]
        minting = {v["class"] for v in exp["user_agents"].values() if v["orphans"]}
        assert {"monitor", "crawler", "tool"} <= minting, fw
    _log, exp, _ = _capture("express")
    assert exp["routes"]["GET /health"]["orphans"] > 0  # express-session mints on /health
    _log, exp, _ = _capture("laravel")
    assert exp["routes"]["GET /ping"]["orphans"] == 8  # a probe on a `web` route
    # Laravel re-sent its cookie on every web response: far more sets than issued ids.
    assert exp["responses_setting_session_cookie"] > sum(
        v["issued"] for v in exp["routes"].values())


def test_findings_name_the_top_minters_with_the_frameworks_fix(cli):
    log, _exp, _extra = _capture("express")
    r = cli("clients", "--access-log", log, "--json").json()
    f = r["findings"]
    assert any(x.startswith("routes that mint orphan sessions: GET /health 9 of 9 issued")
               for x in f)
    fix = next(x for x in f if x.startswith("fix (express-session"))
    assert "saveUninitialized: false" in fix and "expressjs/session" in fix
