"""Per-client attribution: counts, bounded memory, store join, payload attribution, cadence."""

from __future__ import annotations

from calendar import timegm
from datetime import UTC, datetime

import pytest

from sessdiag.analysis import cadence
from sessdiag.analysis.accesslog import LogReader, LogSpec
from sessdiag.analysis.clients import (
    IHOURS,
    OTHER,
    RACES,
    SAMPLE,
    Attribution,
)
from sessdiag.analysis.races import MAX_PENDING

T0 = float(timegm((2025, 3, 2, 0, 0, 0)))


def feed_capture(path: str, cookie: str | None = None, **kw) -> Attribution:  # type: ignore[no-untyped-def]
    att = Attribution(**kw)
    att.feed(LogReader([path], LogSpec.build("combined-cookies", cookie, "ip", None)).rows())
    att.finish()
    return att


def by_client(att: Attribution, lookup=None, totals=None) -> dict:  # type: ignore[no-untyped-def]
    return {r["client"]: r for r in att.client_rows(lookup, totals)}


def machine_rows(n: int, start: float = T0, every: float = 1 / 3, ip: bytes = b"10.9.9.9"):  # type: ignore[no-untyped-def]
    """A client that never sends the cookie: a new session on every call."""
    for i in range(n):
        yield (ip, start + i * every, b"GET /api/sync HTTP/1.1", b"200", None,
               b"%032x" % (i * 2654435761 % (1 << 128)), b"sync/1.0")


@pytest.mark.parametrize("fw", ["php", "express", "django"])
def test_counts_equal_what_the_driver_saw(capture, fw):
    path, exp = capture(fw)
    rows = by_client(feed_capture(path))
    for ip, e in exp["clients"].items():
        got = rows[ip]
        assert (got["requests"], got["requests_without_cookie"], got["issued"],
                got["orphans"]) == (e["requests"], e["requests_without_cookie"], e["issued"],
                                    e["orphans"]), ip
    ordered = [r["orphans"] for r in rows.values()]
    assert ordered == sorted(ordered, reverse=True)


def test_row_fields_of_a_browser_and_a_machine(capture):
    path, _ = capture("php")
    rows = by_client(feed_capture(path))
    browser, machine = rows["127.0.0.2"], rows["127.0.0.5"]
    assert browser["sessions"] == 1 and browser["presented_back"] == 1
    assert browser["orphans"] == 0 and browser["orphan_fraction"] == 0
    assert machine["requests_without_cookie"] == machine["requests"] == 40
    assert machine["orphan_fraction"] == 1.0 and machine["active_hours"] >= 1
    assert machine["first_seen"] <= machine["last_seen"]
    assert machine["cadence"]["gaps"]["gaps"] == 39
    leaver = rows["127.0.0.9"]
    assert leaver["cookie_cleared"] == 1 and leaver["orphans"] == 0
    line = cadence.describe_client("127.0.0.5", machine)
    assert "40 sessions never presented back" in line
    assert "never sends the session cookie" in line
    assert cadence.describe_client("127.0.0.2", browser) is None


def test_memory_is_bounded_by_max_tracked():
    att = Attribution(max_tracked=5000)
    att.feed(machine_rows(60_000))
    att.finish()
    assert len(att.sessions) <= 5001
    assert att.retired >= 55_000 and att.retired_pending == att.retired
    row = att.client_rows(None, None)[0]
    assert row["issued"] == row["orphans"] == 60_000  # retired orphans stay counted
    # per-client state stays small too: the sample is bounded by 2·k
    c = att.by_idx[0]
    assert len(c[SAMPLE]) <= 2 * att.sample_k and len(c[IHOURS]) <= 7
    assert len(c[RACES].pending) <= MAX_PENDING  # its bursts wait for a cookie that never comes
    assert att.races.events(str, bytes.decode) == []


def test_presentation_after_retirement_counts_as_first_seen():
    att = Attribution(max_tracked=1000)
    att.feed([(b"1.1.1.1", T0, b"GET / HTTP/1.1", b"200", None, b"old-session", b"-")])
    att.feed(machine_rows(3000, start=T0 + 1))
    att.feed([(b"1.1.1.1", T0 + 5000, b"GET / HTTP/1.1", b"200", b"old-session", None, b"-")])
    row = by_client(att)["1.1.1.1"]
    assert row["issued"] == 1 and row["orphans"] == 1 and row["presented_first_seen"] == 1


