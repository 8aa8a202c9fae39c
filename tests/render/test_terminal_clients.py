"""The clients table a person reads."""

from __future__ import annotations

NOW = 1_790_000_000


def test_a_burst_is_not_shown_as_an_hourly_rate(cli, combined_log):
    # One client is issued 40 sessions within one second and never sends one back.
    rows = [(NOW + i / 40, "203.0.113.9", "/", None, f"{i:032x}") for i in range(40)]
    # Another is steady over three hours: that one is a rate.
    rows += [(NOW + i * 600, "198.51.100.7", "/", None, f"{1000 + i:032x}") for i in range(19)]
    log = combined_log("beegosessionID", rows)
    r = cli("clients", "--access-log", log, "--json").json()
    burst = next(c for c in r["clients"] if c["client"] == "203.0.113.9")
    assert burst["orphans"] == 40 and burst["span_hours"] < 1
    out = cli("clients", "--access-log", log).out
    line = next(ln for ln in out.splitlines() if "203.0.113.9" in ln)
    assert "40 in <1m" in line and "40.0" not in line
    steady = next(ln for ln in out.splitlines() if "198.51.100.7" in ln)
    assert "6.3" in steady  # 19 orphans over 3 h


def test_routes_and_agents_tables(cli, tmp_path):
    ts = "02/Mar/2025:10:00:{:02d} +0000"
    lines = [f'10.0.0.6 - - [{ts.format(i)}] "GET /health HTTP/1.1" 200 2 "-" "kube-probe/1.29" '
             f'"-" "PHPSESSID=p{i:025d}; path=/"' for i in range(7)]
    log = tmp_path / "a.log"
    log.write_text("\n".join(lines) + "\n")
    out = cli("clients", "--access-log", log).out
    route = next(ln for ln in out.splitlines() if "GET /health" in ln and "routes" not in ln)
    assert route.split()[2:5] == ["7", "7", "100%"]
    agent = next(ln for ln in out.splitlines() if ln.strip().startswith("kube-probe/1.29"))
    assert agent.split()[1:] == ["monitor", "1", "7", "7"]
