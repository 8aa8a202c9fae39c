"""Who mints sessions: the `routes` and `user_agents` sections, the findings that name the
top minting routes and agents with the fix for the framework in use, and where the minting
leads (`projection`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sessdiag import frameworks
from sessdiag.analysis import projection
from sessdiag.analysis.agents import AgentTable, agent_rows, class_totals, data_version
from sessdiag.analysis.routes import RouteTable, route_rows
from sessdiag.core.units import format_count

if TYPE_CHECKING:
    from sessdiag.analysis.accesslog import LogStats

MAX_SHOWN = 1000  # rows per section in the report; the summary counts them all
TOP = 3  # routes and agents named by a finding


def attach_minters(report: dict, route_table: RouteTable, agent_table: AgentTable,
                   stats: LogStats, profile: str | None) -> None:
    routes = route_rows(route_table)
    agents = agent_rows(agent_table)
    report["routes"] = routes[:MAX_SHOWN]
    report["user_agents"] = agents[:MAX_SHOWN]
    report["minters_summary"] = {
        # Every issued session has one route and one agent: the totals of both sections,
        # over all rows, not only the MAX_SHOWN the report lists.
        "issued": sum(r["issued"] for r in routes),
        "orphans": sum(r["orphans"] for r in routes),
        "routes": len(routes), "routes_shown": min(len(routes), MAX_SHOWN),
        "routes_pooled_requests": route_table.pooled,
        "user_agents": len(agents), "user_agents_shown": min(len(agents), MAX_SHOWN),
        "user_agents_pooled_requests": agent_table.pooled,
        "classes": class_totals(agents),
        "classifier": data_version(),
    }
    fw = _framework(profile, stats.cookie_name)
    if fw is not None:
        report["minters_summary"]["fix"] = {"framework": fw.family, "fix": fw.orphan_fix,
                                            "documentation": fw.orphan_fix_doc or None}
    _missing_session_cookie(report, stats)
    _findings(report, routes, agents, fw)
    span = (stats.last - stats.first) if stats.first is not None and stats.last is not None \
        else 0.0
    proj = projection.projection(report, sum(r["orphans"] for r in routes), span)
    report["projection"] = proj
    if proj is not None:
        report.setdefault("findings", []).append(projection.finding(proj))


def _framework(profile: str | None, cookie: str | None) -> frameworks.Framework | None:
    fw = frameworks.REGISTRY.get(profile or "")
    if fw is None or fw.name == "generic":
        fw = frameworks.for_cookie(cookie) or fw
    return fw if fw is not None and fw.orphan_fix else None


def _missing_session_cookie(report: dict, stats: LogStats) -> None:
    """Responses set cookies, never the session cookie: the log line loses every issue."""
    if stats.session_sets or not stats.other_sets:
        return
    name = stats.cookie_name or "NAME"
    report.setdefault("warnings", []).append(
        f"{stats.other_sets:,} responses set cookies but none set the session cookie "
        f"{name!r}: nginx before 1.23 logs only the first Set-Cookie header in "
        f"$sent_http_set_cookie; log \"$upstream_cookie_{name}\" instead (docs/clients.md)")
    report.setdefault("findings", []).insert(0, (
        f"no response in the access log sets the session cookie {name!r}, though "
        f"{stats.other_sets:,} set other cookies: the log format loses every issued session "
        f"(nginx < 1.23 logs only the first Set-Cookie); log \"$upstream_cookie_{name}\" as "
        "the last field"))


def _findings(report: dict, routes: list[dict], agents: list[dict],
              fw: frameworks.Framework | None) -> None:
    findings = report.setdefault("findings", [])
    top_routes = [r for r in routes[:TOP] if r["orphans"]]
    top_agents = [a for a in agents[:TOP] if a["orphans"]]
    if not top_routes:
        return
    findings.append("routes that mint orphan sessions: " + "; ".join(
        f"{r['route']} {format_count(r['orphans'])} of {format_count(r['issued'])} issued"
        for r in top_routes))
    if top_agents:
        findings.append("user agents that mint orphan sessions: " + "; ".join(
            f"{a['user_agent'][:60]} ({a['class']}) {format_count(a['orphans'])}"
            for a in top_agents))
    if fw is not None:
        line = f"fix ({fw.family}): {fw.orphan_fix}"
        if fw.orphan_fix_doc:
            line += f" — {fw.orphan_fix_doc}"
        findings.append(line)
