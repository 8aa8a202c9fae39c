"""Who mints sessions: browsers next to the machines that hit every site, for `routes` and
`user_agents` (tools/logapps/capture.py --minters, fixtures/logs/minters/).

Every app serves `/` (puts a token in the session), `/login?user=`, `/info`, `/logout` and
`/health` (no session by the app's own code; express-session mints one anyway).

| address | who | user agent | does |
| --- | --- | --- | --- |
| 127.0.0.2 | browser (cookie jar) | Chrome | `/` twice, `/info` twice: 1 session, presented back |
| 127.0.0.3 | browser (cookie jar) | Firefox | the same |
| 127.0.0.6 | health probe, no cookies | kube-probe | `/health` × 8 |
| 127.0.0.13 | uptime monitor, no cookies | UptimeRobot | `/` × 6 |
| 127.0.0.14 | crawler, no cookies | Googlebot | `/?page=1`, `/?page=2`, `/info`, `/health` |
| 127.0.0.15 | curl, no cookies | curl | `/info` × 3, `/login?user=curl` |

Each agent's class is what the driver knows it to be (CLASSES); the counts per route and
per agent come from what the clients sent and received (harness.minters_expected).
"""

from __future__ import annotations

from harness import Client, Truth

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
PROBE = "kube-probe/1.29"
MONITOR = "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"
CRAWLER = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CURL = "curl/8.5.0"
CLASSES = {CHROME: "browser", FIREFOX: "browser", PROBE: "monitor", MONITOR: "monitor",
           CRAWLER: "crawler", CURL: "tool"}
PROBE_CALLS = 8
MONITOR_CALLS = 6


def run(host: str, port: int, cookie_name: str, paths: dict[str, str] | None = None) -> Truth:
    p = {"page": "/", "login": "/login", "info": "/info", "health": "/health"}
    p.update(paths or {})
    truth = Truth(cookie_name)

    def client(ip: str, ua: str, jar: bool = False) -> Client:
        return Client(truth, host, port, ip, jar=jar, ua=ua)

    for ip, ua in (("127.0.0.2", CHROME), ("127.0.0.3", FIREFOX)):
        b = client(ip, ua, jar=True)
        for path in (p["page"], p["page"], p["info"], p["info"]):
            b.request(path)
    probe = client("127.0.0.6", PROBE)
    for _ in range(PROBE_CALLS):
        probe.request(p["health"])
    monitor = client("127.0.0.13", MONITOR)
    for _ in range(MONITOR_CALLS):
        monitor.request(p["page"])
    crawler = client("127.0.0.14", CRAWLER)
    for path in (f"{p['page']}?page=1", f"{p['page']}?page=2", p["info"], p["health"]):
        crawler.request(path)
    curl = client("127.0.0.15", CURL)
    for path in (p["info"], p["info"], p["info"], f"{p['login']}?user=curl"):
        curl.request(path)
    return truth
