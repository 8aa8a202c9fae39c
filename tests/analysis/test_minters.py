"""`routes` and `user_agents`: counts by the request that first set an id, orphans, findings."""

from __future__ import annotations

import pytest

from sessdiag.analysis.clients import logs_only_report
from sessdiag.analysis.settings import LogSettings

TS = "02/Mar/2025:10:00:{:02d} +0000"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/121.0.0.0 Safari/537.36")


def report(path, **kw) -> dict:  # type: ignore[no-untyped-def]
    return logs_only_report(LogSettings(access_logs=(str(path),), **kw), kw.pop("profile", None))


@pytest.fixture
def mixed_log(tmp_path, nginx_line):  # type: ignore[no-untyped-def]
    lines = []
    # A probe: a new session on every call, never presented back.
    for i in range(6):
        lines.append(nginx_line("10.0.0.6", TS.format(i), "GET /health HTTP/1.1", "-",
                                f"PHPSESSID=probe{i:022d}; path=/", ua="kube-probe/1.29"))
    # A browser: one session, re-sent in a later Set-Cookie (not a new issue), presented back.
    lines.append(nginx_line("10.0.0.2", TS.format(10), "GET /items/17?x=1 HTTP/1.1", "-",
                            "PHPSESSID=browser0000000000000000; path=/", ua=CHROME))
    lines.append(nginx_line("10.0.0.2", TS.format(11), "GET /items/18 HTTP/1.1",
                            "browser0000000000000000", "PHPSESSID=browser0000000000000000; path=/",
                            ua=CHROME))
    # A crawler and curl on a page with an id: one template, two routes.
    lines.append(nginx_line("10.0.0.7", TS.format(12), "GET /items/99 HTTP/1.1", "-",
                            "PHPSESSID=crawl00000000000000000; path=/",
                            ua="Mozilla/5.0 (compatible; Googlebot/2.1; "
                            "+http://www.google.com/bot.html)"))
    lines.append(nginx_line("10.0.0.8", TS.format(13), "GET /items/100 HTTP/1.1", "-",
                            "PHPSESSID=curl000000000000000000; path=/", ua="curl/8.5.0"))
    p = tmp_path / "access.log"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_routes_and_agents_count_what_each_minted(mixed_log):
    r = report(mixed_log)
    routes = [(x["route"], x["template"], x["issued"], x["orphans"]) for x in r["routes"]]
    assert routes == [("GET /health", "GET /health", 6, 6),
                      ("GET /items/{id}", "GET /items/{id}", 3, 2)]
    agents = [(a["user_agent"][:10], a["class"], a["clients"], a["issued"], a["orphans"])
              for a in r["user_agents"]]
    assert agents == [("kube-probe", "monitor", 1, 6, 6), ("Mozilla/5.", "crawler", 1, 1, 1),
                      ("curl/8.5.0", "tool", 1, 1, 1), ("Mozilla/5.", "browser", 1, 1, 0)]
    s = r["minters_summary"]
    assert s["classes"]["monitor"]["orphans"] == 6 and s["fix"]["framework"] == "PHP"
    assert sum(x["issued"] for x in r["routes"]) == r["clients_summary"]["issued"] == 9


def test_findings_name_the_top_minters_and_the_fix(mixed_log):
    f = report(mixed_log)["findings"]
    assert any(x.startswith("routes that mint orphan sessions: GET /health 6 of 6 issued")
               for x in f)
    assert any("kube-probe/1.29 (monitor) 6" in x for x in f)
    fix = next(x for x in f if x.startswith("fix (PHP"))
    assert "session_start()" in fix and "https://" in fix


def test_upstream_cookie_values_are_read_as_the_set_cookie(tmp_path, nginx_line):
    # `$upstream_cookie_NAME`: the bare value, no name, no attributes.
    lines = [nginx_line("10.0.0.6", TS.format(i), "GET /ping HTTP/1.1", "-",
                        f"sid{i:029d}", ua="kube-probe/1.29") for i in range(4)]
    lines.append(nginx_line("10.0.0.2", TS.format(9), "GET / HTTP/1.1", "sid" + "0" * 29, "-",
                            ua=CHROME))
    p = tmp_path / "a.log"
    p.write_text("\n".join(lines) + "\n")
    r = report(p, cookie_name="PHPSESSID")
    assert r["access_log"]["set_cookie_field"] == "value"
    assert [(x["route"], x["issued"], x["orphans"]) for x in r["routes"]] == [("GET /ping", 4, 3)]


def test_a_log_that_never_shows_the_session_cookie_says_so(tmp_path, nginx_line):
    # nginx 1.22 and an app that sends XSRF-TOKEN first (Laravel does): only that one
    # reaches the log.
    lines = [nginx_line("10.0.0.6", TS.format(i), "GET / HTTP/1.1", "-",
                        f"XSRF-TOKEN=tok{i}; expires=Sun, 02-Mar-2025 12:00:00 GMT; path=/",
                        ua=CHROME) for i in range(5)]
    p = tmp_path / "a.log"
    p.write_text("\n".join(lines) + "\n")
    r = logs_only_report(LogSettings(access_logs=(str(p),)), "php-files")
    assert r["access_log"]["cookie_name"] == "PHPSESSID"  # never guessed as XSRF-TOKEN
    assert r["access_log"]["other_cookie_sets"] == 5
    assert r["findings"][0].startswith("no response in the access log sets the session "
                                       "cookie 'PHPSESSID'")
    assert any("$upstream_cookie_PHPSESSID" in w for w in r["warnings"])


@pytest.mark.parametrize("fw", ["php", "express", "flask", "django"])
def test_captures_agents_agree_with_the_clients_that_used_them(capture, fw):
    # In the committed captures the machine client and the probe each have their own agent.
    path, exp = capture(fw)
    r = report(path)
    agents = {a["user_agent"]: a for a in r["user_agents"]}
    machine = exp["clients"]["127.0.0.5"]
    a = agents["internal-sync/1.0 (python-requests)"]
    assert (a["class"], a["issued"], a["orphans"]) == ("tool", machine["issued"],
                                                        machine["orphans"])
    probe = exp["clients"]["127.0.0.6"]
    if probe["issued"]:
        k = agents["kube-probe/1.29"]
        assert (k["class"], k["issued"], k["orphans"]) == ("monitor", probe["issued"],
                                                            probe["orphans"])
    else:
        assert "kube-probe/1.29" not in agents
    assert sum(x["orphans"] for x in r["routes"]) == sum(
        c["orphans"] for c in exp["clients"].values())
