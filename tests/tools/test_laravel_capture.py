"""The committed Laravel captures (tools/capture/laravel) hold what issue 11 says Laravel does.

These read only the capture files, so they keep an eye on a regenerated capture: if a new
Laravel, nginx or driver run behaves differently, the facts below say where.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

CAPTURES = Path(__file__).resolve().parents[2] / "fixtures" / "laravel"
SID = re.compile(r"[A-Za-z0-9]{40}")


def load(driver: str) -> dict:
    return json.loads((CAPTURES / driver / "expected.json").read_text())


@pytest.mark.parametrize("driver", ["files", "redis"])
def test_cookie_facts(driver):
    f = load(driver)["facts"]
    # re-sent on every web response, re-encrypted every time
    assert f["web_responses_without_session_cookie"] == 0
    assert f["ids_sent_more_than_once"] >= 10
    assert f["ids_whose_raw_value_repeated"] == 0
    # every logged cookie decrypts to a 41-character prefix + the id the app reported
    assert f["log_set_cookie_fields"] == f["responses_setting_session_cookie"] > 100
    assert f["log_values_decrypting_to_prefix_plus_known_id"] == f["log_set_cookie_fields"]
    assert f["prefix_length"] == 41 and f["prefix_is_hmac_sha1_hex_and_bar"]


@pytest.mark.parametrize("driver", ["files", "redis"])
def test_login_deletes_the_old_session_and_requests_refresh_the_lifetime(driver):
    f = load(driver)["facts"]
    assert len(f["login_deletes_old_session"]) == 4
    for x in f["login_deletes_old_session"]:
        assert (x["old_in_store_before"], x["old_in_store_after"], x["new_differs"],
                x["new_in_store"]) == (True, False, True, True), x
    r = f["lifetime_refresh"]
    assert r["read_before_s"] <= 60 and r["read_after_one_request_s"] >= 7199
    assert r["same_id_after"]


def test_redis_keys_prefix_double_serialization_and_ttl():
    doc = json.loads((CAPTURES / "redis" / "redis.json").read_text())
    keys = doc["keys"]
    assert len(keys) == load("redis")["facts"]["redis"]["keys"] > 50
    for k in keys:
        assert k["db"] == 0 and k["type"] == "string"
        prefix, _, sid = k["key"].rpartition(":")
        assert prefix == "laravel_database_laravel_cache" and SID.fullmatch(sid)
        value = bytes.fromhex(k["value_hex"])
        m = re.fullmatch(rb's:(\d+):"(.*)";', value, re.S)
        assert m and int(m[1]) == len(m[2]) and m[2].startswith(b"a:")
        # written moments before the capture ended, with the lifetime as TTL
        assert 7190 <= k["ttl_s"] <= 7200


def test_file_store_is_flat_php_serialize_and_holds_the_orphans():
    store = json.loads((CAPTURES / "files" / "store.json").read_text())["files"]
    exp = load("files")
    assert all(SID.fullmatch(name) for name in store)
    payloads = {n: base64.b64decode(f["payload_b64"]) for n, f in store.items()}
    assert all(p.startswith(b"a:") and len(p) == store[n]["size"] for n, p in payloads.items())
    # every orphan except a logged-out or raced-away login is still there, uninitialised
    machine = exp["clients"]["127.0.0.5"]["orphan_ids"]
    assert len(machine) == 40 and all(sid in store for sid in machine)
    assert all(b"login_web_" not in payloads[sid] for sid in machine)
    # a pre-login id is gone: the session every browser had before logging in
    browsers = [exp["clients"][f"127.0.0.{i}"]["issued_ids"] for i in (2, 3, 4)]
    assert all(sum(sid in store for sid in ids) == 1 for ids in browsers)


def test_the_traffic_is_what_the_scenario_says():
    for driver in ("files", "redis"):
        c = load(driver)["clients"]
        assert [c[f"127.0.0.{i}"]["orphans"] for i in (2, 3, 4, 10)] == [0, 0, 0, 0]
        assert (c["127.0.0.5"]["orphans"], c["127.0.0.13"]["orphans"]) == (40, 20)
        assert c["127.0.0.6"]["issued"] == c["127.0.0.14"]["issued"] == 0
        assert c["127.0.0.8"]["requests_without_cookie"] == 0 and c["127.0.0.8"]["orphans"] == 5
        # Laravel adopts an expired but well-formed id: one new id, no race, login lost or kept
        pairs = load(driver)["facts"]["expired_cookie_pairs"]
        assert [(p["client"], len(p["issued"]), p["lost_login"]) for p in pairs] == \
            [("127.0.0.11", 1, True), ("127.0.0.12", 1, False)]
        assert load(driver)["races"] == []
