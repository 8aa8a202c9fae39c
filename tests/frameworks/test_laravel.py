"""Laravel's encrypted session cookie: decrypted as the framework does, MAC first, key unseen.

The real vectors are the cookies a real Laravel 8 app set in the committed captures
(fixtures/laravel, tools/capture/laravel); their ids are what the app itself reported.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sessdiag.core.errors import DecodeError
from sessdiag.frameworks import laravel as lv

CAPTURES = Path(__file__).resolve().parents[2] / "fixtures" / "laravel"
KEY = lv.AppKey(bytes(range(32)))


def logged_cookies(driver: str) -> tuple[list[bytes], list[bytes]]:
    """(presented, set) raw cookie values of the capture's access log."""
    presented, sets = [], []
    for line in (CAPTURES / driver / "access.log").read_bytes().splitlines():
        fields = re.findall(rb'"([^"]*)"', line)
        if fields[-2] != b"-":
            presented.append(fields[-2])
        if fields[-1] != b"-":
            sets.append(fields[-1].removeprefix(b"laravel_session="))
    return presented, sets


def envelope_cbc(plain: bytes, key: lv.AppKey, iv: bytes = b"\x07" * 16) -> bytes:
    """What Laravel's Encrypter::encrypt($plain, false) gives with this IV (AES-CBC)."""
    pad = 16 - len(plain) % 16
    enc = Cipher(algorithms.AES(key.key), modes.CBC(iv)).encryptor()
    ct = enc.update(plain + bytes([pad]) * pad) + enc.finalize()
    iv64, v64 = base64.b64encode(iv).decode(), base64.b64encode(ct).decode()
    mac = hmac.new(key.key, (iv64 + v64).encode(), hashlib.sha256).hexdigest()
    doc = {"iv": iv64, "value": v64, "mac": mac, "tag": ""}
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode())


@pytest.mark.parametrize("driver", ["files", "redis"])
def test_every_cookie_of_the_real_app_decrypts_to_the_id_it_reported(driver):
    key = lv.key_from_dotenv(str(CAPTURES / driver / "app.env"))
    exp = json.loads((CAPTURES / driver / "expected.json").read_text())
    presented, sets = logged_cookies(driver)
    set_ids = [lv.sid_from_cookie(v, key) for v in sets]
    assert None not in set_ids and len(sets) == exp["facts"]["responses_setting_session_cookie"]
    expired = {p["presented"] for p in exp["facts"]["expired_cookie_pairs"]}
    issued = {sid for c in exp["clients"].values() for sid in c["issued_ids"]}
    # every id the app issued, and nothing else but the re-sent expired ids
    assert set(set_ids) == issued | expired
    # ids set again and again, re-encrypted each time: no raw value twice
    assert len(set(sets)) == len(sets) >= len(set(set_ids)) + 25
    # presented cookies: the ids, except the legacy client's garbage (not an envelope)
    got = [lv.sid_from_cookie(v, key) for v in presented]
    assert got.count(None) == exp["clients"]["127.0.0.8"]["requests"] == 5
    assert set(got) - {None} <= issued | expired


def test_the_prefix_is_41_characters_of_hmac_sha1_and_a_bar():
    key = lv.key_from_dotenv(str(CAPTURES / "files" / "app.env"))
    _, sets = logged_cookies("files")
    plain = lv.decrypt(sets[0], key)
    assert plain is not None and len(plain) == 81
    assert plain[:41] == lv.cookie_prefix("laravel_session", key)
    assert re.fullmatch(rb"[0-9a-f]{40}\|[A-Za-z0-9]{40}", plain)


