"""Adding a framework is one module and one registry line: a toy framework, registered for the
duration of a test and nowhere else, is detected, scanned, decoded and joined to access logs."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from sessdiag import frameworks
from sessdiag.analysis.accesslog import detect_cookie_name
from sessdiag.frameworks.base import (
    FileLayout,
    Framework,
    RedisKeys,
    TreeSample,
    Votes,
    ns_key,
    ns_pattern,
)
from sessdiag.stores.files.layout import detect_layout
from sessdiag.stores.redis import profiles as P

SID = r"[0-9a-f]{20}"


def _vote(sample: TreeSample, name_re: re.Pattern[str]) -> Votes:
    n = sum(1 for name, is_file in sample.top if is_file and name_re.fullmatch(name))
    return {0: n} if n else {}


def _sid(raw: bytes) -> str | None:
    """The toy app's cookie is `v1.<id>`."""
    return raw[3:].decode() if raw.startswith(b"v1.") else None


TOY_FILES = Framework(
    name="toy-files", family="Toy", medium="files", cookie_names=("toy_sid",),
    sid_from_cookie=_sid, default_lifetime_s=600,
    decode="sessdiag.codecs.jsonsafe:decode_session",
    files=FileLayout(depth=0, prefix="toy_", sid_pattern=SID, empty_sizes=frozenset({2}),
                     vote=_vote, describe=lambda depth: "toy: ROOT/toy_<id>"),
    orphan_fix="stop it",
)
TOY_REDIS = Framework(
    name="toy-redis", family="Toy", medium="redis", cookie_names=("toy_sid",),
    sid_from_cookie=_sid, default_lifetime_s=600,
    redis=RedisKeys(key_re=re.compile(rb"^(.*toysess):([0-9a-f]{20})$"), gate=b"toysess:",
                    key_for=ns_key, scan_pattern=ns_pattern),
    sniff_value=lambda low, head, fmt: head.startswith(b'{"toy":'),
    orphan_fix="stop it",
)


@pytest.fixture
def toy():  # type: ignore[no-untyped-def]
    with frameworks.registered(TOY_FILES), frameworks.registered(TOY_REDIS):
        yield
    assert "toy-files" not in frameworks.REGISTRY and "toy_sid" not in frameworks.KNOWN_COOKIES


def _toy_tree(root: Path, n: int = 12) -> list[str]:
    root.mkdir()
    sids = [f"{i:020x}" for i in range(n)]
    for i, sid in enumerate(sids):
        p = root / f"toy_{sid}"
        p.write_text("{}" if i % 3 == 0 else json.dumps({"user": f"u{i}"}))
        os.utime(p, (1_700_000_000, 1_700_000_000))
    return sids


def test_a_registered_file_framework_is_detected_and_scanned(toy, cli, tmp_path: Path):
    _toy_tree(tmp_path / "store")
    layout = detect_layout(str(tmp_path / "store"))
    assert (layout.profile, layout.depth, layout.prefix) == ("toy-files", 0, "toy_")
    res = cli("scan", tmp_path / "store", "--json", "--no-progress")
    assert res.code == 0, res.err
    r = res.json()
    assert r["target"]["profile"] == "toy-files"
    assert r["target"]["layout"] == "toy: ROOT/toy_<id>"
    assert (r["sessions"], r["empty"]) == (12, 4)
    ins = cli("inspect", tmp_path / "store", f"{1:020x}", "--json")
    assert ins.code == 0, ins.err
    assert ins.json()["entries"][0]["key"]["value"] == "user"


def test_without_the_registry_line_the_tree_is_nobodys(cli, tmp_path: Path):
    _toy_tree(tmp_path / "store")
    res = cli("scan", tmp_path / "store", "--json", "--no-progress")
    assert res.code == 2 and "neither a beego nor a PHP nor a Laravel session tree" in res.err


def test_a_registered_redis_framework_names_its_keys_and_cookies(toy):
    key = b"toysess:" + b"a" * 20
    assert P.classify(key) == (P.STRING, "toy-redis", "toysess")
    assert P.forced_kind("toy-redis", b"x:y")[1] == "toy-redis"
    assert frameworks.sid_from_cookie(b"v1." + b"a" * 20, "toy-redis") == "a" * 20
    assert frameworks.sid_from_cookie(b"v1." + b"a" * 20, None, "toy_sid") == "a" * 20
    assert detect_cookie_name(b"", "jsonl", "toy-redis") == ("toy_sid",
                                                            "default of profile toy-redis")
    assert frameworks.DEFAULT_LIFETIME["toy-redis"] == 600
    assert ("toy-redis", TOY_REDIS.sniff_value) in frameworks.VALUE_SNIFFERS
    # its sniffer declares no key words: the scanner remembers no sniffed answers
    assert frameworks.SNIFF_KEY["words"] is None


def test_registration_is_undone(toy):
    assert P.classify(b"toysess:" + b"a" * 20)[1] == "toy-redis"
    frameworks.unregister("toy-redis")
    try:
        assert P.classify(b"toysess:" + b"a" * 20) == (P.UNKNOWN, "", "")
    finally:
        frameworks.register(TOY_REDIS)


def test_a_cookie_only_the_apps_secret_opens():
    """Laravel-like: the id comes out of the cookie with the app key, and never without it."""
    def opened(raw: bytes, secret: object, cookie_name: str) -> str | None:
        return raw[len(secret) + 1:].decode() if raw.startswith(secret + b"|") else None

    sealed = Framework(
        name="sealed-redis", family="Sealed", medium="redis", cookie_names=("sealed",),
        keyed_sid_from_cookie=opened,
        redis=RedisKeys(key_re=re.compile(rb"^(sealed):(\w+)$"), gate=b"sealed:",
                        key_for=ns_key, scan_pattern=ns_pattern),
        orphan_fix="stop it")
    with frameworks.registered(sealed):
        assert frameworks.sid_from_cookie(b"k|abc", "sealed-redis", "sealed", b"k") == "abc"
        assert frameworks.sid_from_cookie(b"k|abc", "sealed-redis", "sealed") is None
        assert frameworks.sid_from_cookie(b"k|abc", None, "sealed", b"other") is None
