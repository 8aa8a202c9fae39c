"""Live: real nginx + PHP-FPM file sessions, driven by browser-like and machine clients.

nginx writes the contract's `log_format sessdiag`; sessdiag then scans the PHP session
directory with that log. Each client's orphans, the store share of its orphans, and the
login races must equal what the driver itself sent and received.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from minters_truth import assert_minters_match

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools" / "logapps"))

import harness  # noqa: E402
import scenario  # noqa: E402

pytestmark = pytest.mark.skipif(
    not harness.have("nginx") or harness.PhpFpm.binary() is None,
    reason="needs Debian's nginx and php-fpm")


def run_live(tmp_path: Path, strict: bool) -> tuple[Path, Path, dict]:
    store = tmp_path / "sessions"
    store.mkdir()
    log = tmp_path / "access.log"
    fpm = harness.PhpFpm(str(tmp_path), str(store), strict=strict)
    try:
        ngx = harness.Nginx(str(tmp_path), fpm.nginx_location(), "PHPSESSID", str(log))
        try:
            truth = scenario.run("127.0.0.1", ngx.port, "PHPSESSID")
        finally:
            ngx.stop()
    finally:
        fpm.stop()
    return store, log, scenario.expected(truth)


def test_strict_php_orphans_store_share_and_races(cli, tmp_path):
    store, log, exp = run_live(tmp_path, strict=True)
    # the traffic is what the scenario says it is
    c = exp["clients"]
    assert [c[f"127.0.0.{i}"]["orphans"] for i in (2, 3, 4)] == [0, 0, 0]
    assert c["127.0.0.5"]["orphans"] == scenario.MACHINE_CALLS
    assert c["127.0.0.7"]["orphans"] == 1 and c["127.0.0.6"]["issued"] == 0
    assert [(r["client"], r["lost_login"]) for r in exp["races"]] == \
        [("127.0.0.11", True), ("127.0.0.12", False)]

    res = cli("scan", store, "--access-log", log, "--json")
    assert res.code == 0, res.err
    r = res.json()
    files = {p.name: p.stat() for p in store.iterdir()}
    assert r["sessions"] == len(files)
    got = {x["client"]: x for x in r["clients"]}
    for ip, e in c.items():
        g = got[ip]
        assert (g["requests"], g["requests_without_cookie"], g["issued"], g["orphans"]) == \
            (e["requests"], e["requests_without_cookie"], e["issued"], e["orphans"]), ip
        if e["orphans"]:
            mine = [files[f"sess_{sid}"] for sid in e["orphan_ids"] if f"sess_{sid}" in files]
            assert g["store"]["orphans_in_store"] == len(mine) == e["orphans"]
            assert g["store"]["bytes"] == sum(st.st_size for st in mine)
            assert g["store"]["allocated_bytes"] == sum(st.st_blocks * 512 for st in mine)
            assert g["store"]["share_of_sessions"] == round(len(mine) / len(files), 6)
    assert r["clients"][0]["client"] == "127.0.0.5"
    got_races = [(x["client"], x["presented"], sorted(x["issued"]), x["kept"], x["lost_login"])
                 for x in r["races"]]
    assert got_races == [(e["client"], e["presented"], e["issued"], e["kept"], e["lost_login"])
                         for e in exp["races"]]
    assert_minters_match(r, exp)
    # PHP leaves an empty session as a 0-byte file: the machine's orphans are empty sessions
    assert all(files[f"sess_{s}"].st_size == 0 for s in c["127.0.0.5"]["orphan_ids"])


def test_lax_php_adopts_the_stale_id_so_nothing_races(cli, tmp_path):
    store, log, exp = run_live(tmp_path, strict=False)
    assert exp["races"] == []
    assert exp["clients"]["127.0.0.8"]["issued"] == 0  # the stale id was adopted, not replaced
    res = cli("clients", store, "--access-log", log, "--json")
    assert res.code == 0, res.err
    r = res.json()
    assert r["races"] == []
    got = {x["client"]: x["orphans"] for x in r["clients"]}
    assert got == {ip: e["orphans"] for ip, e in exp["clients"].items()}
    assert_minters_match(r, exp)
    assert os.path.exists(store / f"sess_{scenario.STALE}")  # lax PHP wrote the stale id
