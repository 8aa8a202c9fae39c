"""Access-log reading: the three formats, cookies, times, .gz, stdin, merging, bad input."""

from __future__ import annotations

import gzip
import io
import json
import sys
from calendar import timegm
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessdiag.analysis.accesslog import (
    DELETED,
    CookieReader,
    LogReader,
    LogSpec,
    TimeParser,
    detect_cookie_name,
    iter_chunks,
    request_parts,
)
from sessdiag.core.errors import UsageError

T0 = "02/Mar/2025:10:00:00 +0000"
EPOCH0 = timegm((2025, 3, 2, 10, 0, 0))


def rows_of(paths, fmt="combined-cookies", cookie="PHPSESSID", key="ip", fields=None,
            profile=None):  # type: ignore[no-untyped-def]
    reader = LogReader(list(paths), LogSpec.build(fmt, cookie, key, fields), profile)
    return list(reader.rows()), reader.stats


def test_real_nginx_capture_parses_every_line(capture):
    path, exp = capture("php")
    rows, st = rows_of([path])
    n_lines = len(Path(path).read_bytes().splitlines())
    assert st.lines == st.parsed == len(rows) == n_lines
    assert st.skipped == 0
    assert sum(c["requests"] for c in exp["clients"].values()) == len(rows)
    first = rows[0]
    assert first[0] == b"127.0.0.2" and first[2].startswith(b"GET / ")
    assert first[4] is None and len(first[5]) == 26  # new PHPSESSID, no cookie presented
    assert all(r[1] >= rows[0][1] for r in rows)


@pytest.mark.parametrize(("fw", "name"), [("php", "PHPSESSID"), ("flask", "session"),
                                          ("django", "sessionid"), ("express", "connect.sid")])
def test_cookie_name_detected_from_set_cookie(capture, fw, name):
    path, _ = capture(fw)
    reader = LogReader([path], LogSpec.build("combined-cookies", None, "ip", None))
    rows = list(reader.rows())
    assert reader.stats.cookie_name == name
    assert reader.stats.cookie_name_source == "detected from Set-Cookie"
    assert any(r[5] for r in rows)


def test_profile_default_when_logs_show_no_set_cookie(nginx_line, write_log):
    p = write_log([nginx_line("10.0.0.1", T0, "GET / HTTP/1.1", cookie="abc")])
    name, source = detect_cookie_name(Path(p).read_bytes(), "combined-cookies", "beego-file")
    assert (name, source) == ("beegosessionID", "default of profile beego-file")
    with pytest.raises(UsageError, match="--cookie-name"):
        rows_of([p], cookie=None)


def test_the_apps_own_cookie_name_beats_the_profile_default(nginx_line, write_log):
    p = write_log([nginx_line("10.0.0.1", T0, "GET / HTTP/1.1",
                              set_cookie="_myapp_session=abc; path=/; HttpOnly"),
                   nginx_line("10.0.0.2", T0, "GET / HTTP/1.1",
                              set_cookie="_myapp_session=def; path=/; HttpOnly")])
    name, source = detect_cookie_name(Path(p).read_bytes(), "combined-cookies", "rails-session")
    assert name == "_myapp_session"
    assert "most frequent" in source and "not seen" in source


def test_the_apps_cookie_name_serves_a_log_of_bare_values_only(nginx_line, write_log):
    # "$upstream_cookie_NAME" logs a bare value: no name to detect, so the app's settings
    # (Laravel's .env) name it; a log whose Set-Cookie names one still wins.
    bare = write_log([nginx_line("10.0.0.1", T0, "GET / HTTP/1.1", set_cookie="abc"),
                      nginx_line("10.0.0.1", T0, "GET / HTTP/1.1", cookie="abc")])
    spec = LogSpec.build("combined-cookies", None, "ip", None, cookie_hint="shop_session")
    reader = LogReader([bare], spec)
    rows = list(reader.rows())
    assert (reader.stats.cookie_name, reader.stats.cookie_name_source) == \
        ("shop_session", "the app's settings (--app-env)")
    assert [(r[4], r[5]) for r in rows] == [(None, b"abc"), (b"abc", None)]
    named = write_log([nginx_line("10.0.0.1", T0, "GET / HTTP/1.1",
                                  set_cookie="laravel_session=abc; path=/; httponly")],
                      name="named.log")
    reader = LogReader([named], spec)
    list(reader.rows())
    assert reader.stats.cookie_name == "laravel_session"


