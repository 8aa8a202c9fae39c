"""The dump scan's fast path (stores/rdb/fast.py, DumpScanner.want answering DONE) reads and
counts exactly what the general path (Parser.value, then DumpScanner.record) does.

Value by value: any hash, string or shadow value the fast readers accept reads as the parser
reads it, and one they do not accept (an integer encoding, a corrupt LZF string, a value cut
by the buffer's end) leaves the reader where it was. Dump by dump: a scan with the fast path
gives the same report, key for key, as one without it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from rdb_vectors import REPO, W

from sessdiag.stores import ScanSettings, open_store
from sessdiag.stores.rdb import fast, lzf
from sessdiag.stores.rdb.errors import RdbCorrupt
from sessdiag.stores.rdb.keyspace import SPRING_FIELDS, DumpScanner
from sessdiag.stores.rdb.parser import SKIP, SOME, Parser, Record
from sessdiag.stores.rdb.reader import Reader
from sessdiag.stores.redis import profiles as P
from sessdiag.stores.redis.scanner import ScanParams

LONG = (REPO / "fixtures" / "java" / "long_creation_time.ser").read_bytes()  # a JDK Long
FIELDS = [b"creationTime", b"lastAccessedTime", b"maxInactiveInterval", P.PRINCIPAL_ATTR,
          b"sessionAttr:user", b"sessionAttr:" + b"x" * 90, b"other", b""]
ENCODINGS = ["raw", "raw", "lzf", "lzf-repeat:2", "int", "lzf-bad"]


def _string(v: bytes, enc: str) -> bytes:
    if enc == "int":
        return W.string(len(v))  # an integer-encoded string (digits)
    if enc == "lzf-bad":  # declares one byte more than it expands to
        comp = W.lzf_literal(v)
        return b"\xc3" + W.length(len(comp)) + W.length(len(v) + 1) + comp
    if enc.startswith("lzf-repeat") and (len(v) < 4 or len(v) % 2):
        enc = "lzf"
    if enc.startswith("lzf") and not v:
        enc = "raw"
    return W.string(v, enc)


values = st.one_of(st.binary(max_size=40), st.just(LONG), st.just(b"ab" * 8200),
                   st.just(b'"alice"'), st.just(b"\xac\xed\x00\x05t\x00\x05alice"))
pairs = st.lists(st.tuples(st.sampled_from(FIELDS), st.sampled_from(ENCODINGS), values,
                           st.sampled_from(ENCODINGS)), max_size=7)


def _general(payload: bytes) -> tuple | None:
    """Parser.value's SOME read, then the facts on_spring takes from the hash."""
    p = Parser(Reader(io.BytesIO(payload)), lambda *a: SOME, lambda r: None)
    p.keep = SPRING_FIELDS
    rec = Record()
    p.value(rec, 4, SOME)
    if rec.error is not None:
        return None
    h = rec.value
    assert isinstance(h, list)
    d = dict(zip(h[0::2], h[1::2], strict=True))
    empty = not (len(d) > 3 and any(f[:12] == b"sessionAttr:" for f in d))
    return (rec.size, d.get(b"creationTime"), d.get(b"lastAccessedTime"),
            d.get(b"maxInactiveInterval"), d.get(P.PRINCIPAL_ATTR), sum(map(len, h)), empty,
            rec.raw)


@given(pairs)
def test_a_spring_hash_reads_as_the_parser_reads_it(fields):
    payload = W.length(len(fields)) + b"".join(
        _string(f, fe) + _string(v, ve) for f, fe, v, ve in fields)
    want = _general(payload)
    got = fast.spring_hash(payload, 0)
    plain = all(fe != "int" and fe != "lzf-bad" and ve != "int" and ve != "lzf-bad"
                for _, fe, _, ve in fields)
    if want is None:
        assert got is None
    elif got is not None:
        assert got == want[:7]
        assert want[5] == want[7]  # the lookup index's size: the record's string bytes
    if plain:
        assert got is not None  # the bulk shape is read here, not handed back
    for cut in range(len(payload)):  # past the buffer's end: never a wrong answer
        with contextlib.suppress(fast.SHORT):
            assert fast.spring_hash(payload[:cut], 0) is None


