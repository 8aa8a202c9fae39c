"""Live: nginx + tools/logapps/beegolike, a Go app whose sessions behave like beego v1.12.3's
file provider (new id when the cookie's file is missing, file created at sid[0]/sid[1]/sid,
gob written back at the end of every request, casdoor's `casdoor_session_id` cookie).

It races exactly like incident 2, its empty sessions are beego's 20-byte gob, and its logged-in
sessions hold a real gob `username`: scan + logs, and `--client-attr username`, are checked
against what the driver did.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from minters_truth import assert_minters_match

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools" / "logapps"))

import harness  # noqa: E402
import scenario  # noqa: E402

pytestmark = pytest.mark.skipif(not harness.have("nginx", "go"),
                                reason="needs Debian's nginx and golang-go")
COOKIE = "casdoor_session_id"


@pytest.fixture(scope="module")
def live(tmp_path_factory):  # type: ignore[no-untyped-def]
    work = tmp_path_factory.mktemp("beegolike")
    store = work / "tmp"
    store.mkdir()
    log = work / "access.log"
    app = harness.BeegoLike(str(work), str(store), COOKIE)
    try:
        ngx = harness.Nginx(str(work), app.port, COOKIE, str(log))
        try:
            truth = scenario.run("127.0.0.1", ngx.port, COOKIE)
        finally:
            ngx.stop()
    finally:
        app.stop()
    return store, log, scenario.expected(truth)


def test_scan_with_logs_names_the_clients_and_the_races(cli, live):
    store, log, exp = live
    c = exp["clients"]
    assert c["127.0.0.5"]["orphans"] == scenario.MACHINE_CALLS
    assert [(r["client"], r["lost_login"]) for r in exp["races"]] == \
        [("127.0.0.11", True), ("127.0.0.12", False)]
    res = cli("scan", store, "--access-log", log, "--json", "--max-lifetime", "30d")
    assert res.code == 0, res.err
    r = res.json()
    assert r["target"]["profile"] == "beego-file"
    files = {p.name: p.stat() for p in store.glob("*/*/*")}
    assert r["sessions"] == len(files)
    got = {x["client"]: x for x in r["clients"]}
    for ip, e in c.items():
        g = got[ip]
        assert (g["requests"], g["requests_without_cookie"], g["issued"], g["orphans"]) == \
            (e["requests"], e["requests_without_cookie"], e["issued"], e["orphans"]), ip
        if e["orphans"]:
            mine = [files[s] for s in e["orphan_ids"] if s in files]
            assert g["store"]["orphans_in_store"] == len(mine) == e["orphans"]
            assert g["store"]["bytes"] == sum(st.st_size for st in mine)
    # the machine's orphans are beego's empty session: the 20-byte gob of an empty map
    assert {files[s].st_size for s in c["127.0.0.5"]["orphan_ids"]} == {20}
    assert got["127.0.0.5"]["store"]["bytes"] == 20 * scenario.MACHINE_CALLS
    assert [(x["client"], sorted(x["issued"]), x["kept"], x["lost_login"]) for x in r["races"]] \
        == [(e["client"], e["issued"], e["kept"], e["lost_login"]) for e in exp["races"]]
    assert any(f.startswith("client 127.0.0.5: 40 sessions never presented back")
               for f in r["findings"])
    assert_minters_match(r, exp)


def test_attribution_by_the_username_in_the_payloads(cli, live):
    store, _log, _exp = live
    res = cli("clients", store, "--client-attr", "username", "--json")
    assert res.code == 0, res.err
    rows = {x["client"]: x for x in res.json()["clients"]}
    # users 0-2 (browsers), "leaver" logged out (file removed), "racer" twice: the lost race's
    # login session is still in the store, holding the user the browser lost
    assert rows["username=user0"]["sessions"] == 1
    assert rows["username=racer"]["sessions"] == 2
    assert "username=leaver" not in rows
    sizes = [p.stat().st_size for p in store.glob("*/*/*")]
    assert rows["(unattributed)"]["orphans"] == sizes.count(20) + sizes.count(0)
