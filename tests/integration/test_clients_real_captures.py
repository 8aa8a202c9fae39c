"""Committed captures of real apps behind nginx (tools/logapps/capture.py), through the CLI.

PHP-FPM (strict and lax file sessions), Flask-Session and Django cache sessions on Redis,
express-session with connect-redis: per-client orphans, login races, and orphans per route
and per user agent (and each agent's class) must equal what the driver recorded while it
made the traffic.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from minters_truth import assert_minters_match

LOGS = Path(__file__).resolve().parents[2] / "fixtures" / "logs"
FRAMEWORKS = ("php", "php-lax", "flask", "django", "express")


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_capture_matches_the_driver(cli, fw):
    exp = json.loads((LOGS / fw / "expected.json").read_text())
    assert exp["versions"]["nginx"].startswith("nginx version")
    res = cli("clients", "--access-log", LOGS / fw / "access.log", "--json")
    assert res.code == 0, res.err
    r = res.json()
    assert r["access_log"]["cookie_name"] == exp["cookie_name"]
    assert r["access_log"]["skipped"] == 0
    got = {c["client"]: c for c in r["clients"]}
    assert set(got) == set(exp["clients"])
    for ip, e in exp["clients"].items():
        g = got[ip]
        assert (g["requests"], g["requests_without_cookie"], g["issued"], g["orphans"]) == \
            (e["requests"], e["requests_without_cookie"], e["issued"], e["orphans"]), ip
    assert [(x["client"], x["presented"], sorted(x["issued"]), x["kept"], x["lost_login"])
            for x in r["races"]] == \
        [(e["client"], e["presented"], e["issued"], e["kept"], e["lost_login"])
         for e in exp["races"]]
    # Who minted them: per route and per user agent (with its class), as the driver recorded
    # which request first set each id and whether anyone presented it back.
    assert_minters_match(r, exp)


def test_what_the_frameworks_taught():
    """Facts of the captures worth keeping an eye on when they are regenerated."""
    exp = {fw: json.loads((LOGS / fw / "expected.json").read_text()) for fw in FRAMEWORKS}
    # express-session runs on every route (app.use), so even the health checker makes
    # sessions; the others have none there.
    assert exp["express"]["clients"]["127.0.0.6"]["orphans"] == 10
    assert all(exp[fw]["clients"]["127.0.0.6"]["issued"] == 0 for fw in FRAMEWORKS
               if fw != "express")
    # races need a second new id from the read-only call: PHP strict mode and
    # saveUninitialized express do that; lax PHP, Flask-Session and Django do not.
    assert {fw for fw in FRAMEWORKS if exp[fw]["races"]} == {"php", "express"}
    # The race's losing request (/info) and the login both issue ids: routes other than the
    # page mint only where the framework makes a second id; express mints on /health too.
    assert set(exp["express"]["routes"]) == {"GET /", "GET /health", "GET /login", "GET /info"}
    assert exp["express"]["routes"]["GET /health"] == {"issued": 10, "orphans": 10}
    assert all("GET /health" not in exp[fw]["routes"] for fw in FRAMEWORKS if fw != "express")


def test_every_agent_is_classed_as_the_driver_knows_it():
    """Browsers with real browsers' strings, an HTTP library, a probe, and an in-house
    client whose string names nothing (unknown): the data set's classes, not guesses."""
    from sessdiag.analysis.agents import classify

    for fw in FRAMEWORKS:
        classes = json.loads((LOGS / fw / "expected.json").read_text())["classes"]
        assert {ua: classify(ua) for ua in classes} == classes
        assert set(classes.values()) == {"browser", "tool", "monitor", "unknown"}