def test_set_cookie_forms():
    ck = CookieReader("sid")
    assert ck.set(b"sid=abc; Path=/; HttpOnly") == b"abc"
    assert ck.set(b"other=1; Path=/, sid=xyz; Path=/") == b"xyz"  # several headers joined
    assert ck.set(b"lang=en; sid=ignored") == b"ignored"  # attribute-less second cookie
    assert ck.set(b"xsid=nope; Path=/") is None  # a different cookie whose name ends in sid
    assert ck.set(b'sid="q"; Path=/') == b"q"
    assert ck.set(b"sid=; expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/") is DELETED
    assert ck.set(b"sid=deleted; expires=Thu, 01-Jan-1970 00:00:01 GMT; Max-Age=0") is DELETED
    assert ck.set(b'sid=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/') is DELETED
    assert ck.set(b"sid=abc; Max-Age=0; Path=/") is DELETED
    assert ck.set(b"sid=abc; Max-Age=1209600; Path=/") == b"abc"
    assert ck.set(b"sid=ab1970cd; Max-Age=3600; Path=/") == b"ab1970cd"  # an id, not a date
    assert ck.set(b"sid=abc; Max-Age=05; Path=/") == b"abc"
    # a later cookie being cleared does not clear this one
    assert ck.set(b"sid=abc; Path=/, lang=; Max-Age=0; Path=/") == b"abc"
    assert ck.set(b"sid=abc; Expires=Thu, 01 Jan 2099 00:00:00 GMT, x=; Max-Age=0") == b"abc"
    assert ck.set(b"-") is None


def test_presented_bare_value_or_whole_cookie_header():
    ck = CookieReader("connect.sid")
    assert ck.presented(b"s%3Aabc.sig") == b"s%3Aabc.sig"
    assert ck.presented(b"theme=dark; connect.sid=s%3Aabc.sig; x=1") == b"s%3Aabc.sig"
    assert ck.presented(b"-") is None
    assert ck.presented(b"") is None
    spring = CookieReader("SESSION")
    assert spring.presented(b"ZmE5ZTc0ZTMtYjE2ZS00NjE5LWFmMzUtNWVmMTE4YWZmYjUx") \
        == b"ZmE5ZTc0ZTMtYjE2ZS00NjE5LWFmMzUtNWVmMTE4YWZmYjUx"


def test_apache_escaped_quotes_and_extra_fields_take_the_full_regex(write_log):
    lines = [
        # Apache escapes a quote inside the request as \"
        '10.0.0.1 - - [02/Mar/2025:10:00:00 +0000] "GET /q?a=\\"x\\" HTTP/1.1" 200 5 "-" '
        '"curl/8" "-" "PHPSESSID=aaa; path=/"',
        # extra fields after the two cookie fields (e.g. $request_time "$upstream_addr")
        '10.0.0.2 - bob [02/Mar/2025:10:00:01 +0000] "POST /login HTTP/2.0" 302 0 '
        '"https://x/" "Mozilla/5.0" "aaa" "PHPSESSID=bbb; path=/" 0.004 "127.0.0.1:9000"',
        "garbage that is no log line",
        "",
    ]
    rows, st = rows_of([write_log(lines)])
    assert [(r[0], r[4], r[5]) for r in rows] == [(b"10.0.0.1", None, b"aaa"),
                                                 (b"10.0.0.2", b"aaa", b"bbb")]
    assert rows[0][2] == b'GET /q?a=\\"x\\" HTTP/1.1'
    assert st.parsed == 2 and st.skipped == 1
    assert st.skipped_examples == ["garbage that is no log line"]


def test_times():
    tp = TimeParser()
    assert tp(b"02/Mar/2025:10:00:00 +0000") == EPOCH0
    assert tp(b"02/Mar/2025:18:00:00 +0800") == EPOCH0
    assert tp(b"02/Mar/2025:04:30:59 -0530") == EPOCH0 + 59
    assert tp(b"02/Mar/2025:10:00:00.250 +0000") == EPOCH0 + 0.25
    assert tp(b"2025-03-02T10:00:00Z") == EPOCH0
    assert tp(b"2025-03-02T12:00:00+02:00") == EPOCH0
    assert tp(b"1740909600.125") == EPOCH0 + 0.125
    with pytest.raises(ValueError):
        tp(b"02/Foo/2025:10:00:00 +0000")
    # a new hour after many cached ones
    for h in range(30):
        assert tp(f"03/Mar/2025:{h % 24:02d}:00:00 +0000".encode()) \
            == timegm((2025, 3, 3, h % 24, 0, 0))


def test_gz_and_stdin_give_the_same_rows(capture, tmp_path, monkeypatch):
    path, _ = capture("express")
    plain, _ = rows_of([path], cookie="connect.sid")
    gz = tmp_path / "access.log.1.gz"
    gz.write_bytes(gzip.compress(Path(path).read_bytes()))
    zipped, _ = rows_of([str(gz)], cookie="connect.sid")
    assert zipped == plain

    class Stdin:
        buffer = io.BytesIO(Path(path).read_bytes())

    monkeypatch.setattr(sys, "stdin", Stdin)
    piped, _ = rows_of(["-"], cookie="connect.sid")
    assert piped == plain


