"""The framework registry: every documented profile has a module, and each module's cookie ->
session id mapping holds on cookies that real apps set (fixtures/logs/*, captured by
tools/logapps)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from sessdiag import frameworks
from sessdiag.frameworks.base import Framework
from sessdiag.stores.redis import profiles as P

REPO = Path(__file__).resolve().parents[2]
LOGS = REPO / "fixtures" / "logs"


def _documented_profiles() -> list[str]:
    """The profile column of docs/frameworks/README.md (the users' list of profiles)."""
    rows = (REPO / "docs" / "frameworks" / "README.md").read_text().splitlines()
    out = []
    for row in rows:
        cells = [c.strip() for c in row.split("|")]
        if len(cells) > 4 and cells[3].startswith("`"):
            out.append(cells[3].strip("`"))
    return out


def test_every_documented_profile_is_registered_and_nothing_else():
    documented = _documented_profiles()
    assert len(documented) == 13
    assert sorted(frameworks.REGISTRY) == sorted(documented)


@pytest.mark.parametrize("name", sorted(frameworks.REGISTRY))
def test_each_profile_is_whole(name: str):
    fw = frameworks.get(name)
    assert fw.name == name
    assert fw.medium in ("files", "redis")
    assert (fw.files is not None) == (fw.medium == "files")
    assert fw.orphan_fix and fw.orphans
    assert callable(fw.decoder())
    assert fw.__module__ == "sessdiag.frameworks.base"
    if fw.name not in ("generic", "rails-session"):
        # The fix the findings print was checked against this documentation page.
        assert fw.orphan_fix_doc.startswith("https://"), name
    if fw.name != "generic":
        assert fw.cookie_names, "a framework has a default session cookie"
        assert frameworks.PROFILE_COOKIES[name] == fw.cookie_names


def _set_cookies(log: Path) -> list[tuple[str, bytes]]:
    """(cookie name, raw value) of every Set-Cookie the app sent (the last quoted field)."""
    out = []
    for line in log.read_bytes().splitlines():
        head = line.rsplit(b' "', 1)[-1]
        if head in (b'-"',):
            continue
        name, _, rest = head.partition(b"=")
        value = rest.split(b";", 1)[0]
        if value not in (b"", b"\\x22\\x22", b"deleted"):  # not a logout clearing it
            out.append((name.decode(), value))
    return out


# capture -> (profile of its store, how a session id must look there)
CAPTURES = {
    "express": ("connect-redis", lambda sid: "sess:" + sid),
    "flask": ("flask-session", lambda sid: "session:" + sid),
    "django": ("django-cache", lambda sid: ":1:django.contrib.sessions.cache" + sid),
    "php": ("php-files", None),
    "php-lax": ("php-files", None),
}


@pytest.mark.parametrize("capture", sorted(CAPTURES))
def test_captured_cookies_map_to_the_ids_the_store_keeps(capture: str):
    profile, key_of = CAPTURES[capture]
    fw = frameworks.get(profile)
    cookies = _set_cookies(LOGS / capture / "access.log")
    assert len(cookies) >= 10
    exp = json.loads((LOGS / capture / "expected.json").read_text())
    for name, raw in cookies:
        # The cookie the app set is the framework's default, and the registry knows whose.
        assert name == fw.cookie_names[0] == exp["cookie_name"]
        assert frameworks.for_cookie(name).cookie_names == fw.cookie_names
        sid = fw.sid_from_cookie(raw)
        assert sid is not None and sid == frameworks.sid_from_cookie(raw, profile, name)
        assert sid == frameworks.sid_from_cookie(raw, None, name)  # logs alone, no store
        if key_of is not None:
            key = key_of(sid).encode()
            assert P.classify(key) == (P.STRING, profile, key_of("")[:-1] if capture !=
                                       "django" else key_of(""))
            assert fw.redis.key_for(P.classify(key)[2], sid) == key
        else:
            assert fw.files.sid_pattern and re.fullmatch(fw.files.sid_pattern, sid)


def test_php_capture_cookies_name_the_files_php_wrote():
    fw = frameworks.get("php-files")
    store = json.loads((LOGS / "php" / "store.json").read_text())["files"]
    exp = json.loads((LOGS / "php" / "expected.json").read_text())
    orphans = [i for c in exp["clients"].values() for i in c["orphan_ids"]]
    assert orphans
    for raw in orphans:
        assert fw.files.prefix + fw.sid_from_cookie(raw.encode()) in store


def test_express_signed_cookie():
    fw = frameworks.get("connect-redis")
    raw = (b"s%3AkWTFIl1uhKKLKzWq8EXd_UGCrILrKfCY."
           b"9XjWzFurhABuloJdwJ8Y0IQ0dGg%2FMDPD16Tlf%2Bs26CY")
    assert fw.sid_from_cookie(raw) == "kWTFIl1uhKKLKzWq8EXd_UGCrILrKfCY"
    assert fw.sid_from_cookie(b"unsigned") is None  # express-session rejects it too


def test_spring_cookie_is_base64_of_the_id():
    fw = frameworks.get("spring-session")
    assert fw.sid_from_cookie(b"ZmE5ZTc0ZTMtYjE2ZS00NjE5LWFmMzUtNWVmMTE4YWZmYjUx") == \
        "fa9e74e3-b16e-4619-af35-5ef118affb51"
    assert fw.sid_from_cookie(b"!!!") is None
    assert frameworks.sid_from_cookie(b"ZmE5ZTc0ZTMtYjE2ZS00NjE5LWFmMzUtNWVmMTE4YWZmYjUx",
                                      "generic", "SESSION") == \
        "fa9e74e3-b16e-4619-af35-5ef118affb51"  # generic store: the cookie's framework


def test_rails_key_is_the_private_id():
    fw = frameworks.get("rails-session")
    pub = "0123456789abcdef0123456789abcdef"
    assert fw.sid_from_cookie(pub.encode()) == pub
    assert fw.redis.key_for("myapp:session", pub) == \
        b"myapp:session:2::" + hashlib.sha256(pub.encode()).hexdigest().encode()
    assert P.classify(fw.redis.key_for("", pub))[1] == "rails-session"


def test_plain_cookies():
    assert frameworks.get("beego-file").sid_from_cookie(b"d133f3a8b752a7ae6a06de256899ef15") \
        == "d133f3a8b752a7ae6a06de256899ef15"
    assert frameworks.get("php-files").sid_from_cookie(b"%E4%B8%AD") is None  # not ASCII
    assert frameworks.sid_from_cookie(b"abc", None, "JSESSIONID") == "abc"
    assert "JSESSIONID" in frameworks.KNOWN_COOKIES


@pytest.mark.parametrize(("profile", "value", "entries", "empty"), [
    ("flask-session", bytes.fromhex("81aa5f7065726d616e656e74c3"), None, True),
    ("php-redis", b"", None, True),
    ("php-redis", b"a|i:1;", None, False),
    ("rails-session", b"x", [{"key": {"value": "_csrf_token"}}], True),
    ("rails-session", b"x", [{"key": {"value": "user"}}], False),
    ("django-cache", b"\x80\x05}\x94.", None, None),  # only a decode can tell
    ("django-cache", b"\x80\x05}\x94.", [], True),
])
def test_emptiness(profile: str, value: bytes, entries: list | None, empty: bool | None):
    assert frameworks.get(profile).is_empty(value, entries) is empty


def test_unregistered_and_duplicate_profiles_are_refused():
    with pytest.raises(KeyError):
        frameworks.get("nope")
    with pytest.raises(ValueError, match="already registered"):
        frameworks.register(frameworks.get("php-files"))
    with pytest.raises(ValueError, match="Redis key pattern or a file layout"):
        frameworks.register(Framework(name="x", family="x", medium="redis"))


def test_beegos_empty_session_is_the_gob_decoders():
    from sessdiag.codecs import gob
    from sessdiag.frameworks import beego

    assert beego.EMPTY_SESSION == gob.EMPTY_SESSION and beego.EMPTY_PAYLOAD_SIZE == 20
    assert gob.decode_session(beego.EMPTY_SESSION) == []
