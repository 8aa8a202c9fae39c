"""User agents that mint sessions, and what kind of client each is.

Classes: `monitor` (uptime monitors, health checks, load-balancer and orchestrator probes),
`crawler` (search engines, SEO, AI, feed readers, scanners…), `tool` (HTTP libraries and
command-line clients: curl, python-requests, Go-http-client, headless automation),
`browser`, `unknown`.

The bot classes come from the `crawler-user-agents` data set (github.com/monperrus/
crawler-user-agents, MIT, the PyPI package of the same name): ~1,500 patterns, each tagged
with its purpose. Tag `monitoring` -> monitor; `http-library` and `browser-automation` ->
tool; every other tag (search-engine, seo, ai-crawler, scanner, feed-reader, …) -> crawler.
The data set leaves out the probes that infrastructure sends rather than a service, which
are the most common minters of all (kube-probe, cloud load balancers); PROBES adds those,
each with where its UA string is documented. What no pattern names is a `browser` when it
has a browser's shape (`Mozilla/5.0 (…)` and a rendering engine's token), else `unknown`.

Classification is cached per distinct UA string (a log repeats a few thousand strings
millions of times), and the table of agents is bounded: past MAX_AGENTS distinct strings,
new ones are pooled in one "(other agents)" row.
"""

from __future__ import annotations

import re
from functools import lru_cache

CLASSES = ("browser", "crawler", "monitor", "tool", "unknown")
MAX_AGENTS = 5000
MAX_CLIENTS_PER_AGENT = 100_000  # distinct clients counted per agent (then "at least")
OTHER_AGENTS = b"(other agents)"

# Infrastructure probes that crawler-user-agents does not list (checked 1.67.0), with where
# each UA string is documented:
# kube-probe: kubernetes.io/docs/tasks/configure-pod-container/
#   configure-liveness-readiness-startup-probes/ ("User-Agent: kube-probe/<version>");
# ELB-HealthChecker: docs.aws.amazon.com/elasticloadbalancing/latest/application/
#   target-group-health-checks.html; GoogleHC: cloud.google.com/load-balancing/docs/
#   health-check-concepts; Consul's HTTP checks; Route 53 health checks.
PROBES = (r"kube-probe/", r"ELB-HealthChecker/", r"GoogleHC/", r"Consul Health Check",
          r"Amazon-Route53-Health-Check-Service")
_TAG_CLASS = {"monitoring": "monitor", "http-library": "tool", "browser-automation": "tool"}
_BROWSER = re.compile(r"^(?:Mozilla/5\.0 \([^)]*\).*(?:Gecko/|AppleWebKit/|Trident/|Presto/)"
                      r"|Opera/\d)")
_CHUNK = 40  # patterns per compiled alternation: one huge alternation matches slower


class _Patterns:
    """The data set's patterns compiled per class, in the order classes win."""

    def __init__(self) -> None:
        from crawleruseragents import CRAWLER_USER_AGENTS_DATA

        by_class: dict[str, list[str]] = {"monitor": list(PROBES), "crawler": [], "tool": []}
        for entry in CRAWLER_USER_AGENTS_DATA:
            tags = entry.get("tags") or []
            cls = next((_TAG_CLASS[t] for t in tags if t in _TAG_CLASS), "crawler")
            by_class[cls].append(entry["pattern"])
        # A monitor built on an HTTP library ("Datadog Agent … python-requests") is a monitor,
        # and a crawler that says "python-requests" too is a crawler: tools come last.
        self.order: list[tuple[str, list[re.Pattern[str]]]] = []
        for cls in ("monitor", "crawler", "tool"):
            pats = by_class[cls]
            self.order.append((cls, [re.compile("|".join(pats[i:i + _CHUNK]))
                                     for i in range(0, len(pats), _CHUNK)]))


_patterns: list[_Patterns] = []


def data_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"crawler-user-agents {version('crawler-user-agents')}"
    except PackageNotFoundError:  # pragma: no cover - a dependency of the package
        return "crawler-user-agents (version unknown)"


@lru_cache(maxsize=1 << 14)
def classify(ua: str) -> str:
    """The class of one user-agent string."""
    if not ua or ua == "-":
        return "unknown"
    if not _patterns:
        _patterns.append(_Patterns())
    for cls, regexes in _patterns[0].order:
        for rx in regexes:
            if rx.search(ua):
                return cls
    return "browser" if _BROWSER.match(ua) else "unknown"


# An agent's counters (a list, as the per-line loop wants).
A_ISSUED, A_BACK, A_UA, A_CLIENTS, A_NCLIENTS, A_IDX = range(6)


class AgentTable:
    """UA string -> counters, at most MAX_AGENTS of them."""

    def __init__(self, max_agents: int = MAX_AGENTS) -> None:
        self.max_agents = max_agents
        self.by_ua: dict[bytes, list] = {}
        self.rows: list[list] = []
        self.pooled = 0

    def of(self, ua: bytes) -> list:
        rec = self.by_ua.get(ua)
        if rec is None:
            if len(self.rows) >= self.max_agents:
                self.pooled += 1
                return self.other()
            rec = [0, 0, ua, set(), 0, len(self.rows)]
            self.rows.append(rec)
            self.by_ua[ua] = rec
        return rec

    def other(self) -> list:
        rec = self.by_ua.get(OTHER_AGENTS)
        if rec is None:
            rec = [0, 0, OTHER_AGENTS, set(), 0, len(self.rows)]
            self.rows.append(rec)
            self.by_ua[OTHER_AGENTS] = rec
        return rec

    @staticmethod
    def add_client(rec: list, client_idx: int) -> None:
        clients = rec[A_CLIENTS]
        if clients is None:
            return
        if client_idx not in clients:
            clients.add(client_idx)
            rec[A_NCLIENTS] += 1
            if len(clients) >= MAX_CLIENTS_PER_AGENT:
                rec[A_CLIENTS] = None


def agent_rows(table: AgentTable) -> list[dict]:
    """The report's `user_agents`: agents that were issued a session, most orphans first."""
    out = []
    for rec in table.rows:
        if not rec[A_ISSUED]:
            continue
        ua = rec[A_UA].decode("utf-8", "replace")
        orphans = rec[A_ISSUED] - rec[A_BACK]
        out.append({
            "user_agent": ua,
            "class": "unknown" if rec[A_UA] == OTHER_AGENTS else classify(ua),
            "clients": rec[A_NCLIENTS],
            "clients_capped": rec[A_CLIENTS] is None,
            "issued": rec[A_ISSUED],
            "orphans": orphans,
            "orphan_fraction": round(orphans / rec[A_ISSUED], 4),
        })
    out.sort(key=lambda r: (-r["orphans"], -r["issued"], r["user_agent"]))
    return out


def class_totals(rows: list[dict]) -> dict[str, dict[str, int]]:
    """Issued and orphans per class (every class present, zeros included)."""
    tot = {c: {"agents": 0, "issued": 0, "orphans": 0} for c in CLASSES}
    for r in rows:
        t = tot[r["class"]]
        t["agents"] += 1
        t["issued"] += r["issued"]
        t["orphans"] += r["orphans"]
    return tot