def test_truncated_gz_is_a_clear_error(capture, tmp_path):
    path, _ = capture("php")
    data = gzip.compress(Path(path).read_bytes())
    bad = tmp_path / "cut.gz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError, match="cannot read access log"):
        rows_of([str(bad)])


def test_several_files_are_merged_by_time(capture, tmp_path):
    path, _ = capture("php")
    lines = Path(path).read_text().splitlines(keepends=True)
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("".join(lines[0::2]))  # two replicas, each with every other request
    b.write_text("".join(lines[1::2]))
    whole, _ = rows_of([path])
    merged, st = rows_of([str(b), str(a)])
    assert sorted(map(repr, merged)) == sorted(map(repr, whole))
    assert [r[1] for r in merged] == sorted(r[1] for r in merged)
    assert st.parsed == len(whole)


def test_chunk_boundaries_never_split_a_line():
    data = b"".join(b"line %d\n" % i for i in range(1000)) + b"last without newline"
    chunks = list(iter_chunks(io.BytesIO(data), size=37))
    assert all(c.endswith(b"\n") for c in chunks)
    assert b"".join(chunks) == data + b"\n"


def test_jsonl_with_field_mapping(write_log):
    recs = [
        {"ts": "2025-03-02T10:00:00Z", "req": {"ip": "10.0.0.1", "path": "/",
                                               "method": "GET"}, "code": 200,
         "sc": "sid=a1; Path=/"},
        {"ts": "2025-03-02T10:00:01Z", "req": {"ip": "10.0.0.1", "path": "/x",
                                               "method": "GET"}, "code": 200,
         "ck": "a1", "sc": None},
        {"ts": "2025-03-02T10:00:02Z", "req": {"ip": "10.0.0.2"}, "ck": "-",
         "sc": ["lang=en", "sid=b2; Path=/"]},
    ]
    p = write_log([json.dumps(r) for r in recs] + ["{not json"])
    rows, st = rows_of([p], fmt="jsonl", cookie="sid", fields=(
        "time=ts,ip=req.ip,path=req.path,method=req.method,status=code,cookie=ck,"
        "set_cookie=sc"))
    assert [(r[0], r[1] - EPOCH0, r[2], r[4], r[5]) for r in rows] == [
        (b"10.0.0.1", 0, b"GET /", None, b"a1"),
        (b"10.0.0.1", 1, b"GET /x", b"a1", None),
        (b"10.0.0.2", 2, b"- -", None, b"b2"),
    ]
    assert st.skipped == 1


def test_jsonl_defaults_are_nginx_escape_json_names(write_log):
    rec = {"remote_addr": "10.0.0.9", "time_iso8601": "2025-03-02T10:00:00+00:00",
           "request": "GET / HTTP/1.1", "status": "200", "http_user_agent": "curl/8",
           "cookie_PHPSESSID": "", "sent_http_set_cookie": "PHPSESSID=zz; path=/",
           "tenant": "acme"}
    p = write_log([json.dumps(rec)])
    rows, _ = rows_of([p], fmt="jsonl")
    assert rows == [(b"10.0.0.9", EPOCH0, b"GET / HTTP/1.1", b"200", None, b"zz", b"curl/8")]
    rows, _ = rows_of([p], fmt="jsonl", key="tenant", fields="tenant=tenant")
    assert rows[0][0] == b"acme"
    rows, _ = rows_of([p], fmt="jsonl", key="ip+ua")
    assert rows[0][0] == b"10.0.0.9 curl/8"


def test_regex_format_with_named_groups(write_log):
    lines = ["2025-03-02T10:00:00Z 10.0.0.1 GET /login 200 sid=- set=sid=n1;Path=/",
             "2025-03-02T10:00:01Z 10.0.0.1 GET /info 200 sid=n1 set=-",
             "nope"]
    fmt = (r"regex:^(?P<time>\S+) (?P<ip>\S+) (?P<method>\S+) (?P<path>\S+) "
           r"(?P<status>\d+) sid=(?P<cookie>\S+) set=(?P<set_cookie>.*)$")
    rows, st = rows_of([write_log(lines)], fmt=fmt, cookie="sid")
    assert [(r[0], r[2], r[4], r[5]) for r in rows] == [
        (b"10.0.0.1", b"GET /login", None, b"n1"), (b"10.0.0.1", b"GET /info", b"n1", None)]
    assert st.skipped == 1


