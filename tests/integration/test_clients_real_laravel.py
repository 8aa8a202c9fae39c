"""Laravel files and Laravel Redis through the CLI, on the committed captures of a real app.

fixtures/laravel (tools/capture/laravel): a Laravel 8 app on Debian's packaged framework
under php-fpm and nginx. The file store is materialised with the ages its files had when the
capture ended; the Redis keys are loaded, with their TTLs, into a test-started redis-server.
Per-client orphans, the store share and the races must equal what the capture's clients
themselves recorded (session ids the app reported in a header, never the log decrypted).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from minters_truth import assert_minters_match

CAPTURES = Path(__file__).resolve().parents[2] / "fixtures" / "laravel"
NOW = 1_790_000_000.0


def expected(driver: str) -> dict:
    return json.loads((CAPTURES / driver / "expected.json").read_text())


def app_env(driver: str) -> Path:
    return CAPTURES / driver / "app.env"


def app_key(driver: str) -> str:
    line = next(x for x in app_env(driver).read_text().splitlines()
                if x.startswith("APP_KEY="))
    return line.removeprefix("APP_KEY=")


@pytest.fixture
def files_store(tmp_path: Path) -> Path:
    """storage/framework/sessions as the app left it (with the skeleton's .gitignore)."""
    root = tmp_path / "storage" / "framework" / "sessions"
    root.mkdir(parents=True)
    (root / ".gitignore").write_text("*\n!.gitignore\n")
    doc = json.loads((CAPTURES / "files" / "store.json").read_text())
    for sid, f in doc["files"].items():
        p = root / sid
        p.write_bytes(base64.b64decode(f["payload_b64"]))
        os.utime(p, (NOW - f["age_s"], NOW - f["age_s"]))
    return root


@pytest.fixture
def redis_store(redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    for k in json.loads((CAPTURES / "redis" / "redis.json").read_text())["keys"]:
        r.set(k["key"], bytes.fromhex(k["value_hex"]), ex=k["ttl_s"])
    r.set("laravel_database_laravel_cache:" + "a" * 40, "3")  # a rate limiter's sha1 key
    return url


def assert_clients_match(report: dict, driver: str) -> None:
    exp = expected(driver)
    assert report["access_log"]["cookie_name"] == "laravel_session"
    assert report["access_log"]["skipped"] == 0
    got = {c["client"]: c for c in report["clients"]}
    assert set(got) == set(exp["clients"])
    for ip, e in exp["clients"].items():
        g = got[ip]
        assert (g["requests"], g["requests_without_cookie"], g["issued"], g["orphans"]) == \
            (e["requests"], e["requests_without_cookie"], e["issued"], e["orphans"]), ip
    # Laravel adopts the expired id the login pairs presented: one new id, so no race
    assert report["races"] == exp["races"] == []
    # who minted them: Laravel re-sends the cookie, freshly encrypted, on every `web`
    # response; only the first set of an id is an issue
    assert_minters_match(report, exp)
    assert report["clients"][0]["client"] == "127.0.0.5"  # most orphans first


def test_files_scan_counts_uninitialised_sessions(cli, files_store):
    res = cli("scan", files_store, "--json", "--now", NOW, "--max-lifetime", "2h")
    assert res.code == 0, res.err
    r = res.json()
    store = json.loads((CAPTURES / "files" / "store.json").read_text())["files"]
    assert r["target"]["profile"] == "laravel-files"
    assert r["target"]["layout"] == "Laravel file sessions: ROOT/<id>"
    assert r["sessions"] == len(store) == 77
    assert r["bytes"] == sum(f["size"] for f in store.values())
    # every payload decoded (no size tells an uninitialised session): 72 hold only
    # _token/_previous/_flash, the 5 logged-in ones hold a user
    assert (r["empty"], r["anomalies"]["undecodable"], r["anomalies"]["foreign"]) == (72, 0, 1)
    assert r["expired"] == 0
    old = cli("scan", files_store, "--json", "--now", NOW + 7200, "--max-lifetime", "2h")
    assert old.json()["expired"] == 77


def test_files_clients_are_exact_against_the_capture(cli, files_store):
    res = cli("scan", files_store, "--json", "--now", NOW, "--access-log",
              CAPTURES / "files" / "access.log", "--app-env", app_env("files"))
    assert res.code == 0, res.err
    r = res.json()
    assert r["max_lifetime_s"] == 7200  # SESSION_LIFETIME of the .env
    assert_clients_match(r, "files")
    exp = expected("files")["clients"]
    got = {c["client"]: c for c in r["clients"]}
    names = {p.name: p.stat() for p in files_store.iterdir()}
    for ip, e in exp.items():
        if e["orphans"]:
            mine = [names[s] for s in e["orphan_ids"] if s in names]
            assert got[ip]["store"]["orphans_in_store"] == len(mine)
            assert got[ip]["store"]["bytes"] == sum(st.st_size for st in mine)
    # cookieless clients' orphans are all still on disk, the logged-out one's too
    assert got["127.0.0.5"]["store"]["orphans_in_store"] == 40
    assert got["127.0.0.13"]["store"]["orphans_in_store"] == 20


def test_clients_without_a_store_and_with_the_key_as_a_flag(cli):
    res = cli("clients", "--access-log", CAPTURES / "redis" / "access.log", "--app-key",
              app_key("redis"), "--json")
    assert res.code == 0, res.err
    assert_clients_match(res.json(), "redis")


def test_redis_scan_inspect_and_clients(cli, redis_store):
    res = cli("scan", redis_store, "--json")
    assert res.code == 0, res.err
    r = res.json()
    g = {(x["profile"], x["namespace"]): x for x in r["groups"]}
    assert set(g) == {("laravel-redis", "laravel_database_laravel_cache")}
    lv = g[("laravel-redis", "laravel_database_laravel_cache")]
    assert (lv["sessions"], lv["empty"], lv["orphans"], lv["undecodable"]) == (77, 72, 72, 0)
    assert (lv["lifetime_s"], lv["no_ttl"], lv["expired"]) == (7200, 0, 0)
    assert lv["age_sources"] == {"ttl": 77}
    assert r["keyspace"]["other_keys"] == 1  # the sha1-named rate limiter key

    user = expected("redis")["clients"]["127.0.0.2"]["issued_ids"]
    gone, kept = (cli("inspect", redis_store, sid, "--json") for sid in user)
    assert gone.code == 2  # the session before login was deleted by it
    assert kept.code == 0, kept.err
    k = kept.json()
    assert (k["profile"], k["empty"]) == ("laravel-redis", False)
    values = {e["key"]["value"]: e["value"]["value"] for e in k["entries"]}
    assert values[next(v for v in values if v.startswith("login_web_"))] == "user0"

    res = cli("clients", redis_store, "--access-log", CAPTURES / "redis" / "access.log",
              "--app-env", app_env("redis"), "--json")
    assert res.code == 0, res.err
    c = res.json()
    assert_clients_match(c, "redis")
    machine = next(x for x in c["clients"] if x["client"] == "127.0.0.5")
    assert machine["store"]["orphans_in_store"] == 40


def test_inspect_a_file_session(cli, files_store):
    exp = expected("files")["clients"]
    logged_in = exp["127.0.0.3"]["issued_ids"]
    sid = next(s for s in logged_in if (files_store / s).exists())
    for args in ((files_store, sid), (files_store / sid,)):
        res = cli("inspect", *args, "--json")
        assert res.code == 0, res.err
        r = res.json()
        assert (r["profile"], r["sid"], r["empty"]) == ("laravel-files", sid, False)
        assert "cart" in {e["key"]["value"] for e in r["entries"]}
    orphan = exp["127.0.0.5"]["orphan_ids"][0]
    r = cli("inspect", files_store / orphan, "--json").json()
    assert r["empty"] is True and {e["key"]["value"] for e in r["entries"]} == \
        {"_token", "_previous", "_flash"}


def test_check_names_the_rules_a_laravel_store_breaks(cli, files_store, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  max_empty_fraction: 0.5\n  clients:\n    max_orphans: 10\n")
    res = cli("check", files_store, "--policy", policy, "--now", NOW, "--access-log",
              CAPTURES / "files" / "access.log", "--app-env", app_env("files"))
    assert res.code == 1, res.err
    assert "max_empty_fraction" in res.out and "127.0.0.5 (40)" in res.out
    assert "127.0.0.13 (20)" in res.out


def test_check_on_laravel_redis(cli, redis_store, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  max_no_ttl_keys: 0\n  allowed_namespaces: "
                      "[laravel_database_laravel_cache]\n  clients:\n    max_orphans: 30\n")
    log = CAPTURES / "redis" / "access.log"
    res = cli("check", redis_store, "--policy", policy, "--access-log", log, "--app-env",
              app_env("redis"), "--json")
    assert res.code == 1, res.err
    failed = {r["rule"] for t in res.json()["targets"] for r in t["results"]
              if r["status"] == "fail"}
    assert failed == {"clients.max_orphans"}  # 127.0.0.5's 40; no TTL-less key, one namespace


def test_the_key_is_needed_checked_and_never_printed(cli, files_store, tmp_path):
    log = CAPTURES / "files" / "access.log"
    res = cli("clients", "--access-log", log, "--json")
    assert res.code == 2 and "--app-env PATH/TO/.env, or --app-key" in res.err
    assert len(res.err.strip().splitlines()) == 1
    other = base64.b64encode(b"x" * 32).decode()
    res = cli("clients", "--access-log", log, "--app-key", "base64:" + other)
    assert res.code == 2 and "wrong APP_KEY" in res.err and other not in res.err
    res = cli("scan", files_store, "--app-key", "base64:c2hvcnQ=", "--access-log", log)
    assert res.code == 2 and "16 or 32 bytes" in res.err and "c2hvcnQ" not in res.err
    (tmp_path / "no.env").write_text("APP_NAME=x\n")
    res = cli("scan", files_store, "--app-env", tmp_path / "no.env", "--access-log", log)
    assert res.code == 2 and "has no APP_KEY" in res.err

    key = app_key("files")
    raw = base64.b64decode(key.removeprefix("base64:"))
    outputs = []
    for args in (("scan", files_store, "--access-log", log, "--app-key", key),
                 ("scan", files_store, "--access-log", log, "--app-env", app_env("files"),
                  "--json"),
                 ("clients", files_store, "--access-log", log, "--app-key", key),
                 ("clients", files_store, "--access-log", log, "--app-key", key, "--json")):
        res = cli(*args, "--now", NOW)
        assert res.code == 0, res.err
        outputs.append(res.out + res.err)
    for out in outputs:
        assert key.removeprefix("base64:") not in out and "APP_KEY" not in out
        assert raw.hex() not in out and repr(raw)[2:-1] not in out


def _load_capture_tool():  # type: ignore[no-untyped-def]
    """tools/capture/laravel/capture.py as a module, or skip without what it runs on."""
    import importlib.util
    import shutil
    import sys

    if not (shutil.which("nginx") and shutil.which("php")
            and os.path.exists("/usr/share/php/Illuminate/Foundation/Application.php")):
        pytest.skip("needs nginx, php-fpm and Debian's php-laravel-framework")
    here = CAPTURES.parents[1] / "tools" / "capture" / "laravel"
    sys.path.insert(0, str(here))  # its laravel_scenario (tools/logapps is added by it)
    spec = importlib.util.spec_from_file_location("laravel_capture", here / "capture.py")
    assert spec is not None and spec.loader is not None
    capture = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(capture)
    return capture


def _nginx_version() -> tuple[int, ...]:
    import re
    import subprocess

    out = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr
    m = re.search(r"nginx/(\d+)\.(\d+)", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def test_live_the_contracts_example_line_loses_laravels_cookie_on_old_nginx(cli, tmp_path):
    """The issue's pitfall on the real thing: Laravel sends XSRF-TOKEN before its session
    cookie, and nginx before 1.23 keeps only the first Set-Cookie in $sent_http_set_cookie.
    sessdiag must say that the log loses every issued session, not report zero orphans as
    if all were well. (nginx >= 1.23 joins every header: then the counts are right.)"""
    capture = _load_capture_tool()
    exp = capture.capture_minters(str(tmp_path / "out"), set_cookie="$sent_http_set_cookie")
    out = tmp_path / "out" / "minters"
    res = cli("clients", "--access-log", out / "access.log", "--app-env", out / "app.env",
              "--json")
    assert res.code == 0, res.err
    r = res.json()
    if _nginx_version() < (1, 23):
        assert r["access_log"]["session_cookie_sets"] == 0
        assert r["access_log"]["other_cookie_sets"] == exp["responses_setting_session_cookie"]
        assert r["findings"][0].startswith(
            "no response in the access log sets the session cookie 'laravel_session'")
        assert any("$upstream_cookie_laravel_session" in w for w in r["warnings"])
    else:
        assert_minters_match(r, exp)


def test_live_the_real_app_and_sessdiag_agree(cli, tmp_path):
    """The generator itself, end to end: a fresh run of the real app (file driver), then
    sessdiag on what it left, against what its clients recorded."""
    capture = _load_capture_tool()
    exp = capture.capture("files", str(tmp_path / "out"))
    out = tmp_path / "out" / "files"
    f = exp["facts"]
    assert f["ids_whose_raw_value_repeated"] == 0 and f["prefix_length"] == 41
    assert all(not x["old_in_store_after"] for x in f["login_deletes_old_session"])
    root = tmp_path / "sessions"
    root.mkdir()
    for sid, x in json.loads((out / "store.json").read_text())["files"].items():
        (root / sid).write_bytes(base64.b64decode(x["payload_b64"]))
    res = cli("scan", root, "--json", "--access-log", out / "access.log", "--app-env",
              out / "app.env")
    assert res.code == 0, res.err
    r = res.json()
    got = {c["client"]: (c["issued"], c["orphans"]) for c in r["clients"]}
    assert got == {ip: (c["issued"], c["orphans"]) for ip, c in exp["clients"].items()}
    assert got["127.0.0.5"] == (40, 40) and r["empty"] == 72
    assert_minters_match(r, exp)
    assert exp["routes"]["GET /ping"] == {"issued": 20, "orphans": 20}  # a `web` health route