INTEGER = (REPO / "fixtures" / "java" / "integer_1800.ser").read_bytes()  # a JDK Integer
TIMES = {b"creationTime": LONG, b"lastAccessedTime": LONG, b"maxInactiveInterval": INTEGER}
# Spring hashes whose time fields mostly hold the exact JDK values (raw), in any order
jdk_pairs = st.lists(st.one_of(
    st.tuples(st.sampled_from(FIELDS), st.sampled_from(ENCODINGS), values,
              st.sampled_from(ENCODINGS)),
    st.sampled_from(sorted(TIMES)).map(lambda f: (f, "raw", TIMES[f], "raw")),
    st.sampled_from(sorted(TIMES)).map(lambda f: (f, "raw", TIMES[f], "raw"))), max_size=7)


def _number(v: bytes | None) -> int | None:
    if v is None:
        return None
    assert v[:-8] == LONG[:74] or v[:-4] == INTEGER[:77]  # (only these read as numbers)
    return int.from_bytes(v[74:] if len(v) == 82 else v[77:], "big", signed=True)


@given(jdk_pairs)
@example([(b"creationTime", "raw", LONG, "raw"), (b"maxInactiveInterval", "raw", INTEGER, "raw"),
          (b"lastAccessedTime", "raw", LONG, "raw")])
@example([(b"creationTime", "raw", LONG, "raw"), (b"creationTime", "raw", LONG, "raw")])
@example([(b"creationTime", "raw", LONG, "raw")] * 3 + [(b"other", "raw", b"x", "raw")])
def test_a_jdk_spring_hash_reads_as_spring_hash_reads_it(fields):
    """spring_jdk: spring_hash's facts with the time fields' numbers, or None; the plain JDK
    shape is read (not handed back)."""
    payload = W.length(len(fields)) + b"".join(
        _string(f, fe) + _string(v, ve) for f, fe, v, ve in fields)
    want = fast.spring_hash(payload, 0)
    got = fast.spring_jdk(payload, 0)
    if got is not None:
        assert want is not None
        end, cv, lv, mv, pv, nbytes, empty = want
        assert got == (end, _number(cv), _number(lv), _number(mv), pv, nbytes, empty)
    times = [f for f, *_ in fields if f in TIMES]
    plain = all(fe == "raw" and ve == "raw" and v == TIMES[f] for f, fe, v, ve in fields
                if f in TIMES) and len(set(times)) == len(times) and want is not None
    if plain:
        assert got is not None
    for cut in range(len(payload)):  # past the buffer's end: never a wrong answer
        with contextlib.suppress(fast.SHORT):
            assert fast.spring_jdk(payload[:cut], 0) is None


def _reader(payload: bytes) -> Reader:
    return Reader(io.BytesIO(payload))


@given(values, st.sampled_from(ENCODINGS), st.sampled_from([0, 5, 256, 65535]))
def test_a_string_reads_as_the_reader_reads_it(v, enc, cap):
    payload = _string(v, enc) + b"tail"
    r = _reader(payload)
    head = r.head(cap, 65536)
    got = fast.head(payload, 0, cap)
    if r.bad is not None or (r.cut and r.packed is None and not head):
        assert got is None
    elif got is not None:
        assert got == (r.pos, head[:cap] if r.packed is None else head)
    r = _reader(payload)
    whole = r.string(cap)
    got = fast.string(payload, 0, cap)
    if r.bad is not None or r.cut:
        assert got is None
    elif got is not None:
        assert got == (r.pos, whole)
    r = _reader(payload)
    r.skip_string()
    assert fast.skip_string(payload, 0) == r.pos


@given(st.lists(st.tuples(st.sampled_from([b"v" * 40, b"v" * 41, b"ab" * 30, b"abc" * 9]),
                          st.sampled_from(["lzf", "lzf-repeat:2", "lzf-bad"]),
                          st.sampled_from([0, 5, 30, 256])), max_size=12))
