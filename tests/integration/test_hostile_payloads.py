"""Issue 19's hostile payloads, each as it would reach a user: through the CLI, against a real
store (a PHP `sess_*` file, or keys on a private redis-server). One bad session is one anomaly
(`undecodable`, or `bad_timestamps`), never an aborted scan (exit 70) or a dead interpreter; and
`inspect` of that one session is a one-line exit 2."""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
from pathlib import Path

from spring_data import SpringWriter


def test_spring_times_at_2_53_ms_are_an_anomaly_not_a_timeline(cli, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    now = time.time()
    now_ms = int(now * 1000)
    w = SpringWriter(r)
    for _ in range(3):
        w.session(now_ms, now_ms - 600_000, now_ms - 600_000)
    # A valid JDK Long: the hourly timelines once spanned 2.5e9 hours (2.6 GB, MemoryError).
    w.session(now_ms, 2**53, 2**53)
    res = cli("scan", url, "--json", "--now", str(now))
    assert res.code == 0, res.err
    rep = res.json()
    assert rep["sessions"] == 4
    assert rep["anomalies"]["bad_timestamps"] == 1
    g = rep["groups"][0]
    assert g["bad_timestamps"] == 1
    assert g["orphans"] == 3  # the bogus one is not counted never-reused from its times
    assert [row["count"] for row in g["creation_timeline"]] == [3]
    assert any("1 spring-session sessions" in n and "bad_timestamps" in n
               for n in rep["warnings"])



def test_a_policy_refuses_a_store_with_bad_timestamps(cli, redis_db, tmp_path):  # type: ignore[no-untyped-def]
    url, r = redis_db
    now_ms = int(time.time() * 1000)
    w = SpringWriter(r)
    w.session(now_ms, now_ms - 600_000, now_ms - 600_000)
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  max_anomalies: {bad_timestamps: 0, undecodable: 0}\n")
    ok = cli("check", url, "--policy", str(policy), "--json", "--now", str(now_ms / 1000))
    assert ok.code == 0, ok.err
    w.session(now_ms, 2**53, 2**53)
    bad = cli("check", url, "--policy", str(policy), "--json", "--now", str(now_ms / 1000))
    assert bad.code == 1, bad.err
    results = {x["rule"]: x for x in bad.json()["targets"][0]["results"]}
    assert results["max_anomalies.bad_timestamps"]["status"] == "fail"
    assert results["max_anomalies.bad_timestamps"]["measured"] == 1
    assert results["max_anomalies.undecodable"]["status"] == "pass"

# --- the decoder reproducers, as a user's store holds them -----------------------------------

REGRESSIONS = Path(__file__).resolve().parents[1] / "codecs" / "regressions"


def reproducer(codec: str, name: str) -> bytes:
    p = REGRESSIONS / codec / name
    data = p.read_bytes()
    return gzip.decompress(data) if p.suffix == ".gz" else data


def pickle_session(raw: bytes) -> bytes:
    """A pickled value as the one value of a session dict {"k": value} (protocol 4)."""
    if raw[2:3] == b"}":  # already a dict
        return raw
    assert raw[:2] == b"\x80\x04" and raw[-1:] == b"."
    return b"\x80\x04}\x8c\x01k" + raw[2:-1] + b"s."


def msgpack_session(raw: bytes) -> bytes:
    """A msgpack value as the one value of a Flask-Session map {"k": value}."""
    return b"\x81\xa1k" + raw


def one_line_or_json(res) -> None:  # type: ignore[no-untyped-def]
    """inspect of a hostile session: a one-line exit 2, or JSON that parses (exit 0)."""
    assert res.code in (0, 2), (res.code, res.err[-2000:])
    if res.code == 2:
        assert len(res.err.strip().splitlines()) == 1 and res.out == "", res.err
    else:
        json.loads(res.out)


def test_php_session_file_with_a_signed_sign(cli, tmp_path):  # type: ignore[no-untyped-def]
    root = tmp_path / "php"
    root.mkdir()
    good = [f"{i:026d}" for i in range(3)]
    for sid in good:
        (root / f"sess_{sid}").write_bytes(b'uid|i:7;name|s:3:"bob";')
    bad = []
    for i, raw in enumerate((reproducer("phpser", "int-sign-twice.bin"),
                             reproducer("phpser", "strlen-sign-twice.bin"))):
        assert raw in (b"x|i:-+5;", b'x|s:--1:"a";')
        sid = f"bad{i:023d}"
        (root / f"sess_{sid}").write_bytes(raw)
        bad.append(root / f"sess_{sid}")
    res = cli("scan", root, "--profile", "php-files", "--deep", "--json")
    assert res.code == 0, res.err
    rep = res.json()
    assert rep["sessions"] == 5 and rep["anomalies"]["undecodable"] == 2
    for f in bad:
        res = cli("inspect", f, "--json")
        assert res.code == 2 and res.out == ""
        assert len(res.err.strip().splitlines()) == 1 and "bad" in res.err


def test_spring_attribute_with_a_bracket_array_class(cli, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    now_ms = int(time.time() * 1000)
    w = SpringWriter(r)
    w.session(now_ms, now_ms - 60_000, now_ms - 30_000)
    sid = w.session(now_ms, now_ms - 60_000, now_ms - 30_000,
                    attrs={"cart": reproducer("javaser", "array-class-named-bracket.bin")})
    res = cli("scan", url, "--deep", "--json")
    assert res.code == 0, res.err  # was exit 70: IndexError aborted the whole scan
    (g,) = res.json()["groups"]
    assert g["sessions"] == 2 and g["undecodable"] == 1
    one_line_or_json(cli("inspect", url, sid, "--json"))



def test_spring_attribute_with_a_lone_surrogate_char(cli, redis_db):  # type: ignore[no-untyped-def]
    """A char[] holding half a surrogate pair (found by the fuzzer): no UTF-8 output can hold
    that code unit as a character, so it is named by its code and the session decodes."""
    url, r = redis_db
    now_ms = int(time.time() * 1000)
    w = SpringWriter(r)
    sid = w.session(now_ms, now_ms - 60_000, now_ms - 30_000,
                    attrs={"pin": reproducer("javaser", "char-array-lone-surrogate.bin")})
    res = cli("scan", url, "--deep", "--json")
    assert res.code == 0, res.err
    (g,) = res.json()["groups"]
    assert g["sessions"] == 1 and g["undecodable"] == 0
    shown = cli("inspect", url, sid, "--json", "--show-secrets")
    assert shown.code == 0, shown.err
    assert "U+DAC1" in shown.out
    plain = cli("inspect", url, sid)
    assert plain.code == 0, plain.err

PICKLES = ["tuple-key-150000-deep.bin.gz", "equal-1000-deep-tuple-keys.bin",
           "datetime-non-latin1.bin", "append-onto-object-400k.bin.gz", "memo-fan-out.bin",
           "long4-huge.bin"]
UNDECODABLE_PICKLES = {"tuple-key-150000-deep.bin.gz", "equal-1000-deep-tuple-keys.bin",
                       "memo-fan-out.bin"}


def test_pickles_under_flask_and_django_keys(cli, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    small = 0
    for i, name in enumerate(PICKLES):
        v = pickle_session(reproducer("pickleinspect", name))
        r.set(f"session:hostile-{i}", v, ex=3600)
        r.set(f":1:django.contrib.sessions.cache{i:032d}", v, ex=3600)
        # Values past the scanner's read limit are measured, not decoded (not undecodable).
        small += name in UNDECODABLE_PICKLES and len(v) <= 65536
    r.set("session:fine", b"\x80\x04}\x94\x8c\x07user_id\x94K\x07s.", ex=3600)
    res = cli("scan", url, "--deep", "--json")
    assert res.code == 0, res.err  # SIGSEGV, RecursionError, UnicodeEncodeError before
    groups = {g["profile"]: g for g in res.json()["groups"]}
    assert groups["flask-session"]["sessions"] == len(PICKLES) + 1
    assert groups["django-cache"]["sessions"] == len(PICKLES)
    assert groups["flask-session"]["undecodable"] == small
    assert groups["django-cache"]["undecodable"] == small
    for i, name in enumerate(PICKLES):
        res = cli("inspect", url, f"session:hostile-{i}", "--json")
        one_line_or_json(res)
        assert (res.code == 2) == (name in UNDECODABLE_PICKLES), (name, res.err)


def test_marshal_under_rails_keys(cli, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    keys = []
    for i, name in enumerate(("ivar-links-to-self.bin", "bignum-huge.bin")):
        raw = reproducer("rubymarshal", name)
        # {"k" => value}: a Hash of one pair, as rack's session hash.
        v = b"\x04\x08{\x06I\"\x06k\x06:\x06ET" + raw[2:]
        key = f"myapp:session:2::{i:064x}"
        r.set(key, v, ex=3600)
        keys.append(key)
    res = cli("scan", url, "--deep", "--json")
    assert res.code == 0, res.err
    (g,) = res.json()["groups"]
    assert g["profile"] == "rails-session" and g["sessions"] == 2 and g["undecodable"] == 0
    for key in keys:
        res = cli("inspect", url, key, "--json")
        assert res.code == 0, res.err  # exit 70 before: a cycle, an int past 4,300 digits
        json.loads(res.out)


def test_msgpack_flask_sessions(cli, redis_db):  # type: ignore[no-untyped-def]
    url, r = redis_db
    for i, name in enumerate(("empty-arrays-2mb.bin.gz", "map-1m-entries.bin.gz")):
        r.set(f"session:mp-{i}", msgpack_session(reproducer("msgpack", name)), ex=3600)
    res = cli("scan", url, "--deep", "--json")
    assert res.code == 0, res.err
    (g,) = res.json()["groups"]
    # Past the scanner's 64 KiB read limit: measured, not decoded; inspect reads them whole.
    assert g["profile"] == "flask-session" and g["sessions"] == 2 and g["oversized"] == 2
    for i in range(2):
        tracemalloc.start()
        try:
            res = cli("inspect", url, f"session:mp-{i}", "--json")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert res.code == 2 and len(res.err.strip().splitlines()) == 1, res.err
        assert peak < 64 * 1024 * 1024  # 537 MB before: 2 MB of arrays decoded to the budget


def test_connect_redis_cookie_with_an_absurd_max_age(cli, redis_db):  # type: ignore[no-untyped-def]
    # An empty express session whose cookie says originalMaxAge 1e300 ms: its birth hour
    # (expires - maxAge) is beyond any date: counted under bad_timestamps, kept out of the
    # hourly timeline, and the terminal view comes out (exit 0).
    url, r = redis_db
    r.set("sess:absurd", b'{"cookie":{"originalMaxAge":1e300,'
                         b'"expires":"2026-12-03T00:00:00.000Z","path":"/"}}', ex=3600)
    r.set("sess:fine", b'{"cookie":{"originalMaxAge":86400000,'
                       b'"expires":"2026-12-03T00:00:00.000Z","path":"/"},"userId":"a"}', ex=3600)
    res = cli("scan", url, "--json")
    assert res.code == 0, res.err
    (g,) = res.json()["groups"]
    assert g["profile"] == "connect-redis" and g["sessions"] == 2
    assert g["bad_timestamps"] == 1 and g["orphan_timeline"] == []
    res = cli("scan", url)  # exit 70 before: a timeline row with no hour (TypeError)
    assert res.code == 0, res.err
