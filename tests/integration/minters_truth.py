"""Who minted what, against the traffic driver's own record (harness.minters_expected):
orphans per route and per user agent, and the class of every agent the driver sent."""

from __future__ import annotations

from sessdiag.analysis.agents import classify


def assert_minters_match(report: dict, exp: dict) -> None:
    """`report`'s routes and user_agents equal `exp`'s exactly (no row missing or extra),
    and every agent the driver sent is classed as the driver knows it to be."""
    assert {x["route"]: {"issued": x["issued"], "orphans": x["orphans"]}
            for x in report["routes"]} == exp["routes"]
    assert {a["user_agent"]: {k: a[k] for k in ("class", "clients", "issued", "orphans")}
            for a in report["user_agents"]} == exp["user_agents"]
    assert {ua: classify(ua) for ua in exp["classes"]} == exp["classes"]
