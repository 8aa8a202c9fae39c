"""Key fingerprints (docs/frameworks/) and value sniffing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessdiag.codecs.gob import EMPTY_SESSION
from sessdiag.stores.redis import profiles as P

UUID = "0b8a0e5e-2d4e-4f5b-9a3c-6f1d2e3c4b5a"
IDX = ("org.springframework.session.FindByIndexNameSessionRepository"
       ".PRINCIPAL_NAME_INDEX_NAME")


@pytest.mark.parametrize(("key", "kind", "profile", "ns"), [
    (f"spring:session:sessions:{UUID}", P.SPRING, "spring-session", "spring:session"),
    (f"myapp:sessions:{UUID}", P.SPRING, "spring-session", "myapp"),
    (f"spring:session:myapp:sessions:{UUID}", P.SPRING, "spring-session", "spring:session:myapp"),
    (f"spring:session:sessions:expires:{UUID}", P.SHADOW, "spring-session", "spring:session"),
    ("spring:session:expirations:1404360060000", P.EXPIRATIONS, "spring-session",
     "spring:session"),
    (f"spring:session:index:{IDX}:alice", P.INDEX, "spring-session", "spring:session"),
    ("spring:session:sessions:expirations", P.SPRING_ZSET, "spring-session", "spring:session"),
    (f"spring:session:sessions:{UUID}:idx", P.SPRING_OTHER, "spring-session", "spring:session"),
    ("sess:" + "A" * 32, P.STRING, "connect-redis", "sess"),
    ("myapp:sess:" + "b-_" * 10 + "xy", P.STRING, "connect-redis", "myapp:sess"),
    (f"session:{UUID}", P.STRING, "flask-session", "session"),
    ("session:" + "a" * 43, P.STRING, "flask-session", "session"),
    (":1:django.contrib.sessions.cache" + "k" * 32, P.STRING, "django-cache",
     ":1:django.contrib.sessions.cache"),
    ("pfx:2:django.contrib.sessions.cached_db" + "0" * 32, P.STRING, "django-cache",
     "pfx:2:django.contrib.sessions.cached_db"),
    ("PHPREDIS_SESSION:" + "a" * 26, P.STRING, "php-redis", "PHPREDIS_SESSION"),
    ("PHPREDIS_CLUSTER_SESSION:" + "a" * 32, P.STRING, "php-redis", "PHPREDIS_CLUSTER_SESSION"),
    ("myapp:session:2::" + "f" * 64, P.STRING, "rails-session", "myapp:session"),
    ("2::" + "f" * 64, P.STRING, "rails-session", ""),
    ("0123456789abcdef" * 2, P.STRING, "beego-redis", ""),
    ("user:42", P.UNKNOWN, "", ""),
    ("0123456789ABCDEF" * 2, P.UNKNOWN, "", ""),
])
def test_classify(key: str, kind: int, profile: str, ns: str) -> None:
    assert P.classify(key.encode()) == (kind, profile, ns)



def _reference(key: bytes) -> P.Kind:
    """classify() as written before it used find() for `in` (commit 3fc6983)."""
    j = key.rfind(b":sessions:")
    if j > 0:
        rest = key[j + 10:]
        if rest and b":" not in rest:  # the hot path: a session hash
            if rest == b"expirations":
                return (P.SPRING_ZSET, "spring-session", P._nsc(key[:j]))
            return (P.SPRING, "spring-session", P._nsc(key[:j]))
        j = key.rfind(b":sessions:expires:")
        if j > 0 and len(key) > j + 18 and b":" not in key[j + 18:]:
            return (P.SHADOW, "spring-session", P._nsc(key[:j]))
    if b":sessions:" in key:
        if key.endswith(b":sessions:expirations"):
            return (P.SPRING_ZSET, "spring-session", P._ns(key[:-21]))
        m = P._SPRING_SHADOW.match(key)
        if m:
            return (P.SHADOW, "spring-session", P._ns(m.group(1)))
        m = P._SPRING_SESSION.match(key)
        if m:
            return (P.SPRING, "spring-session", P._ns(m.group(1)))
        m = P._SPRING_REACTIVE.match(key)
        if m:
            return (P.SPRING_OTHER, "spring-session", P._ns(m.group(1)))
    if b":expirations:" in key:
        m = P._SPRING_EXPIRATIONS.match(key)
        if m:
            return (P.EXPIRATIONS, "spring-session", P._ns(m.group(1)))
    if b":index:" in key:
        m = P._SPRING_INDEX.match(key)
        if m:
            return (P.INDEX, "spring-session", P._ns(m.group(1)))
    n = len(key)
    gates = P._STRING_GATES["any"]
    keys = P._STRING_KEYS if gates is None or gates.search(key) is not None \
        else P._STRING_GATES["ungated"]
    for gate, key_len, rx, profile in keys:  # the registry's order: most specific first
        if (key_len and n != key_len) or gate not in key:
            continue
        m = rx.match(key)
        if m:
            return (P.STRING, profile, P._ns(m.group(1)))
    return P._UNKNOWN


_PIECES = [b":sessions:", b"expires:", b"expirations", b":expirations:", b"1404360060000",
           b":index:", IDX.encode(), b":", b"sess:", b"session:", b"2::", b"PHPREDIS_",
           b"_cache", b"django.contrib.sessions.", b"0123456789abcdef", b"a", b"A" * 32,
           UUID.encode(), b"idx", b"f" * 64, b"k" * 32]


@given(st.lists(st.sampled_from(_PIECES), max_size=6).map(b"".join))
def test_classify_is_what_it_was(key: bytes) -> None:
    assert P.classify(key) == _reference(key)

@pytest.mark.parametrize(("value", "fmt"), [
    (b"", "empty"), (b"\xac\xed\x00\x05t\x00\x01a", "jdk"), (EMPTY_SESSION, "gob"),
    (b"\x80\x04\x95", "pickle"), (b"\x04\x08{\x00", "marshal"), (b'{"cookie":{}}', "json"),
    (bytes.fromhex("81aa5f7065726d616e656e74c3"), "msgpack"), (b"uid|i:42;", "php"),
    (b"a:1:{}", "php"), (b"hello", "other"),
])
def test_sniff(value: bytes, fmt: str) -> None:
    assert P.sniff(value) == fmt


def test_forced_profile_and_patterns() -> None:
    assert P.forced_kind("php-redis", b"custom:abc") == (P.STRING, "php-redis", "custom")
    assert P.forced_kind("spring-session-simple", b"x:y") == (P.SPRING, "spring-session", "x")
    with pytest.raises(Exception, match="unknown profile"):
        P.forced_kind("nope", b"k")
    assert P.pattern_namespace("app:sess:*") == "app:sess"
    assert P.pattern_namespace("*") == ""


def test_emptiness() -> None:
    assert P.string_empty("flask-session", bytes.fromhex(
        "80049512000000000000007d948c0a5f7065726d616e656e749488732e"), None) is True
    assert P.string_empty("php-redis", b"", None) is True
    assert P.string_empty("php-redis", b"a|i:1;", None) is False
    assert P.string_empty("beego-redis", EMPTY_SESSION, None) is True
    rails = [{"key": {"value": "_csrf_token"}, "value": {}}]
    assert P.string_empty("rails-session", b"x", rails) is True
    assert P.string_empty("django-cache", b"\x80\x05}\x94.", None) is None  # decode to tell


@given(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**31), 2**31 - 1))
def test_the_scanners_jdk_number_fast_path_reads_what_the_decoder_reads(long: int, i: int) -> None:
    from sessdiag.codecs import javaser
    from sessdiag.stores.redis.scanner import _LONG

    lv = javaser.LONG_PREFIX + long.to_bytes(8, "big", signed=True)
    iv = javaser.INTEGER_PREFIX + i.to_bytes(4, "big", signed=True)
    assert _LONG(lv) == P._spring_number(lv) == long
    assert _LONG(iv) == P._spring_number(iv) == i


@given(st.lists(st.tuples(
    st.sampled_from(["long", "int", "digits", "junk", "none"]),
    st.sampled_from(["long", "int", "digits", "junk", "none"]),
    st.sampled_from(["long", "int", "digits", "junk", "none"]),
    st.integers(1_000_000_000_000, 1_900_000_000_000)), min_size=1, max_size=8))
def test_spring_session_reads_its_numbers_as_the_general_decoder_does(rows) -> None:  # type: ignore[no-untyped-def]
    """spring_session's inline JDK Long/Integer reading against the general decoder alone
    (the JDK prefixes patched out of the scanner: every value then goes through it)."""
    from dataclasses import asdict

    from sessdiag.codecs import javaser
    from sessdiag.stores.rdb.keyspace import DumpScanner
    from sessdiag.stores.redis import scanner
    from sessdiag.stores.redis.scanner import ScanParams

    def enc(kind: str, n: int) -> bytes | None:
        return {"long": javaser.LONG_PREFIX + n.to_bytes(8, "big"),
                "int": javaser.INTEGER_PREFIX + (n % 100_000).to_bytes(4, "big"),
                "digits": b"%d" % n, "junk": b"\xac\xed\x00\x05junk", "none": None}[kind]

    def run() -> dict:
        sc = DumpScanner("x", ScanParams(now=1.9e9, age_edges=(60, 3600)), 0)
        g = sc.group("spring-session", "ns")
        for a, b, c, n in rows:
            cv, lv, mv = enc(a, n), enc(b, n + 5000), enc(c, 1800)
            if cv is None and lv is None and mv is None:
                continue
            sc.spring_session(g, b"ns:sessions:x", 60_000, cv, lv, mv, 100, True, None)
        return asdict(g)

    inline = run()
    saved = scanner.LONG_PREFIX, scanner.INTEGER_PREFIX
    try:
        scanner.LONG_PREFIX = scanner.INTEGER_PREFIX = b"\xff" * 90
        assert run() == inline
    finally:
        scanner.LONG_PREFIX, scanner.INTEGER_PREFIX = saved
