"""The login-race detector: every provoked race in real captures, none elsewhere, and its rule."""

from __future__ import annotations

from calendar import timegm

import pytest

from sessdiag.analysis.accesslog import LogReader, LogSpec
from sessdiag.analysis.clients import Attribution, iso, text
from sessdiag.analysis.races import MAX_CLUSTER

T0 = float(timegm((2025, 3, 2, 9, 0, 0)))
STALE = b"0123456789abcdefghijklmnop"


def races_of_capture(path: str, window: float = 2.0) -> tuple[list[dict], Attribution]:
    att = Attribution(race_window=window)
    att.feed(LogReader([path], LogSpec.build("combined-cookies", None, "ip", None)).rows())
    att.finish()
    return att.races.events(iso, text), att


def feed(rows: list[tuple], window: float = 2.0, login_re: str | None = None) -> list[dict]:
    att = Attribution(race_window=window, login_re=login_re)
    att.feed(rows)
    att.finish()
    return att.races.events(iso, text)


def req(ip: str, dt: float, path: str, presented: bytes | None, issued: bytes | None = None):  # type: ignore[no-untyped-def]
    return (ip.encode(), T0 + dt, f"GET {path} HTTP/1.1".encode(), b"200", presented, issued,
            b"Mozilla/5.0")


@pytest.mark.parametrize("fw", ["php", "express"])
def test_every_provoked_race_is_found_with_what_the_browser_kept(capture, fw):
    path, exp = capture(fw)
    assert len(exp["races"]) == 2  # the capture really raced: two new ids each time
    got, _ = races_of_capture(path)
    assert [(r["client"], r["presented"], sorted(r["issued"]), r["kept"], r["lost_login"])
            for r in got] == [(e["client"], e["presented"], e["issued"], e["kept"],
                               e["lost_login"]) for e in exp["races"]]
    lost, kept = got
    assert lost["lost_login"] is True and kept["lost_login"] is False
    for r in got:
        assert {q["path"].split("?")[0] for q in r["requests"]} == {"/login", "/info"}
        assert sum(q["login"] for q in r["requests"]) == 1
        assert r["at"].endswith("Z") and 0 <= r["window_s"] <= 2
        assert r["issued"][r["kept_index"]] == r["kept"]


@pytest.mark.parametrize("fw", ["php-lax", "flask", "django"])
def test_no_race_where_the_app_did_not_race(capture, fw):
    """PHP without strict mode adopts the stale id; Flask-Session and Django only create a
    session on /login, not on the read-only /info: no second new id, no race."""
    path, exp = capture(fw)
    assert exp["races"] == []
    got, _ = races_of_capture(path)
    assert got == []


def test_two_people_behind_one_address_are_not_a_race(capture):
    path, exp = capture("php")
    got, att = races_of_capture(path)
    assert "127.0.0.10" not in {r["client"] for r in got}
    assert exp["clients"]["127.0.0.10"]["issued"] == 2
    assert att.races.dismissed_shared >= 1


def test_kept_decided_after_the_window_by_the_next_cookie():
    rows = [req("1.1.1.1", 0, "/login", STALE, b"A"), req("1.1.1.1", 0.3, "/info", STALE, b"B"),
            req("1.1.1.1", 60, "/info", b"B")]
    (r,) = feed(rows)
    assert (r["kept"], r["kept_index"], r["lost_login"]) == ("B", 1, True)
    rows[-1] = req("1.1.1.1", 60, "/info", b"A")
    (r,) = feed(rows)
    assert (r["kept"], r["kept_index"], r["lost_login"]) == ("A", 0, False)


def test_without_login_info_lost_login_is_null():
    rows = [req("1.1.1.1", 0, "/api/a", STALE, b"A"), req("1.1.1.1", 0.2, "/api/b", STALE, b"B"),
            req("1.1.1.1", 5, "/api/a", b"A")]
    (r,) = feed(rows)
    assert r["lost_login"] is None and r["kept_index"] == 0
    (r,) = feed(rows, login_re=r"^/api/b$")
    assert r["lost_login"] is True