def test_clients_beyond_the_cap_are_pooled():
    att = Attribution(max_clients=3)
    att.feed((f"10.0.0.{i}".encode(), T0 + i, b"GET / HTTP/1.1", b"200", None, b"s%d" % i, b"-")
             for i in range(10))
    rows = by_client(att)
    assert len(rows) == 4 and rows[OTHER.decode()]["issued"] == 7
    assert len(att.clients) == 4  # pooled keys are not kept


def test_store_share_exact_below_k_and_estimated_above(tmp_path):
    # exact: every orphan looked up
    att = Attribution(sample_k=64)
    att.feed(machine_rows(50))
    present = {b"%032x" % (i * 2654435761 % (1 << 128)) for i in range(0, 50, 2)}

    def lookup(raw: bytes):  # type: ignore[no-untyped-def]
        return (20, 4096) if raw in present else None

    row = att.client_rows(lookup, {"sessions": 100, "bytes": 1000, "allocated_bytes": 409600})[0]
    assert row["store"] == {"orphans_in_store": 25, "bytes": 500, "allocated_bytes": 102400,
                            "share_of_sessions": 0.25, "share_of_bytes": 0.5,
                            "share_of_allocated_bytes": 0.25, "method": "exact",
                            "looked_up": 50}
    # sampled: 20 000 orphans, half of them still in the store, k = 512
    att = Attribution(sample_k=512)
    att.feed(machine_rows(20_000))
    half = {b"%032x" % (i * 2654435761 % (1 << 128)) for i in range(0, 20_000, 2)}
    row = att.client_rows(lambda raw: (20, 4096) if raw in half else None,
                          {"sessions": 40_000, "bytes": 1, "allocated_bytes": 1})[0]
    st = row["store"]
    assert st["method"] == "sampled" and 512 <= st["looked_up"] <= 1024
    assert 10_000 * 0.8 < st["orphans_in_store"] < 10_000 * 1.2


def _hourly(counts: list[int], start: float = T0) -> list[dict]:
    return [{"hour": datetime.fromtimestamp(start + i * 3600, UTC).isoformat()
             .replace("+00:00", "Z"), "count": n} for i, n in enumerate(counts)]


def test_store_cadence_floor_that_ignores_the_night():
    human = [int(2000 * max(0.0, 1 - abs(h % 24 - 14) / 8)) for h in range(72)]
    steady = [10800 + n for n in human]  # 3/s day and night, people on top
    fl, lines = cadence.store_cadence({"empty_timeline": _hourly(steady)})
    assert fl["steady"] and fl["around_the_clock"]
    assert fl["floor_per_hour"] == 10800 and fl["since"].startswith("2025-03-02")
    assert lines and lines[0].startswith("≈3.0 new empty sessions/s around the clock since "
                                         "2025-03-02")
    fl, lines = cadence.store_cadence({"empty_timeline": _hourly(human)})
    assert not fl["steady"] and lines == []


def test_store_cadence_since_when_the_stream_started():
    before = [int(500 * max(0.0, 1 - abs(h % 24 - 14) / 6)) for h in range(48)]
    after = [400 + (h % 5) for h in range(60)]
    fl, lines = cadence.store_cadence({"empty_timeline": _hourly(before + after)})
    assert fl["around_the_clock"]
    assert fl["since_hour"] == int(T0 // 3600) + 48
    assert "≈400 new empty sessions/hour around the clock since 2025-03-04" in lines[0]


def test_client_cadence_from_logs_is_regular_and_around_the_clock():
    att = Attribution()
    att.feed(machine_rows(30 * 360, every=10.0))  # every 10 s for 30 hours
    row = att.client_rows(None, None)[0]
    cad = row["cadence"]
    assert cad["gaps"]["regular"] and cad["gaps"]["mean_gap_s"] == 10.0
    assert cad["floor"]["around_the_clock"] and cad["floor"]["floor_per_hour"] == 360
    line = cadence.describe_client(row["client"], row)
    assert "≈360 new sessions/hour around the clock since 2025-03-02" in line
    assert "like clockwork" in line
