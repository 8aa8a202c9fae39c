"""Machine-client cadence: a stream of new sessions that does not follow people.

Human traffic has a day/night curve: at night new sessions almost stop. A service that calls
without the cookie creates sessions at its own pace, day and night (incidents 1 and 3). Two
signals, from what is at hand:

- **Floor** of an hourly series of orphan creations: empty beego sessions keep their birth
  mtime (`report["empty_timeline"]`), and access logs give the hour of every new session a
  client was issued. The floor is the lowest full hour of the steady stretch that ends at the
  last full hour; a floor that holds for 24 hours or more, and is a sizeable part of the
  median, is "around the clock".
- **Regularity** of inter-arrival gaps (logs only): the coefficient of variation of the gaps
  between a client's new sessions is ≈1 for independent people (Poisson), near 0 for a timer.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from sessdiag.core.units import format_percent

MIN_FLOOR_PER_HOUR = 30  # below one new session every two minutes there is nothing to say
FLOOR_SHARE_OF_MEDIAN = 0.25  # a human curve drops far below its median at night
REGULAR_CV = 0.5
MIN_GAPS = 20


def _iso_day(hour: int) -> str:
    try:
        return datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%d %H:00")
    except (OverflowError, OSError, ValueError):
        return f"epoch hour {hour}"  # beyond what datetime shows (a bogus timestamp)


def full_hours(counts: dict[int, int]) -> tuple[int, list[int]]:
    """The whole hours strictly between the first and last of `counts`: (how many, and the
    counts of those that hold any, ascending). Costs the number of buckets, never the span:
    one bogus timestamp in year 285,000 must not make a list of two billion hours."""
    if not counts:
        return 0, []
    first, last = min(counts), max(counts)
    return max(0, last - first - 1), sorted(n for h, n in counts.items() if first < h < last)


def median_with_zeros(present: list[int], n: int) -> float | int | None:
    """statistics.median of `n` values: `present` (ascending, non-negative) padded with zeros."""
    if n <= 0:
        return None
    zeros = n - len(present)

    def at(k: int) -> int:
        return 0 if k < zeros else present[k - zeros]

    if n % 2:
        return at(n // 2)
    return (at(n // 2 - 1) + at(n // 2)) / 2


def hourly_floor(counts: dict[int, int]) -> dict | None:
    """The steady stretch of an hourly series {epoch_hour: n} that ends at its last full hour.

    Edge hours (first and last) are partial and left out. Returns None with fewer than 3
    full hours. Work and memory follow the number of hours present, not the span between them.
    """
    if not counts:
        return None
    first, last = min(counts), max(counts)
    n_full, present = full_hours(counts)
    if n_full < 3:
        return None
    # The floor of the latest day (or of all there is, when shorter) sets the level; the
    # stretch extends back while every hour holds at least half of it.
    level = min(counts.get(h, 0) for h in range(max(first + 1, last - 24), last))
    if level <= 0:
        return {"steady": False, "floor_per_hour": 0, "hours": 0, "since_hour": None,
                "median_per_hour": median_with_zeros(present, n_full), "full_hours": n_full}
    # Each step back needs an hour holding >= level/2 > 0, so a present bucket: bounded.
    start = last
    while start - 1 > first and counts.get(start - 1, 0) >= level / 2:
        start -= 1
    stretch = [counts[h] for h in range(start, last)]
    floor = min(stretch)
    median = median_with_zeros(sorted(stretch), len(stretch))  # statistics.median's value
    steady = floor >= MIN_FLOOR_PER_HOUR and floor >= FLOOR_SHARE_OF_MEDIAN * median
    return {
        "steady": steady,
        "floor_per_hour": floor,
        "floor_per_second": round(floor / 3600, 3),
        "median_per_hour": median,
        "peak_per_hour": max(stretch),
        "hours": len(stretch),
        "around_the_clock": steady and len(stretch) >= 24,
        "since_hour": start,
        "since": _iso_day(start),
        "full_hours": n_full,
    }


def _pace(per_hour: float) -> str:
    per_s = per_hour / 3600
    if per_s >= 0.5:
        return f"≈{per_s:.1f} new empty sessions/s"
    return f"≈{per_hour:.0f} new empty sessions/hour"


def store_cadence(report: dict) -> tuple[dict | None, list[str]]:
    """Cadence of orphan creation from the store alone (empty sessions by birth hour)."""
    timeline = report.get("empty_timeline") or []
    counts: dict[int, int] = {}
    for row in timeline:
        hour = int(datetime.fromisoformat(row["hour"].replace("Z", "+00:00")).timestamp()) // 3600
        counts[hour] = counts.get(hour, 0) + int(row["count"])
    fl = hourly_floor(counts)
    if fl is None or not fl["steady"]:
        return fl, []
    when = "around the clock" if fl["around_the_clock"] else f"for {fl['hours']} hours straight"
    since = fl["since"][:10] if fl["around_the_clock"] else fl["since"]
    finding = (f"{_pace(fl['floor_per_hour'])} {when} since {since} (floor of the hourly "
               f"creations, median {fl['median_per_hour']:.0f}/hour) — a creation floor that "
               "does not follow the day/night curve: a client that never sends the cookie")
    return fl, [finding]


class Gaps:
    """Running mean and variance of inter-arrival gaps (Welford), O(1) memory."""

    __slots__ = ("last", "m2", "mean", "n")

    def __init__(self) -> None:
        self.last: float | None = None
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0

    def add(self, t: float) -> None:
        if self.last is not None:
            g = t - self.last
            self.n += 1
            d = g - self.mean
            self.mean += d / self.n
            self.m2 += d * (g - self.mean)
        self.last = t

    def summary(self) -> dict | None:
        if self.n < 2:
            return None
        sd = math.sqrt(self.m2 / (self.n - 1))
        cv = sd / self.mean if self.mean > 0 else None
        return {"gaps": self.n, "mean_gap_s": round(self.mean, 3), "stdev_gap_s": round(sd, 3),
                "cv": None if cv is None else round(cv, 3),
                "regular": cv is not None and self.n >= MIN_GAPS and cv < REGULAR_CV}


def client_cadence(issued_hours: dict[int, int], gaps: Gaps) -> dict:
    """Cadence of one client's new sessions from the logs."""
    fl = hourly_floor(issued_hours)
    return {"floor": fl, "gaps": gaps.summary()}