def test_mac_is_checked_before_decrypting():
    sid = "A" * 40
    good = envelope_cbc(lv.cookie_prefix(lv.COOKIE, KEY) + sid.encode(), KEY)
    assert lv.sid_from_cookie(good, KEY) == sid
    doc = json.loads(base64.b64decode(good))
    for field, change in (("mac", lambda m: ("0" if m[0] != "0" else "1") + m[1:]),
                          ("value", lambda v: base64.b64encode(
                              bytes([base64.b64decode(v)[0] ^ 1]) + base64.b64decode(v)[1:])
                           .decode()),
                          ("iv", lambda v: base64.b64encode(b"\x08" * 16).decode())):
        bad = dict(doc, **{field: change(doc[field])})
        raw = base64.b64encode(json.dumps(bad).encode())
        assert lv.decrypt(raw, KEY) is None, field
    # the right envelope under another key fails the MAC too
    assert lv.decrypt(good, lv.AppKey(b"k" * 32)) is None


def test_cookie_of_another_name_or_without_a_valid_id_is_no_session():
    plain = lv.cookie_prefix("XSRF-TOKEN", KEY) + b"B" * 40
    assert lv.decrypt(envelope_cbc(plain, KEY), KEY) == plain
    assert lv.sid_from_cookie(envelope_cbc(plain, KEY), KEY) is None
    short = lv.cookie_prefix(lv.COOKIE, KEY) + b"B" * 39
    assert lv.sid_from_cookie(envelope_cbc(short, KEY), KEY) is None
    # the app's own cookie name decides the prefix
    mine = lv.cookie_prefix("shop_session", KEY) + b"C" * 40
    assert lv.sid_from_cookie(envelope_cbc(mine, KEY), KEY, "shop_session") == "C" * 40
    assert lv.sid_from_cookie(envelope_cbc(mine, KEY), KEY) is None


def test_pre_prefix_laravel_serialized_the_id():
    raw = envelope_cbc(b's:40:"' + b"D" * 40 + b'";', KEY)
    assert lv.sid_from_cookie(raw, KEY) == "D" * 40


def test_gcm_envelopes_and_128_bit_keys():
    key16 = lv.AppKey(b"0123456789abcdef")
    plain = lv.cookie_prefix(lv.COOKIE, key16) + b"E" * 40
    assert lv.sid_from_cookie(envelope_cbc(plain, key16), key16) == "E" * 40
    iv = b"\x01" * 12
    ct_tag = AESGCM(KEY.key).encrypt(iv, lv.cookie_prefix(lv.COOKIE, KEY) + b"F" * 40, None)
    doc = {"iv": base64.b64encode(iv).decode(), "value": base64.b64encode(ct_tag[:-16]).decode(),
           "mac": "", "tag": base64.b64encode(ct_tag[-16:]).decode()}
    raw = base64.b64encode(json.dumps(doc).encode())
    assert lv.sid_from_cookie(raw, KEY) == "F" * 40
    doc["tag"] = base64.b64encode(b"\0" * 16).decode()
    assert lv.sid_from_cookie(base64.b64encode(json.dumps(doc).encode()), KEY) is None


@pytest.mark.parametrize("raw", [b"", b"-", b"0123456789abcdefghijklmnop", b"%ZZ",
                                 base64.b64encode(b"[1,2]"), base64.b64encode(b'{"iv":1}'),
                                 base64.b64encode(b'{"iv":"","value":"","mac":""}'),
                                 b"\xff\xfe" * 40])
def test_garbage_is_no_session_not_an_error(raw):
    assert lv.sid_from_cookie(raw, KEY) is None


def test_the_key_is_never_shown():
    secret = "base64:" + base64.b64encode(b"S" * 32).decode()
    key = lv.AppKey.parse(secret)
    for text in (repr(key), str(key), f"{key}", repr([key])):
        assert "SSSS" not in text and secret[7:] not in text and "32 bytes" in text
    for bad in ("base64:!!notbase64!!", "tooshort", "base64:" + base64.b64encode(b"x" * 20)
                .decode()):
        with pytest.raises(lv.AppKeyError) as ei:
            lv.AppKey.parse(bad)
        assert bad.removeprefix("base64:") not in str(ei.value)


