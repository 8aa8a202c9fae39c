"""A Redis framework added on the seam (a toy module's worth, registered for these tests
only) is scanned, inspected by bare id and joined to access logs by a real scan of a real
redis-server: the registry line is all the Redis store needs."""

from __future__ import annotations

import json
import re

import pytest

from sessdiag import frameworks
from sessdiag.frameworks.base import Framework, RedisKeys, ns_key, ns_pattern

TOY_REDIS = Framework(
    name="toy-redis", family="Toy", medium="redis", cookie_names=("toy_sid",),
    sid_from_cookie=lambda raw: raw[3:].decode() if raw.startswith(b"v1.") else None,
    default_lifetime_s=600,
    redis=RedisKeys(key_re=re.compile(rb"^(.*toysess):([0-9a-f]{20})$"), gate=b"toysess:",
                    key_for=ns_key, scan_pattern=ns_pattern, default_prefixes=("toysess:",)),
    orphan_fix="stop it",
)


@pytest.fixture
def toy():  # type: ignore[no-untyped-def]
    with frameworks.registered(TOY_REDIS):
        yield


def _fill(r) -> list[str]:  # type: ignore[no-untyped-def]
    sids = [f"{i:020x}" for i in range(30)]
    for i, sid in enumerate(sids):
        value = {"toy": 1} if i % 3 else {"toy": 1, "user": f"u{i}"}
        r.set(f"toysess:{sid}", json.dumps(value).replace(" ", ""), ex=500)
    return sids


def test_a_registered_redis_framework_is_scanned_and_inspected(toy, cli, redis_db):
    url, r = redis_db
    sids = _fill(r)
    res = cli("scan", url, "--json")
    assert res.code == 0, res.err
    groups = {(g["profile"], g["namespace"]): g for g in res.json()["groups"]}
    g = groups[("toy-redis", "toysess")]
    assert g["sessions"] == 30 and g["lifetime_s"] == 600  # the module's default lifetime
    ins = cli("inspect", url, sids[0], "--json")  # a bare id: the registry's key pattern
    assert ins.code == 0, ins.err
    assert (ins.json()["profile"], ins.json()["sid"]) == ("toy-redis", sids[0])
    assert {e["key"]["value"] for e in ins.json()["entries"]} == {"toy", "user"}


def test_without_the_registry_line_the_keys_are_nobodys(cli, redis_db):
    url, r = redis_db
    _fill(r)
    res = cli("scan", url, "--json")
    assert res.code == 0, res.err
    assert all(g["profile"] != "toy-redis" for g in res.json()["groups"])


def test_the_cookie_mapping_of_the_module_joins_logs_to_keys(toy, cli, redis_db, tmp_path):
    url, r = redis_db
    sids = _fill(r)
    log = tmp_path / "access.log"
    lines = []
    for i, sid in enumerate(sids[:10]):  # ten cookieless requests, each issued a session
        lines.append(f'10.0.0.1 - - [01/Dec/2026:10:00:{i:02d} +0000] "GET /ping HTTP/1.1" 200 '
                     f'2 "-" "curl/8" "-" "toy_sid=v1.{sid}; Path=/"\n')
    log.write_text("".join(lines))
    res = cli("clients", url, "--access-log", log, "--json")
    assert res.code == 0, res.err
    c = {x["client"]: x for x in res.json()["clients"]}["10.0.0.1"]
    assert c["orphans"] == 10
    assert c["store"]["orphans_in_store"] == 10  # v1.<id> -> toysess:<id>, all still there