def describe_client(client: str, c: dict) -> str | None:
    """A finding for a client that makes sessions nobody reuses, or None."""
    orphans = c["orphans"]
    if orphans < 10 or not c["issued"] or orphans / c["issued"] < 0.9:
        return None
    req = c["requests"] or 1
    nocookie = c["requests_without_cookie"] / req
    span_h = max(c["span_hours"], 1 / 60)
    per_h = orphans / max(span_h, 1.0) if span_h >= 1 else orphans / span_h
    cad = c.get("cadence") or {}
    fl = cad.get("floor") or {}
    gaps = cad.get("gaps") or {}
    if fl.get("steady") and fl.get("around_the_clock"):
        what = f"{_pace(fl['floor_per_hour']).replace('empty ', '')} around the clock since " \
               f"{fl['since'][:10]}"
    elif c["span_hours"] * 3600 >= 60:
        what = (f"{_pace(per_h).replace('empty ', '')} over {_span(c['span_hours'])} since "
                f"{c['first_seen'][:16].replace('T', ' ')}")
    else:
        what = f"all within a minute at {c['first_seen'][:16].replace('T', ' ')}"
    bits = [f"client {client}: {orphans:,} sessions never presented back ({what})"]
    if gaps.get("regular"):
        bits.append(f"one every {gaps['mean_gap_s']:.2f} s like clockwork (CV {gaps['cv']:.2f})")
    if nocookie >= 0.9:
        bits.append("it never sends the session cookie")
    elif nocookie >= 0.5:
        bits.append(f"{format_percent(nocookie, 0)} of its requests carry no session cookie")
    share = (c.get("store") or {}).get("share_of_sessions")
    if share:
        bits.append(f"its orphans still hold {format_percent(share)} of the store's sessions")
    return " — ".join(bits)


def _span(hours: float) -> str:
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    if hours >= 1:
        return f"{hours:.1f} h"
    if hours * 60 >= 1:
        return f"{hours * 60:.0f} min"
    return f"{hours * 3600:.0f} s"


def attach_store_cadence(report: dict) -> None:
    """The creation floor of empty sessions (store only); idempotent."""
    if "cadence" in report:
        return
    fl, lines = store_cadence(report)
    report["cadence"] = {"store": fl}
    if lines:
        report.setdefault("findings", []).extend(lines)
