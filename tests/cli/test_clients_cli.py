"""`sessdiag clients` and `scan --access-log` as users run them: contract fields, views, errors."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sessdiag.fixtures import BEEGO_EMPTY, FixtureSpec, make_tree

REPO = Path(__file__).resolve().parents[2]
LOGS = REPO / "fixtures" / "logs"
NOW = 1_790_000_000


def expected(fw: str) -> dict:
    return json.loads((LOGS / fw / "expected.json").read_text())


def one_line_error(res, code: int = 2) -> str:  # type: ignore[no-untyped-def]
    assert res.code == code, (res.code, res.err)
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sessdiag: error: "), res.err
    assert res.out == ""
    return lines[0]


@pytest.fixture
def php_store(tmp_path):
    """The PHP capture's session directory rebuilt from store.json (names and sizes)."""
    root = tmp_path / "sessions"
    root.mkdir()
    files = json.loads((LOGS / "php" / "store.json").read_text())["files"]
    for name, size in files.items():
        (root / name).write_bytes(b"user|s:5:\"racer\";"[:size].ljust(size, b" "))
    return root, files


def test_logs_only_json(cli):
    res = cli("clients", "--access-log", LOGS / "php" / "access.log", "--json")
    assert res.code == 0, res.err
    r = res.json()
    assert r["schema"] == "sessdiag.clients/1" and r["target"] is None
    exp = expected("php")
    got = {c["client"]: c for c in r["clients"]}
    assert {ip: got[ip]["orphans"] for ip in exp["clients"]} == \
        {ip: c["orphans"] for ip, c in exp["clients"].items()}
    for c in r["clients"]:
        assert {"client", "sessions", "orphans"} <= set(c)
    assert [c["orphans"] for c in r["clients"]] == sorted(
        (c["orphans"] for c in r["clients"]), reverse=True)
    assert len(r["races"]) == 2
    for ev in r["races"]:
        assert {"client", "at", "presented", "issued", "kept", "lost_login"} <= set(ev)
    assert r["access_log"]["cookie_name"] == "PHPSESSID"
    assert any("127.0.0.5" in f and "never sends the session cookie" in f for f in r["findings"])
    assert any("login race" in f and "logged out" in f for f in r["findings"])


def test_scan_with_access_log_joins_the_store(cli, php_store):
    root, files = php_store
    res = cli("scan", root, "--access-log", LOGS / "php" / "access.log", "--json")
    assert res.code == 0, res.err
    r = res.json()
    assert r["target"]["profile"] == "php-files" and r["sessions"] == len(files)
    exp = expected("php")
    got = {c["client"]: c for c in r["clients"]}
    for ip, e in exp["clients"].items():
        assert got[ip]["orphans"] == e["orphans"], ip
        if e["orphans"]:
            store = got[ip]["store"]
            # every orphan's file is still in the store: nothing deleted them
            in_store = sum(1 for sid in e["orphan_ids"] if f"sess_{sid}" in files)
            assert store["orphans_in_store"] == in_store == e["orphans"]
            assert store["method"] == "exact"
            assert store["share_of_sessions"] == round(in_store / len(files), 6)
            assert store["bytes"] == sum(files[f"sess_{s}"] for s in e["orphan_ids"])
    assert [(x["client"], x["lost_login"]) for x in r["races"]] == \
        [(x["client"], x["lost_login"]) for x in exp["races"]]


def test_human_views(cli, php_store):
    root, _ = php_store
    res = cli("clients", root, "--access-log", LOGS / "php" / "access.log")
    assert res.code == 0, res.err
    assert "top clients by orphan sessions" in res.out and "127.0.0.5" in res.out
    assert "█" in res.out and "login races (2)" in res.out
    res = cli("scan", root, "--access-log", LOGS / "php" / "access.log")
    assert res.code == 0, res.err
    assert "top clients by orphan sessions" in res.out and "login races" in res.out


def test_client_key_ip_ua_separates_people_behind_one_address(cli):
    r = cli("clients", "--access-log", LOGS / "php" / "access.log", "--client-key", "ip+ua",
            "--json").json()
    nat = [c for c in r["clients"] if c["client"].startswith("127.0.0.10 ")]
    # tools/logapps/scenario.py: a desktop Chrome and an Android phone behind one address
    assert sorted(c["client"].split(" ", 1)[1].split(")")[0] for c in nat) == [
        "Mozilla/5.0 (Linux; Android 14; Pixel 8", "Mozilla/5.0 (Windows NT 10.0; Win64; x64"]
    assert [(c["issued"], c["orphans"]) for c in nat] == [(1, 0), (1, 0)]


def test_gz_and_stdin(cli, tmp_path):
    src = (LOGS / "express" / "access.log").read_bytes()
    gz = tmp_path / "access.log.2.gz"
    gz.write_bytes(gzip.compress(src))
    r = cli("clients", "--access-log", gz, "--json").json()
    assert r["access_log"]["cookie_name"] == "connect.sid"
    assert len(r["races"]) == 2
    out = subprocess.run([sys.executable, "-m", "sessdiag", "clients", "--access-log", "-",
                          "--json"], input=src, capture_output=True, check=True)
    assert json.loads(out.stdout)["clients"] == r["clients"]


