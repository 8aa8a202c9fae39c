"""User-agent classes from the crawler-user-agents data set, plus infrastructure probes."""

from __future__ import annotations

import pytest

from sessdiag.analysis.agents import (
    A_ISSUED,
    CLASSES,
    OTHER_AGENTS,
    AgentTable,
    agent_rows,
    class_totals,
    classify,
    data_version,
)

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/121.0.0.0 Safari/537.36")


@pytest.mark.parametrize(("ua", "cls"), [
    (CHROME, "browser"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0", "browser"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) Version/17.3 Mobile/15E148 Safari/604.1", "browser"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "crawler"),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "crawler"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
     "+https://openai.com/gptbot)", "crawler"),
    ("Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "monitor"),
    ("Uptime-Kuma/1.23.11", "monitor"),
    ("kube-probe/1.29", "monitor"),
    ("ELB-HealthChecker/2.0", "monitor"),
    ("GoogleHC/1.0", "monitor"),
    ("curl/7.88.1", "tool"),
    ("python-requests/2.31.0", "tool"),
    ("internal-sync/1.0 (python-requests)", "tool"),
    ("Go-http-client/1.1", "tool"),
    ("Wget/1.21.3", "tool"),
    ("legacy-client/0.9", "unknown"),
    ("Mozilla/5.0 (one visit)", "unknown"),
    ("-", "unknown"),
    ("", "unknown"),
])
def test_classes(ua, cls):
    assert classify(ua) == cls


def test_the_data_set_is_named_with_its_version():
    assert data_version().startswith("crawler-user-agents 1.")


def test_agents_past_the_cap_pool_in_one_row():
    table = AgentTable(max_agents=3)
    for i in range(10):
        rec = table.of(b"agent/%d" % i)
        rec[A_ISSUED] += 1
        table.add_client(rec, i)
    rows = agent_rows(table)
    assert len(rows) == 4 and table.pooled == 7
    other = next(r for r in rows if r["user_agent"] == OTHER_AGENTS.decode())
    assert (other["issued"], other["clients"], other["class"]) == (7, 7, "unknown")
    assert rows[0] == other  # most issued first when nothing is presented back


def test_class_totals_cover_every_class():
    rows = [{"class": "monitor", "issued": 3, "orphans": 3},
            {"class": "browser", "issued": 5, "orphans": 1}]
    tot = class_totals(rows)
    assert set(tot) == set(CLASSES)
    assert tot["monitor"] == {"agents": 1, "issued": 3, "orphans": 3}
    assert tot["crawler"]["agents"] == 0