def test_dotenv_cookie_name_and_redis_namespace(tmp_path):
    env = tmp_path / ".env"
    key64 = base64.b64encode(b"K" * 32).decode()
    env.write_text(f'# comment\nexport APP_NAME="My Shop-Front"\nAPP_KEY=base64:{key64} '
                   '# the key\nREDIS_PREFIX=\n')
    vals = lv.read_dotenv(str(env))
    assert vals["APP_NAME"] == "My Shop-Front"
    assert lv.key_from_dotenv(str(env)).key == b"K" * 32
    assert lv.cookie_name_from_env(vals) == "my_shop_front_session"
    assert lv.cookie_name_from_env({}) == "laravel_session"
    assert lv.cookie_name_from_env({"SESSION_COOKIE": "sid"}) == "sid"
    assert lv.redis_namespace_from_env({}) == "laravel_database_laravel_cache"
    assert lv.redis_namespace_from_env(vals) == "my_shop_front_cache"
    assert lv.slug("Acme@Home  Ltd.") == "acme_at_home_ltd"
    (tmp_path / "nokey.env").write_text("APP_NAME=x\n")
    with pytest.raises(lv.AppKeyError, match="no APP_KEY"):
        lv.key_from_dotenv(str(tmp_path / "nokey.env"))
    with pytest.raises(lv.AppKeyError, match="cannot read"):
        lv.key_from_dotenv(str(tmp_path / "missing.env"))


# --- payloads


def test_file_payloads_of_the_real_app_decode_and_orphans_hold_only_what_laravel_puts():
    store = json.loads((CAPTURES / "files" / "store.json").read_text())["files"]
    exp = json.loads((CAPTURES / "files" / "expected.json").read_text())
    entries = {sid: lv.decode_file_payload(base64.b64decode(f["payload_b64"]))
               for sid, f in store.items()}
    keys = {sid: {e["key"]["value"] for e in es} for sid, es in entries.items()}
    trivial = {sid for sid, ks in keys.items() if ks <= lv.TRIVIAL_KEYS}
    for ip in ("127.0.0.5", "127.0.0.13"):  # the cookieless clients on / and /ping
        assert set(exp["clients"][ip]["orphan_ids"]) <= trivial
    logged_in = {sid for sid, ks in keys.items() if any(k.startswith("login_web_") for k in ks)}
    assert logged_in and not logged_in & trivial
    assert all(keys[sid] == {"_token", "_previous", "_flash"} for sid in trivial)


def test_redis_values_of_the_real_app_are_serialized_twice():
    doc = json.loads((CAPTURES / "redis" / "redis.json").read_text())
    for k in doc["keys"]:
        v = bytes.fromhex(k["value_hex"])
        inner = lv.unwrap_cache_value(v)
        assert inner.startswith(b"a:") and lv.decode_redis_payload(v) == \
            lv.decode_file_payload(inner)
    with pytest.raises(DecodeError):  # a file payload is not wrapped
        lv.decode_redis_payload(inner)


@pytest.mark.parametrize("data", [b"", b"i:5;", b's:3:"abc";', b"a:1:{", b"eyJpdiI6Ijx",
                                  b'a:1:{s:1:"a";i:1;}junk'])
def test_bad_file_payloads_are_decode_errors(data):
    with pytest.raises(DecodeError):
        lv.decode_file_payload(data)


@pytest.mark.parametrize("data", [b"", b"42", b's:5:"a:0:{}";', b's:4:"a:0:{}"',
                                  b's:99999999999999:"x";', b's:4:"a:0:{}";x'])
def test_bad_cache_wrappings_are_decode_errors(data):
    with pytest.raises(DecodeError):
        lv.decode_redis_payload(data)


# --- the profiles on the seam


