"""Prometheus textfile output: labels stay UTF-8 and one line each."""

from __future__ import annotations

import os

from sessdiag.fixtures import FixtureSpec, make_tree
from sessdiag.render.prometheus import Metrics


def test_labels_escape_undecodable_and_control_characters():
    m = Metrics()
    m.add("sessdiag_sessions", "Sessions.", 3, store=os.fsdecode(b"/srv/\xff") + "\x1b\n")
    text = m.render()
    text.encode("utf-8")
    assert 'sessdiag_sessions{store="/srv/\\xff\\x1b\\n"} 3' in text.splitlines()


def test_scan_prom_for_a_store_with_an_undecodable_name(cli, tmp_path):
    store = tmp_path / os.fsdecode(b"st\xffore")
    make_tree(str(store), FixtureSpec.from_mapping(dict(sessions=10, seed=1)))
    prom = tmp_path / "m.prom"
    res = cli("scan", store, "--prom", prom, "--quiet", "--max-lifetime", "1d")
    assert res.code == 0, res.err
    text = prom.read_bytes().decode("utf-8")
    assert "st\\xffore" in text


def test_minters_are_top_n_plus_other():
    from sessdiag.render.prometheus import minters_metrics

    routes = [{"route": f"GET /r{i}", "template": f"GET /r{i}", "issued": 100 - i,
               "orphans": 50 - i} for i in range(25)]
    agents = [{"user_agent": f"agent/{i}", "class": "tool", "issued": 10, "orphans": 10 - i % 3}
              for i in range(12)]
    report = {"routes": routes, "user_agents": agents,
              "minters_summary": {"routes": 25, "routes_shown": 25, "user_agents": 12,
                                  "user_agents_shown": 12,
                                  "classes": {"tool": {"orphans": 99}}}}
    m = Metrics()
    minters_metrics(m, report, "s", top=10)
    lines = m.render().splitlines()
    orph = [ln for ln in lines if ln.startswith("sessdiag_routes_orphans{")]
    assert len(orph) == 11
    assert 'sessdiag_routes_orphans{store="s",route="GET /r0"} 50' in orph
    assert orph[-1] == 'sessdiag_routes_orphans{store="s",route="(other)"} ' + str(
        sum(50 - i for i in range(10, 25)))
    ua = [ln for ln in lines if ln.startswith("sessdiag_user_agent_orphans{")]
    assert len(ua) == 11 and 'class="mixed"' in ua[-1]
    assert 'sessdiag_user_agent_class_orphans{store="s",class="tool"} 99' in lines


def test_other_counts_the_rows_past_the_reports_list_too():
    from sessdiag.render.prometheus import minters_metrics

    # 5 rows listed of 8 (the report lists at most MAX_SHOWN); the summary has the totals
    routes = [{"route": f"GET /r{i}", "template": f"GET /r{i}", "issued": 10, "orphans": 9 - i}
              for i in range(5)]
    report = {"routes": routes, "user_agents": [],
              "minters_summary": {"routes": 8, "routes_shown": 5, "issued": 80, "orphans": 40}}
    m = Metrics()
    minters_metrics(m, report, "s", top=2)
    lines = m.render().splitlines()
    assert 'sessdiag_routes_orphans{store="s",route="(other)"} 23' in lines  # 40 - 9 - 8
    assert 'sessdiag_routes_issued{store="s",route="(other)"} 60' in lines


def test_few_minters_have_no_other_series():
    from sessdiag.render.prometheus import minters_metrics

    report = {"routes": [{"route": "GET /", "template": "GET /", "issued": 2, "orphans": 1}],
              "user_agents": [], "minters_summary": {"routes": 1, "routes_shown": 1}}
    m = Metrics()
    minters_metrics(m, report, "s")
    assert 'route="(other)"' not in m.render()