def test_a_remembered_lzf_head_is_the_one_expanded(seq):
    # the same compressed strings again, under other lengths and caps: what the memo answers
    # is what expanding them gives
    for v, enc, cap in seq + seq:
        payload = _string(v, enc) + b"tail"
        z = fast._lzf(payload, 0)
        assert z is not None
        start, clen, ulen = z
        try:
            want = (start + clen, lzf.decompress(payload[start:start + clen], ulen, cap))
        except RdbCorrupt:
            want = None
        assert fast.head(payload, 0, cap) == want


@given(st.sampled_from([10, 11, 12, 13, 14, 16, 17, 18, 20, 23, 1, 2, 4]),
       st.lists(st.binary(max_size=30), min_size=1, max_size=6), st.sampled_from(ENCODINGS))
def test_a_compact_value_is_walked_as_the_parser_walks_it(t, items, enc):
    if t == 11:
        payload = _string(W.intset(list(range(len(items)))), "raw")
    elif t in (14, 18):
        node = W.listpack(items) if t == 18 else W.ziplist(items)
        payload = W.length(2) + b"".join((W.length(2) if t == 18 else b"") + _string(node, enc)
                                        for _ in range(2))
    elif t in (1, 2, 4):
        payload = W.length(len(items)) + b"".join(
            _string(x, enc) * (2 if t == 4 else 1) for x in items)
    else:
        payload = _string(W.listpack(items) if t in (16, 17, 20, 23) else W.ziplist(items), enc)
    p = Parser(_reader(payload + b"tail"), lambda *a: SKIP, lambda r: None)
    p.value(Record(), t, SKIP)
    end = fast.skip_value(payload + b"tail", 0, t)
    assert end in (-1, p.r.pos)
    if t not in (1, 2, 4) and enc != "lzf-bad":
        assert end == p.r.pos
        for cut in range(len(payload)):
            with contextlib.suppress(fast.SHORT):
                assert fast.skip_value(payload[:cut], 0, t) == -1


keys = st.lists(st.sampled_from([b"a", b":", b"sessions", b":sessions:", b"expires:", b"b",
                                  b"expirations", b"x:y", b"\xff", b"123"]),
               max_size=6).map(b"".join)


@given(st.lists(keys, min_size=1, max_size=4))
@example([b"ns:sessions:expirations", b"ns:sessions:", b"ns:sessions:expires:i",
          b"ns:sessions:expires:", b"ns:sessions:expires:a:b"])
def test_want_classifies_each_key_as_classify_does(names):
    """want()'s shortcut for session keys (by namespace, remembered) and its memo of
    classifications name the kind, profile and namespace that classify() names."""
    from sessdiag.stores.redis.scanner import ScanParams

    sc = DumpScanner("x", ScanParams(now=0.0, age_edges=(60,)), 0)
    # each key, then a session and a shadow key of its namespace (a wrong remembered
    # namespace shows)
    names = [k for n in names for ns in [n[:max(n.rfind(b":sessions:"), 0)]]
             for k in (n, ns + b":sessions:i", ns + b":sessions:expires:i")]
    for key in names * 2:
        sc.want(0, key, 4)
        kind, prof, ns = P.classify(key)
        e = sc._e
        if e is None:
            assert kind not in (P.SPRING, P.SHADOW, P.STRING, P.UNKNOWN)
            continue
        assert e[0] == kind
        if e[1] is not None:
            assert (e[1].profile, e[1].namespace, e[4]) == (prof, ns, ns.encode())


def test_the_principal_attribute_is_the_profiles_one():
    assert fast._PRINCIPAL == P.PRINCIPAL_ATTR
    assert P.PRINCIPAL_ATTR in SPRING_FIELDS