def test_not_a_race():
    ip = "2.2.2.2"
    # issued further apart than the window
    assert feed([req(ip, 0, "/login", STALE, b"A"), req(ip, 3, "/info", STALE, b"B"),
                 req(ip, 9, "/info", b"B")]) == []
    # different presented cookies: two separate stories
    assert feed([req(ip, 0, "/login", STALE, b"A"), req(ip, 0.5, "/info", b"other", b"B"),
                 req(ip, 9, "/info", b"B")]) == []
    # the client never comes back with any of them (a cookieless machine's burst)
    assert feed([req(ip, i * 0.2, "/", None, b"M%d" % i) for i in range(8)]) == []
    # it comes back with something else
    assert feed([req(ip, 0, "/login", STALE, b"A"), req(ip, 0.5, "/info", STALE, b"B"),
                 req(ip, 9, "/info", STALE)]) == []
    # one new id only (the other request kept the cookie it sent)
    assert feed([req(ip, 0, "/login", STALE, b"A"), req(ip, 0.5, "/info", STALE),
                 req(ip, 9, "/info", b"A")]) == []
    # a burst larger than any browser's
    burst = [req(ip, i * 0.05, "/", STALE, b"N%d" % i) for i in range(MAX_CLUSTER + 1)]
    assert feed([*burst, req(ip, 9, "/", b"N3")]) == []


def test_second_jar_seen_later_dismisses_the_race():
    ip = "3.3.3.3"
    rows = [req(ip, 0, "/", None, b"A"), req(ip, 0.1, "/", None, b"B"),
            req(ip, 30, "/info", b"A")]
    assert [r["kept"] for r in feed(rows)] == ["A"]
    assert feed([*rows, req(ip, 90, "/info", b"B")]) == []  # person B was there all along
    # alternating within the window (two people browsing at once)
    alt = [req(ip, 0, "/", None, b"A"), req(ip, 0.1, "/", None, b"B"),
           req(ip, 0.2, "/x", b"A"), req(ip, 0.3, "/x", b"B"), req(ip, 0.4, "/x", b"A")]
    assert feed(alt) == []


def test_in_flight_request_with_the_earlier_id_is_part_of_the_race():
    ip = "4.4.4.4"
    rows = [req(ip, 0, "/login", STALE, b"A"),
            req(ip, 0.4, "/info", STALE, b"B"),  # the slower answer: the jar now holds B
            req(ip, 0.5, "/poll", b"A"),  # sent before B arrived, answered after
            req(ip, 0.7, "/info", b"B"), req(ip, 1.0, "/info", b"B")]
    (r,) = feed(rows)
    assert r["kept"] == "B" and r["lost_login"] is True


def test_window_flag_widens_the_cluster():
    ip = "5.5.5.5"
    rows = [req(ip, 0, "/login", STALE, b"A"), req(ip, 3, "/info", STALE, b"B"),
            req(ip, 30, "/info", b"B")]
    assert feed(rows, window=2) == []
    assert [r["lost_login"] for r in feed(rows, window=5)] == [True]


def test_an_issue_exactly_at_the_window_end_is_part_of_the_race():
    """The window is closed at its end: a second id issued exactly `window` seconds after
    the first belongs to the cluster; a moment later it does not."""
    ip = "6.6.6.6"
    rows = [req(ip, 0, "/login", STALE, b"A"), req(ip, 2.0, "/info", STALE, b"B"),
            req(ip, 30, "/info", b"B")]
    assert rows[1][1] - rows[0][1] == 2.0  # exactly the window, no rounding on the way
    (r,) = feed(rows, window=2)
    assert (r["kept"], r["lost_login"], r["window_s"]) == ("B", True, 2.0)
    late = [rows[0], req(ip, 2.001, "/info", STALE, b"B"), rows[2]]
    assert feed(late, window=2) == []