def test_client_attr_without_logs(cli, tmp_path):
    root = tmp_path / "tmp"
    make_tree(str(root), FixtureSpec.from_mapping(
        {"sessions": 80, "seed": 9, "now": NOW, "empty_fraction": 0.6,
         "payloads": ["casdoor_login", "int"]}))
    sizes = [p.stat().st_size for p in root.glob("*/*/*")]
    res = cli("clients", root, "--client-attr", "username", "--json", "--now", NOW)
    assert res.code == 0, res.err
    rows = {c["client"]: c for c in res.json()["clients"]}
    assert rows["username=built-in/admin"]["sessions"] == sizes.count(200)
    assert rows["(unattributed)"]["orphans"] == sizes.count(20) + sizes.count(0)
    res = cli("clients", root, "--client-attr", "username", "--now", NOW)
    assert "payload attribute" in res.out and "(unattributed)" in res.out


def test_cadence_without_logs_from_a_steady_stream(cli, tmp_path):
    """A client creating one empty beego session every 50 s for 30 hours (72/hour)."""
    root = tmp_path / "tmp"
    start = (NOW // 3600 - 31) * 3600
    for i in range(30 * 72 + 10):
        sid = f"{(i * 0x9E3779B97F4A7C15) % (1 << 128):032x}"
        d = root / sid[0] / sid[1]
        d.mkdir(parents=True, exist_ok=True)
        p = d / sid
        p.write_bytes(BEEGO_EMPTY)
        t = start + i * 50 + 0.5
        os.utime(p, (t, t))
    res = cli("clients", root, "--json", "--now", NOW, "--max-lifetime", "30d")
    assert res.code == 0, res.err
    r = res.json()
    assert r["cadence"]["store"]["around_the_clock"]
    assert any(f.startswith("≈72 new empty sessions/hour around the clock since ")
               and "never sends the cookie" in f for f in r["findings"])
    assert any("no --access-log" in w for w in r["warnings"])


@pytest.mark.parametrize(("args", "needle"), [
    (["--access-log", "/nonexistent/access.log"], "no such file"),
    (["--access-log", str(LOGS / "php" / "access.log"), "--log-format", "apache"],
     "unknown --log-format"),
    (["--access-log", str(LOGS / "php" / "access.log"), "--log-field", "ip=a"], "jsonl only"),
    (["--access-log", str(LOGS / "php" / "access.log"), "--log-format", "jsonl"],
     "no line of"),
    (["--access-log", str(LOGS / "php" / "access.log"), "--login-path", "("], "--login-path"),
    (["--access-log", str(LOGS / "php" / "access.log"), "--race-window", "soon"],
     "not a duration"),
    ([], "TARGET"),
    (["--client-attr", "username"], "TARGET"),
])
def test_bad_input_is_one_line_exit_2(cli, args, needle):
    line = one_line_error(cli("clients", *args))
    assert needle in line


def test_scan_rejects_a_bad_log_format(cli, tmp_path):
    root = tmp_path / "tmp"
    make_tree(str(root), FixtureSpec.from_mapping({"sessions": 60, "seed": 1, "now": NOW}))
    line = one_line_error(cli("scan", root, "--access-log", LOGS / "php" / "access.log",
                              "--client-key", "tenant", "--json"))
    assert "--client-key" in line


def _mostly_garbage_log(tmp_path: Path) -> Path:
    """1 line in 10 in the contract format: e.g. a log written with another log_format."""
    good = (LOGS / "php" / "access.log").read_text().splitlines()[:30]
    lines = []
    for i, line in enumerate(good):
        lines.append(line)
        lines += [f"garbage {i}.{j} not a combined line" for j in range(9)]
    p = tmp_path / "mixed.log"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_mostly_unparsable_log_is_a_finding_and_strict_fails(cli, tmp_path):
    log = _mostly_garbage_log(tmp_path)
    res = cli("clients", "--access-log", log, "--cookie-name", "PHPSESSID", "--json")
    assert res.code == 0, res.err
    r = res.json()
    assert r["access_log"]["skipped"] == 270 and r["access_log"]["skipped_fraction"] == 0.9
    assert r["findings"][0].startswith("only 30 of 300 access-log lines parsed (90% skipped")
    term = cli("clients", "--access-log", log, "--cookie-name", "PHPSESSID")
    assert "90% of access-log lines (270 of 300) did not parse" in term.out
    res = cli("clients", "--access-log", log, "--cookie-name", "PHPSESSID", "--strict")
    msg = one_line_error(res, 2)
    assert "--strict: 270 of 300 lines" in msg and "(90.0%)" in msg
    # A clean log passes --strict.
    clean = cli("clients", "--access-log", LOGS / "php" / "access.log", "--strict", "--json")
    assert clean.code == 0, clean.err


def test_binary_log_reports_the_format_first_and_shows_bytes_escaped(cli, tmp_path):
    import random

    blob = random.Random(7).randbytes(4000)
    log = tmp_path / "binary.log"
    log.write_bytes(blob)
    for extra in ((), ("--cookie-name", "sid")):
        res = cli("clients", "--access-log", log, *extra)
        msg = one_line_error(res, 2)
        assert "in the combined-cookies format" in msg, msg
        assert "cookie's name" not in msg
        assert len(msg) - len(str(log)) < 200, msg
        assert "\ufffd" not in msg
        assert all(ch.isprintable() for ch in msg), msg