def _dump(tmp_path: Path) -> Path:
    """Spring sessions of every shape in three namespaces (LZF, integer and listpack values,
    no TTL with an idle time, past their expiry, bad times, principals, no time fields),
    shadow keys with and without their session, string sessions and noise."""
    now = 1_790_000_000_000
    w = W.RdbWriter(11)
    w.aux(b"ctime", str(now // 1000).encode())
    w.select(0)
    long_prefix = LONG[:74]
    for i in range(240):
        ns = (b"spring:session", b"shop", b"legacy")[i % 3]
        sid = b"%08d-2f0e-4b35-9a4c-0123456789ab" % i
        created = now - i * 97_000
        last = created if i % 5 else created + 60_000
        if i % 17 == 0:
            created = 2**53
        f = [(b"creationTime", long_prefix + created.to_bytes(8, "big")),
             (b"lastAccessedTime", long_prefix + last.to_bytes(8, "big")),
             (b"maxInactiveInterval", b"1800" if i % 7 else b"-1")]
        if i % 4 == 0:
            f.append((P.PRINCIPAL_ATTR, b"\xac\xed\x00\x05t\x00\x05user%d" % (i % 10)))
            f.append((b"sessionAttr:cart", b"z" * (30 + i)))
        if i % 8 == 1:  # three fields, one an attribute: empty (by the count of fields)
            f = [*f[:2], (b"sessionAttr:cart", b"c")]
        elif i % 8 == 3:  # four fields, three distinct: empty too
            f = [*f[:2], (b"sessionAttr:a", b"1"), (b"sessionAttr:a", b"2")]
        elif i % 8 == 5:  # a principal, and a field written twice
            f = [*f, (P.PRINCIPAL_ATTR, b'"user%d"' % i), (b"lastAccessedTime", b"%d" % now)]
        if i % 23 == 0:
            f = [(b"sessionAttr:only", b"x")]
        enc = ("raw", "lzf", "lzf-repeat:2")[i % 3]
        payload = W.length(len(f)) + b"".join(
            W.string(k) + _string(v, enc if k != b"maxInactiveInterval" else "raw")
            for k, v in f)
        if i % 19 == 0:
            payload = W.length(1) + W.string(b"creationTime") + W.string(12345)
        expire = None if i % 11 == 0 else now + (i - 40) * 60_000
        w.key(4, ns + b":sessions:" + sid, payload, expire_ms=expire,
              idle=i if expire is None else None)
        if i % 3 != 2 and i % 6:
            w.key(0, ns + b":sessions:expires:" + sid, W.string(b""),
                  expire_ms=None if i % 13 == 0 else now + i * 1000)
        if i % 29 == 0:
            w.key(0, ns + b":sessions:expires:" + b"gone%04d" % i, W.string(b""))
    json_hash = [b"creationTime", b"1789999000000", b"lastAccessedTime", b"1789999500000",
                 b"maxInactiveInterval", b"1800"]
    for i in range(20):
        w.key(16, b"myapp:sessions:%04d" % i, W.string(W.listpack(json_hash)))
    gob = bytes.fromhex("0eff81040102ff820001100110000004ff820000")
    for i in range(60):
        w.key(0, b"%032x" % (i * 7919), W.string(gob if i % 3 else gob + b"\x01" * i),
              expire_ms=None if i % 20 == 7 else now + i * 1000,
              idle=i if i % 20 == 7 else None)
        w.key(0, b"cache:item:%d" % i, _string(b"v" * (i + 5), "lzf-repeat:1" if i > 3
                                                else "raw"))
    w.key(0, b"counter", W.string(42))
    for i in range(12):  # noise of every compact encoding, and a session known by its value
        w.key(16, b"user:profile:%d" % i, W.string(W.listpack([b"name", b"n%d" % i])))
        w.key(18, b"queue:%d" % i, W.length(2) + b"".join(
            W.length(2) + W.string(W.listpack([b"job%d" % j for j in range(i + 1)]))
            for _ in range(2)))
        w.key(11, b"tags:%d" % i, W.string(W.intset(list(range(i + 1)))))
        w.key(20, b"set:%d" % i, W.string(W.listpack([b"a", b"b%d" % i])))
        w.key(17, b"board:%d" % i, W.string(W.listpack([b"m", b"1"])))
        w.key(2, b"plain:set:%d" % i, W.length(1) + W.string(b"x"))
        w.key(0, b"app:s:%02d" % i, _string(gob + b"\x00" * (i * 20), "lzf" if i % 2
                                             else "raw"), expire_ms=now + 1000)
        w.key(0, b"sess:%032x" % i, W.string(
            b'{"cookie":{"originalMaxAge":86400000,"expires":"2026-09-21T12:00:00.000Z"}%s}'
            % (b',"passport":{"user":"u%d"}' % i if i % 2 else b"")), expire_ms=now + 5000)
    p = tmp_path / "dump.rdb"
    p.write_bytes(w.finish())
    return p


def _scan(p: Path, **kw: object) -> tuple[dict, list[int] | None]:
    store = open_store(str(p))
    try:
        rep = store.scan(ScanSettings(**kw))  # type: ignore[arg-type]
        index = list(store.index) if store.index is not None else None
    finally:
        store.close()
    for k in ("duration_s", "mb_per_s"):
        rep["scan"].pop(k)
    return rep, index


@pytest.mark.parametrize(("sample", "track"), [(0, None), (3, None), (1000, None), (3, 16)])
def test_a_scan_reports_the_same_with_and_without_the_fast_path(tmp_path, monkeypatch, sample,
                                                                 track):
    """(track: companion checks over a hash sample of the keys, halved as the tracked keys
    pass that many.)"""
    from sessdiag.stores.rdb import keyspace

    if track is not None:
        monkeypatch.setattr(keyspace, "TRACK_LIMIT", track)
    p = _dump(tmp_path)
    fast_rep, fast_index = _scan(p, sample=sample)
    with monkeypatch.context() as m:  # want() alone (no run of records read by run_fast)
        m.setattr(DumpScanner, "fast_reader", lambda self: None)
        want_rep, want_index = _scan(p, sample=sample)
    monkeypatch.setattr(DumpScanner, "bind", lambda self, parser: None)
    general, general_index = _scan(p, sample=sample)
    assert fast_rep == want_rep == general
    assert fast_index == want_index == general_index
    assert fast_rep["sessions"] > 300
    assert (fast_rep["dump"]["companion_check_share"] < 1) == (track is not None)


def test_spring_hashes_not_read_as_jdk_ones_report_the_same(tmp_path, monkeypatch):
    """fast.spring_jdk answering None (a dump of JSON sessions, say) hands every hash to
    fast.spring_hash, and past 1,000 such hashes the scan stops trying it: the same report."""
    from sessdiag.stores.rdb import keyspace

    p = _dump(tmp_path)
    rep, _ = _scan(p, sample=0)
    calls = []
    monkeypatch.setattr(keyspace, "spring_jdk", lambda buf, pos: calls.append(pos))
    assert _scan(p, sample=0)[0] == rep
    assert len(calls) > 100
    sc = DumpScanner("x", ScanParams(now=0.0, age_edges=(60,)), 0)
    sc.group("spring-session", "ns").sessions = 2500
    for _ in range(1000):
        sc._jdk_missed()
    assert sc._jdk  # 1,000 missed, 2,500 sessions: still tried
    for _ in range(1000):
        sc._jdk_missed()
    assert not sc._jdk  # 2,000 of 2,500


def test_progress_is_told_every_10000_keys_whoever_reads_them(tmp_path, monkeypatch):
    """run_fast counts its keys per run: progress still comes in steps of 10,000, then the
    rest, as when want() reads every key."""
    now = 1_790_000_000_000
    w = W.RdbWriter(11)
    w.aux(b"ctime", str(now // 1000).encode())
    w.select(0)
    gob = bytes.fromhex("0eff81040102ff820001100110000004ff820000")
    for i in range(25_003):
        if i % 3 == 0:
            w.key(0, b"%032x" % i, W.string(gob), expire_ms=now + 60_000)
        elif i % 3 == 1:
            w.key(0, b"ns:sessions:expires:%d" % i, W.string(b""), expire_ms=now + 1000)
        else:
            w.key(0, b"cache:item:%d" % i, W.string(b"v%d" % i))
    p = tmp_path / "dump.rdb"
    p.write_bytes(w.finish())

    def steps() -> list[int]:
        told: list[int] = []
        store = open_store(str(p))
        try:
            store.scan(ScanSettings(), told.append)
        finally:
            store.close()
        return told

    fast_steps = steps()
    monkeypatch.setattr(DumpScanner, "fast_reader", lambda self: None)
    assert fast_steps == steps() == [10_000, 10_000, 5_003]


_SAMPLED_SCAN = """
import json, sys
from sessdiag.stores import ScanSettings, open_store
from sessdiag.stores.rdb import keyspace
keyspace.TRACK_LIMIT = 16
store = open_store(sys.argv[1])
rep = store.scan(ScanSettings(sample=3))
store.close()
for k in ("duration_s", "mb_per_s"):
    rep["scan"].pop(k)
print(json.dumps(rep, sort_keys=True, default=str))
"""


def test_a_sampled_scan_gives_the_same_report_whatever_the_hash_seed(tmp_path):
    """Past TRACK_LIMIT the companion checks cover a hash sample: the same keys in every
    process, whatever PYTHONHASHSEED seeds Python's own hash of bytes with."""
    p = _dump(tmp_path)
    reports = []
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", _SAMPLED_SCAN, str(p)], env=env,
                             capture_output=True, text=True, check=True).stdout
        reports.append(json.loads(out))
    assert reports[0]["dump"]["companion_check_share"] < 1
    assert reports[0] == reports[1] == reports[2]


def test_the_tracked_keys_are_the_hash_sample_they_are_said_to_be(monkeypatch):
    from sessdiag.stores.rdb import keyspace
    from sessdiag.stores.redis.scanner import ScanParams

    monkeypatch.setattr(keyspace, "TRACK_LIMIT", 64)
    sc = DumpScanner("x", ScanParams(now=0.0, age_edges=(60,)), 0)
    for i in range(1000):
        sc.want(0, b"ns:sessions:%d" % i, 4)
        sc.exists_check(b"ns:sessions:x%d" % i, lambda x: None)
    mask = (1 << sc.sample_shift) - 1
    assert sc.sample_shift > 0 and sc._mask == mask
    assert all(not h & mask for h in sc.seen)
    assert all(not p[0] & mask for p in sc.pending)
    assert len(sc.seen) + len(sc.pending) <= 64


@pytest.mark.parametrize("sample", [0, 2])
def test_remembered_value_facts_count_as_computed_ones(monkeypatch, sample):
    """string_session remembers a short value's format and emptiness: the same groups as
    when it remembers nothing, for repeated and distinct values of every kind."""
    from dataclasses import asdict

    from sessdiag.stores.redis import scanner
    from sessdiag.stores.redis.scanner import NodeScanner, ScanParams

    gob = bytes.fromhex("0eff81040102ff820001100110000004ff820000")
    values = [gob, gob, b"", b"x", b'{"cookie":{}}', b"a|s:1:\"b\";", gob + b"\x01",
              b"\x80\x04}\x94.", b"\x04\x08{\x00", gob, b"", b"\x81\xa1a\x01"] * 3
    profiles = ["beego-redis", "php-redis", "flask-session", "connect-redis", "rails-session"]

    def run() -> list[dict]:
        sc = DumpScanner("x", ScanParams(now=1.79e9, age_edges=(60,), sample=sample), 0)
        for i, v in enumerate(values):
            prof = profiles[i % len(profiles)]
            NodeScanner.string_session(sc, sc.group(prof, "ns"), b"k%d" % i, prof, 1000 * i, v)
        return [asdict(g) for g in sc.res.groups.values()]

    remembered = run()
    monkeypatch.setattr(scanner, "VALUE_FACTS", 0)
    assert run() == remembered


@given(st.one_of(st.integers(946_684_800_000, 4_102_444_800_000),
                st.tuples(st.integers(262_968, 1_139_568), st.integers(-2, 2)).map(
                    lambda x: x[0] * 3_600_000 + x[1])))
def test_a_creation_hour_in_integers_is_the_one_in_floats(ct):
    """spring_numbers' creation hour, ct // 3_600_000, is int(ct / 1000.0 // 3600) for any
    ct from SANE_SINCE_MS (2000) to 2100, at an hour's edges too (a whole number of ms is
    never within a float's rounding of an hour's edge)."""
    assert ct // 3_600_000 == int((ct / 1000.0) // 3600)


@given(st.binary(min_size=1, max_size=32), st.integers(2, 40), st.sampled_from([None, 5, 256]))
def test_lzf_back_references_repeat_what_they_point_at(unit, times, limit):
    """Overlapping copies (a back-reference shorter than its run), one byte apart or more."""
    from sessdiag.stores.rdb import lzf

    want = unit * times
    got = lzf.decompress(W.lzf_repeat(unit, times), len(want), limit)
    assert got == (want if limit is None else want[:limit])