@pytest.mark.parametrize(("fmt", "fields", "key", "msg"), [
    ("apache", None, "ip", "unknown --log-format"),
    ("regex:(", None, "ip", "does not compile"),
    (r"regex:(?P<ip>\S+)", None, "ip", "named group 'time'"),
    (r"regex:(?P<time>\S+)", None, "ip", "'cookie'"),
    ("combined-cookies", "ip=remote_addr", "ip", "jsonl only"),
    ("jsonl", "ip", "ip", "NAME=FIELD"),
    ("jsonl", "colour=x", "ip", "unknown name"),
    ("combined-cookies", None, "tenant", "ip, ip\\+ua or ua"),
])
def test_bad_specs_are_usage_errors(fmt, fields, key, msg):
    with pytest.raises(UsageError, match=msg):
        LogSpec.build(fmt, "sid", key, fields)


def test_missing_file_and_directory(tmp_path):
    spec = LogSpec.build("combined-cookies", "sid", "ip", None)
    with pytest.raises(UsageError, match="no such file"):
        list(LogReader([str(tmp_path / "nope.log")], spec).rows())
    with pytest.raises(UsageError, match="is a directory"):
        list(LogReader([str(tmp_path)], spec).rows())
    with pytest.raises(UsageError, match="stdin"):
        LogReader(["-", "-"], spec)


def test_request_parts():
    assert request_parts(b"GET /a?b=1 HTTP/1.1") == ("GET", "/a?b=1")
    assert request_parts(b"-") == ("-", "-")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=300).filter(lambda b: b"\n" not in b), max_size=20))
def test_arbitrary_bytes_are_skipped_never_a_crash(tmp_path_factory, lines):
    p = tmp_path_factory.mktemp("fuzz") / "access.log"
    good = (b'10.0.0.1 - - [02/Mar/2025:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" "-" '
            b'"sid=a; Path=/"')
    p.write_bytes(b"\n".join([good, *lines]) + b"\n")
    reader = LogReader([str(p)], LogSpec.build("combined-cookies", "sid", "ip", None))
    rows = list(reader.rows())
    assert rows[0][5] == b"a"
    assert reader.stats.parsed == len(rows) and reader.stats.parsed + reader.stats.skipped <= \
        reader.stats.lines


def test_an_expires_in_1970_clears_the_cookie_whatever_its_value():
    """A response that sends the session cookie with an Expires in 1970 (and no Max-Age)
    deletes it, even when the value is not empty or `deleted`: it is a logout, not a new
    session id."""
    ck = CookieReader("sid")
    assert ck.set(b"sid=abc123; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT") is DELETED
    assert ck.set(b"sid=abc123; expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/; HttpOnly") \
        is DELETED
    assert ck.set(b"sid=abc123; Expires=Thu, 01 Jan 1970 00:00:00 GMT, lang=en; Path=/") \
        is DELETED
    # Another year, or 1970 in another cookie's attributes, is an ordinary Set-Cookie.
    assert ck.set(b"sid=abc123; Expires=Thu, 01 Jan 2037 00:00:00 GMT") == b"abc123"
    assert ck.set(b"sid=abc123; Path=/, old=; Expires=Thu, 01 Jan 1970 00:00:00 GMT") \
        == b"abc123"


def test_show_line_escapes_and_truncates_binary():
    from sessdiag.analysis.accesslog import show_line

    assert show_line(b"GET / HTTP/1.1") == "GET / HTTP/1.1"
    shown = show_line(b"\x1b[2J\xff" * 100)
    assert shown.startswith("\\x1b[2J\\xff\\x1b[2J")
    assert shown.endswith("… (500 bytes)") and len(shown) < 100
    assert "\x1b" not in shown and "\\x1" not in shown[-20:]  # no escape cut in half


def test_jsonl_and_regex_read_a_bare_upstream_cookie_value(write_log):
    rec = {"remote_addr": "10.0.0.9", "time_iso8601": "2025-03-02T10:00:00+00:00",
           "request": "GET /ping HTTP/1.1", "status": "200", "http_user_agent": "kube-probe/1.29",
           "cookie_PHPSESSID": "", "upstream_cookie_PHPSESSID": "zz"}
    p = write_log([json.dumps(rec)])
    rows, _ = rows_of([p], fmt="jsonl", cookie="PHPSESSID")
    assert rows == [(b"10.0.0.9", EPOCH0, b"GET /ping HTTP/1.1", b"200", None, b"zz",
                     b"kube-probe/1.29")]
    p = write_log(["10.0.0.9 2025-03-02T10:00:00+00:00 GET /ping zz"])
    rx = r"regex:(?P<ip>\S+) (?P<time>\S+) (?P<method>\S+) (?P<path>\S+) (?P<set_cookie_value>\S+)"
    rows, _ = rows_of([p], fmt=rx, cookie="PHPSESSID")
    assert [(r[0], r[2], r[5]) for r in rows] == [(b"10.0.0.9", b"GET /ping", b"zz")]