def test_redis_keys_laravel_writes_and_cache_keys_it_does_not():
    from sessdiag.stores.redis import profiles as P

    sid = "NhCo8Kk1xKHIO981DwNCCoF4XhyQWKyEm30F6X6A"
    for ns in ("laravel_database_laravel_cache", "shop_database_shop_cache", "laravel_cache",
               "laravel_database_laravel_cache_"):
        assert P.classify(f"{ns}:{sid}".encode()) == (P.STRING, "laravel-redis", ns)
    sha1 = hashlib.sha1(b"throttle").hexdigest()
    assert P.classify(f"laravel_database_laravel_cache:{sha1}".encode())[1] != "laravel-redis"
    assert P.classify(b"laravel_database_laravel_cache:" + b"A" * 39)[1] != "laravel-redis"
    assert lv.REDIS.redis.key_for("laravel_database_laravel_cache", sid) == \
        f"laravel_database_laravel_cache:{sid}".encode()


def test_uninitialised_means_only_what_start_session_puts_there():
    store = json.loads((CAPTURES / "files" / "store.json").read_text())["files"]
    payloads = [base64.b64decode(f["payload_b64"]) for f in store.values()]
    verdicts = [lv.FILES.is_empty(p, lv.decode_file_payload(p)) for p in payloads]
    assert verdicts.count(True) == 72 and verdicts.count(False) == 5
    users = {lv.FILES.principal(lv.decode_file_payload(p)) for p in payloads} - {None}
    assert users == {"user0", "user1", "user2", "racer"}


def test_detection_votes_for_a_flat_directory_of_ids():
    from sessdiag.frameworks.base import TreeSample

    name_re = re.compile("(" + lv.SID + ")")
    top = [("A" * 40, True), ("b" * 40, True), (".gitignore", True), ("x" * 40, False)]
    assert lv.FILES.files.vote(TreeSample(top=top, shards=[]), name_re) == {0: 2}
    assert lv.FILES.files.vote(TreeSample(top=[("sess_" + "a" * 26, True)], shards=[]),
                               name_re) == {}


def test_keyed_mapping_takes_an_id_as_is_and_needs_the_key_for_a_cookie():
    raw = envelope_cbc(lv.cookie_prefix(lv.COOKIE, KEY) + b"G" * 40, KEY)
    assert lv.keyed_sid(raw, KEY, lv.COOKIE) == "G" * 40
    assert lv.keyed_sid(raw, None, lv.COOKIE) is None
    assert lv.keyed_sid(b"H" * 40, None, lv.COOKIE) == "H" * 40  # the log compared by id
    from sessdiag import frameworks

    assert frameworks.sid_from_cookie(raw, "laravel-redis", lv.COOKIE, KEY) == "G" * 40
    assert frameworks.sid_from_cookie(raw, None, lv.COOKIE, KEY) == "G" * 40
    assert frameworks.sid_from_cookie(raw, "laravel-files", lv.COOKIE) is None


def test_load_app_reads_key_cookie_and_lifetime_from_the_env(tmp_path):
    env = tmp_path / ".env"
    env.write_text(f"APP_NAME=Shop\nAPP_KEY=base64:{base64.b64encode(b'Q' * 32).decode()}\n"
                   "SESSION_LIFETIME=30\n")
    app = lv.load_app(None, str(env))
    assert (app.key.key, app.cookie_name, app.lifetime_s, app.namespace) == \
        (b"Q" * 32, "shop_session", 1800, "shop_database_shop_cache")
    assert "QQQQ" not in repr(app)
    env.write_text(f"APP_KEY=base64:{base64.b64encode(b'Q' * 32).decode()}\n")
    app = lv.load_app(None, str(env))
    assert (app.cookie_name, app.lifetime_s) == ("laravel_session", 7200) and app.notes
    flag = lv.load_app("base64:" + base64.b64encode(b"R" * 32).decode(), str(env))
    assert flag.key.key == b"R" * 32  # --app-key wins over the .env's
    assert lv.load_app(None, None) == lv.AppSettings()
