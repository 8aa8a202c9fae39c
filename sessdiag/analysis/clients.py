"""Orphan sessions per client: who creates sessions nobody presents back, and how fast.

From access logs (`LogReader` rows) each request is attributed to a client key:

- a response whose Set-Cookie carries a session id the request did not present *issues* that
  session to the client;
- a later request (from any client) that presents the id makes it *presented back*;
- **orphans** = issued − presented back: sessions created for nobody.

Memory stays bounded whatever the size of the logs:

- Session ids are never kept as strings in the main table. `sessions` maps the 64-bit hash of
  the cookie value (Python's SipHash of the bytes) to the issuing client's index, or to -1
  once the session has been presented. Values are shared int objects, so an entry costs the
  dict slot and one key int (≈65-90 bytes), against ≈170 for a 32-character id string. The
  table keeps insertion (≈time) order; past `max_tracked` entries the oldest eighth is
  retired (an unpresented one stays counted as an orphan; if it is presented later that
  presentation counts as a session first seen in the logs), and the report says how many.
- Per client: counters (active hours are counted as the client's clock hour changes, rows
  being in time order), new sessions per hour (at most one entry per hour of log), running
  gap statistics, and a *bottom-k* sample (by hash) of at most 2·`SAMPLE_K` unpresented
  cookie values, used at the end to look orphans up in the store.
  A presented session leaves its issuer's sample, so the sample is a uniform sample of the
  client's orphans with a known inclusion probability; the store share is exact while a
  client issued fewer than `SAMPLE_K` sessions and an unbiased estimate beyond.
- At most `max_clients` client keys; later new keys are pooled under "(other clients)".
- Who minted each session, for `routes` and `user_agents`: a session's table value is the
  index of its *origin*, the (client, route template, user agent) of the request that
  issued it. Origins are few (a client issues through a handful of routes with one or two
  agents), shared by all their sessions, and capped at `MAX_ORIGINS` (then a client's new
  combinations pool under "(other routes)"/"(other agents)"); presenting a session back
  credits its client, route and agent at once. Route templates and agents are bounded
  tables of their own (analysis.routes, analysis.agents).

The store join is a targeted lookup per sampled id: the id from the cookie (beego: the value;
PHP: the value; Spring `SESSION`: base64 of the id; connect.sid: `s:<id>.<sig>`), validated
against the layout's id pattern, then one `lstat` in its shard directory opened fd-relative
with O_NOFOLLOW at every level: `SessionStore.lookup`, done by the store (sessdiag.stores).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from typing import TYPE_CHECKING

from sessdiag import frameworks
from sessdiag.analysis import cadence
from sessdiag.analysis.accesslog import (
    DELETED,
    PROFILE_COOKIES,
    LogReader,
    LogSpec,
    Row,
)
from sessdiag.analysis.agents import A_BACK, A_IDX, A_ISSUED, AgentTable
from sessdiag.analysis.cadence import attach_store_cadence
from sessdiag.analysis.minters import attach_minters
from sessdiag.analysis.races import RaceDetector
from sessdiag.analysis.routes import R_BACK, R_FIRST, R_IDX, R_ISSUED, R_LAST, RouteTable
from sessdiag.analysis.settings import LogSettings
from sessdiag.core import timefmt
from sessdiag.core.errors import UsageError
from sessdiag.core.units import format_percent

if TYPE_CHECKING:  # the analysis layer calls a store; it never imports one
    from sessdiag.stores.base import SessionStore

SAMPLE_K = 2048
MAX_TRACKED = 4_000_000
MAX_CLIENTS = 200_000
MAX_CLIENTS_SHOWN = 1000
MAX_ORIGINS = 1_000_000
OTHER = b"(other clients)"
DONE = -1

# Client state: one list per client, indexed by these constants (a list beats attributes
# in the per-line loop).
(REQ, NOCK, ISSUED, PBACK, PRELOG, FIRST, LAST, HOUR_END, HOURS, IHOURS, SAMPLE, THR,
 IDX, KEY, RACES, CLEARED, OPEN, G_LAST, G_N, G_MEAN, G_M2, LASTCK, LASTORIG) = range(23)
# An origin: (client, route counters, agent counters, its own index) — see the docstring.
O_CLIENT, O_ROUTE, O_AGENT, O_IDX = range(4)
_THR_ALL = 1 << 63  # every hash is below it: sample everything


def iso(ts: float | None) -> str | None:
    """Access-log times keep milliseconds: the order of a race's requests is the evidence."""
    return timefmt.iso(ts, "milliseconds")


def text(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", "replace")


class Attribution:
    """Streaming per-client accounting of issued, presented and orphaned sessions."""

    def __init__(self, *, race_window: float = 2.0, login_re: str | None = None,
                 max_tracked: int = MAX_TRACKED, max_clients: int = MAX_CLIENTS,
                 sample_k: int = SAMPLE_K) -> None:
        self.clients: dict[bytes, list] = {}
        self.by_idx: list[list] = []
        self.sessions: dict[int, int] = {}
        self.max_tracked = max(16, max_tracked)
        self.max_clients = max_clients
        self.sample_k = sample_k
        self.retired = 0
        self.retired_pending = 0
        self.races = RaceDetector(race_window, login_re)
        self.rows = 0
        self.routes = RouteTable()
        self.agents = AgentTable()
        self.origins: list[list] = []
        self.origin_of: dict[tuple[int, int, int], list] = {}
        self.max_origins = MAX_ORIGINS

    def _client(self, key: bytes, t: float) -> list:
        if len(self.by_idx) >= self.max_clients:
            # Pooled: the key is not stored, so memory stays bounded however many there are.
            c = self.clients.get(OTHER)
            if c is not None:
                if t < c[FIRST]:
                    c[FIRST] = t
                return c
            key = OTHER
        idx = len(self.by_idx)
        c = [0, 0, 0, 0, 0, t, t, 0.0, 0, {}, {}, _THR_ALL, idx, key, None, 0, None,
             None, 0, 0.0, 0.0, None, None]
        self.by_idx.append(c)
        self.clients[key] = c
        return c

    def feed(self, rows: Iterable[Row]) -> None:
        """The per-line loop. Kept flat: local names, list slots, no calls on the common path."""
        clients = self.clients
        cget = clients.get
        sessions = self.sessions
        sget = sessions.get
        origins = self.origins
        races = self.races
        issue = self._issue
        deleted = DELETED
        window = races.window
        n = 0
        for key, t, req, status, ck, sc, ua in rows:
            n += 1
            c = cget(key)
            if c is None:
                c = self._client(key, t)
            c[REQ] += 1
            if t > c[LAST]:
                c[LAST] = t
            elif t < c[FIRST]:
                c[FIRST] = t
            if t >= c[HOUR_END]:  # rows come in time order: count each new clock hour once
                c[HOURS] += 1
                c[HOUR_END] = (t // 3600 + 1) * 3600.0
            if ck is None:
                c[NOCK] += 1
            else:
                if ck != c[LASTCK]:  # a browser presents the same cookie again and again
                    c[LASTCK] = ck
                    hk = hash(ck)
                    v = sget(hk)
                    if v is None:
                        sessions[hk] = DONE
                        c[PRELOG] += 1
                        if len(sessions) > self.max_tracked:
                            self._retire()
                    elif v != DONE:
                        o = origins[v]
                        o[1][R_BACK] += 1
                        o[2][A_BACK] += 1
                        issuer = o[0]
                        issuer[PBACK] += 1
                        sessions[hk] = DONE
                        smp = issuer[SAMPLE]
                        if hk in smp:
                            del smp[hk]
                cl = c[OPEN]
                if cl is not None:
                    if t - cl[1] > window:
                        c[OPEN] = None
                        if len(cl[2]) > 1:
                            c[RACES] = races.close(c[KEY], c[RACES], cl, ck)
                    elif len(cl[2]) > 1 and t >= cl[2][-1][0] and len(cl[3]) < 64:
                        cl[3].append(ck)
                rs = c[RACES]
                if rs is not None:
                    races.presented(c[KEY], rs, t, ck)
                    if races.idle(rs):
                        c[RACES] = None
            if sc is not None and sc != ck:
                if sc is deleted:
                    c[CLEARED] += 1
                else:
                    issue(c, t, req, status, ck, sc, ua)
        self.rows += n

    def _issue(self, c: list, t: float, req: bytes, status: bytes, ck: bytes | None,
               sc: bytes, ua: bytes) -> None:
        sessions = self.sessions
        hk = hash(sc)
        if hk in sessions:
            return  # an id seen before: the cookie re-sent, not a new session
        lo = c[LASTORIG]  # a minting client repeats its request: one comparison, no lookups
        if lo is not None and lo[0] == req and lo[1] == ua:
            o = lo[2]
        else:
            o = self._origin(c, req, ua)
            c[LASTORIG] = (req, ua, o)
        sessions[hk] = o[O_IDX]
        route = o[O_ROUTE]
        route[R_ISSUED] += 1
        if route[R_FIRST] is None:
            route[R_FIRST] = t
        route[R_LAST] = t
        o[O_AGENT][A_ISSUED] += 1
        c[ISSUED] += 1
        ih = c[IHOURS]
        h = int(t // 3600)
        ih[h] = ih.get(h, 0) + 1
        last = c[G_LAST]
        if last is not None:  # Welford's running mean/variance of the gaps
            g = t - last
            gn = c[G_N] = c[G_N] + 1
            d = g - c[G_MEAN]
            mean = c[G_MEAN] = c[G_MEAN] + d / gn
            c[G_M2] += d * (g - mean)
        c[G_LAST] = t
        if hk < c[THR]:
            smp = c[SAMPLE]
            smp[hk] = sc
            if len(smp) > 2 * self.sample_k:
                keep = sorted(smp)[: self.sample_k]
                c[SAMPLE] = {k: smp[k] for k in keep}
                c[THR] = keep[-1] + 1
        cl = c[OPEN]
        if cl is not None:
            if cl[0] == ck and t - cl[1] <= self.races.window:
                cl[2].append((t, req, status, sc))
                cl[3].clear()  # only cookies presented after the last issuance count
            else:
                if len(cl[2]) > 1:
                    c[RACES] = self.races.close(c[KEY], c[RACES], cl)
                c[OPEN] = [ck, t, [(t, req, status, sc)], []]
        else:
            c[OPEN] = [ck, t, [(t, req, status, sc)], []]
        if len(sessions) > self.max_tracked:
            self._retire()

    def _origin(self, c: list, req: bytes, ua: bytes) -> list:
        route = self.routes.of(req)
        agent = self.agents.of(ua)
        key = (c[IDX], route[R_IDX], agent[A_IDX])
        o = self.origin_of.get(key)
        if o is None:
            if len(self.origins) >= self.max_origins:
                route, agent = self.routes.other(), self.agents.other()
                key = (c[IDX], route[R_IDX], agent[A_IDX])
                o = self.origin_of.get(key)
                if o is not None:
                    return o
            o = [c, route, agent, len(self.origins)]
            self.origins.append(o)
            self.origin_of[key] = o
            self.agents.add_client(agent, c[IDX])
        return o

    def finish(self) -> None:
        """End of the logs: close every open cluster on what was seen."""
        for c in self.by_idx:
            cl = c[OPEN]
            if cl is not None:
                c[OPEN] = None
                if len(cl[2]) > 1:
                    c[RACES] = self.races.close(c[KEY], c[RACES], cl)

    def _retire(self) -> None:
        """Drop the oldest eighth of the table (insertion order ≈ time order)."""
        sessions = self.sessions
        old = list(islice(iter(sessions), max(1, len(sessions) // 8)))
        pending = 0
        for hk in old:
            if sessions.pop(hk) != DONE:
                pending += 1
        self.retired += len(old)
        self.retired_pending += pending

    # Results --------------------------------------------------------------------------------

    def client_rows(self, lookup: StoreLookup | None, store_totals: dict | None) -> list[dict]:
        prefetch = getattr(lookup, "prefetch", None)
        if prefetch is not None:  # a file store looks every sampled id up at once, not serially
            prefetch([raw for c in self.by_idx if c[ISSUED] - c[PBACK]
                      for raw in c[SAMPLE].values()])
        out = []
        for c in self.by_idx:
            out.append(self._row(c, lookup, store_totals))
        out.sort(key=lambda r: (-r["orphans"], -r["sessions"], -r["requests"], r["client"]))
        return out

    def _row(self, c: list, lookup: StoreLookup | None, totals: dict | None) -> dict:
        orphans = c[ISSUED] - c[PBACK]
        span_h = (c[LAST] - c[FIRST]) / 3600
        row = {
            "client": text(c[KEY]),
            "requests": c[REQ],
            "requests_without_cookie": c[NOCK],
            "sessions": c[ISSUED] + c[PRELOG],
            "issued": c[ISSUED],
            "presented_back": c[PBACK],
            "presented_first_seen": c[PRELOG],
            "orphans": orphans,
            "orphan_fraction": round(orphans / c[ISSUED], 4) if c[ISSUED] else 0.0,
            "orphan_rate_per_hour": round(orphans / max(span_h, 1.0), 3),
            "first_seen": iso(c[FIRST]),
            "last_seen": iso(c[LAST]),
            "span_hours": round(span_h, 3),
            "active_hours": c[HOURS],
            "cookie_cleared": c[CLEARED],
            "cadence": None,
            "store": None,
        }
        if orphans >= 10:
            gaps = cadence.Gaps()
            gaps.last, gaps.n, gaps.mean, gaps.m2 = c[G_LAST], c[G_N], c[G_MEAN], c[G_M2]
            row["cadence"] = cadence.client_cadence(c[IHOURS], gaps)
        if lookup is not None and orphans:
            row["store"] = self._store_share(c, orphans, lookup, totals or {})
        return row

    def _store_share(self, c: list, orphans: int, lookup: StoreLookup, totals: dict) -> dict:
        sample = c[SAMPLE]
        exact = c[THR] == _THR_ALL
        p = 1.0 if exact else (c[THR] + (1 << 63)) / float(1 << 64)
        present = nbytes = alloc = 0
        for raw in sample.values():
            hit = lookup(raw)
            if hit is not None:
                present += 1
                nbytes += hit[0]
                alloc += hit[1]
        scale = 1.0 / p if p > 0 else 0.0
        est = present * scale
        est_bytes = nbytes * scale
        est_alloc = alloc * scale
        if not exact:
            est = min(est, orphans)
        ts, tb, ta = totals.get("sessions") or 0, totals.get("bytes") or 0, \
            totals.get("allocated_bytes") or 0
        return {
            "orphans_in_store": round(est) if exact else round(est, 1),
            "bytes": round(est_bytes),
            "allocated_bytes": round(est_alloc),
            "share_of_sessions": round(est / ts, 6) if ts else None,
            "share_of_bytes": round(est_bytes / tb, 6) if tb else None,
            "share_of_allocated_bytes": round(est_alloc / ta, 6) if ta else None,
            "method": "exact" if exact else "sampled",
            "looked_up": len(sample),
        }


# ---------------------------------------------------------------------------------------
# Store lookups: cookie value -> (bytes, allocated bytes) of the session still in the store.

StoreLookup = Callable[[bytes], "tuple[int, int] | None"]


# ---------------------------------------------------------------------------------------
# Wiring into the scan report




# Above this share of unparsable lines, attribution is too partial to trust quietly: a
# finding says so, and --strict makes it an error. nginx logs hold the odd garbage line
# (a TLS handshake on the plain port); a wrong --log-format skips nearly all of them.
SKIPPED_WARN_SHARE = 0.01


def attach_clients(report: dict, logs: LogSettings, store: SessionStore | None = None,
                   profile: str | None = None) -> None:
    """Add `clients`, `races`, `access_log`, cadence and findings from the access logs.

    With a store, each client's orphans are looked up in it (`store.lookup`) by the session
    id their cookie carries; the store does the reading, this module only the counting.
    """
    target = report.get("target") or {}
    profile = target.get("profile") or profile
    spec = LogSpec.build(logs.log_format, logs.cookie_name, logs.client_key, logs.log_fields,
                         logs.cookie_hint)
    reader = LogReader(list(logs.access_logs), spec, profile)
    att = Attribution(race_window=logs.race_window, login_re=logs.login_path,
                      max_tracked=logs.max_tracked or MAX_TRACKED)
    att.feed(_session_ids(reader, profile, logs.secret))
    att.finish()
    st = reader.stats
    if st.parsed == 0:
        raise UsageError(f"no line of {', '.join(st.files)} is in the {spec.fmt} format"
                         + (f" (first line: '{st.skipped_examples[0]}')"
                            if st.skipped_examples else ""))
    skipped_share = st.skipped / st.lines if st.lines else 0.0
    if logs.strict and skipped_share > SKIPPED_WARN_SHARE:
        raise UsageError(f"--strict: {st.skipped:,} of {st.lines:,} lines of "
                         f"{', '.join(st.files)} ("
                         f"{format_percent(skipped_share)}) did not parse as "
                         f"{spec.fmt} (first: '{st.skipped_examples[0]}')")
    cookie = st.cookie_name or ""
    lookup = store.lookup(profile, cookie, logs.secret) if store is not None and cookie else None
    try:
        rows = att.client_rows(lookup, report)
    finally:
        if lookup is not None:
            lookup.close()
    shown = rows[: logs.max_clients_shown or MAX_CLIENTS_SHOWN]
    report["clients"] = shown
    report["races"] = att.races.events(iso, text)
    report["clients_summary"] = {
        "clients": len(rows), "shown": len(shown),
        "requests": sum(r["requests"] for r in rows),
        "issued": sum(r["issued"] for r in rows),
        "orphans": sum(r["orphans"] for r in rows),
        "source": "access-log",
    }
    report["access_log"] = {
        "files": st.files, "format": spec.fmt, "lines": st.lines, "parsed": st.parsed,
        "skipped": st.skipped, "skipped_examples": st.skipped_examples,
        "skipped_fraction": round(skipped_share, 4),
        "skipped_warn_fraction": SKIPPED_WARN_SHARE,
        "first": iso(st.first), "last": iso(st.last),
        "cookie_name": cookie, "cookie_name_source": st.cookie_name_source,
        "client_key": spec.client_key, "race_window_s": att.races.window,
        "out_of_order_lines": st.out_of_order,
        "set_cookie_field": st.set_cookie_field,
        "session_cookie_sets": st.session_sets, "other_cookie_sets": st.other_sets,
        "tracked_sessions": len(att.sessions), "retired_sessions": att.retired,
        "races_dismissed_shared_key": att.races.dismissed_shared,
        "race_bursts_ignored": att.races.dropped_bursts,
    }
    if profile in PROFILE_COOKIES and cookie and cookie not in PROFILE_COOKIES[profile]:
        report.setdefault("warnings", []).append(
            f"session cookie {cookie!r} is not one {profile} uses by default "
            f"({', '.join(PROFILE_COOKIES[profile])}); pass --cookie-name if this is wrong")
    if att.retired_pending:
        report.setdefault("warnings", []).append(
            f"{att.retired:,} of the oldest tracked sessions were retired to bound memory "
            f"(--max-tracked {att.max_tracked:,}); presentations of those count as new")
    if st.skipped:
        report.setdefault("warnings", []).append(
            f"{st.skipped:,} of {st.lines:,} access-log lines did not parse as {spec.fmt}")
    attach_store_cadence(report)
    _client_findings(report)
    attach_minters(report, att.routes, att.agents, st, profile)
    if skipped_share > SKIPPED_WARN_SHARE:
        # Put first: every count above rests on the parsed lines only.
        report.setdefault("findings", []).insert(0, (
            f"only {st.parsed:,} of {st.lines:,} access-log lines parsed ("
            f"{format_percent(skipped_share, 0)} "
            f"skipped as not {spec.fmt}, e.g. '{st.skipped_examples[0]}'): clients, orphans "
            "and races count only those; check --log-format (--strict makes this exit 2)"))


UNMAPPED = b"\x00unmapped:"  # a presented cookie value that carries no session id


def _session_ids(reader: LogReader, profile: str | None, secret: object) -> Iterable[Row]:
    """The log's rows, with cookie values replaced by session ids where the framework's
    cookie changes on every response (Laravel re-encrypts it): only ids can be compared.
    Other frameworks' rows pass through untouched (their values are stable)."""
    rows = iter(reader.rows())
    first = next(rows, None)  # the reader knows the cookie's name once it has read a line
    if first is None:
        return
    cookie = reader.stats.cookie_name
    fw = frameworks.REGISTRY.get(profile or "")
    if fw is None or fw.name == "generic":
        fw = frameworks.for_cookie(cookie)
    if fw is None and secret is not None:  # an app's own cookie name, and its app's key
        fw = next((f for f in frameworks.REGISTRY.values() if f.keyed_sid_from_cookie), None)
    if fw is None or fw.stable_cookie:
        yield first
        yield from rows
        return
    if fw.keyed_sid_from_cookie is not None and secret is None:
        raise UsageError(f"{fw.family} encrypts its session cookie ({cookie}): pass the app's "
                         "key (--app-env PATH/TO/.env, or --app-key) to read the session ids")
    mapper = frameworks.sid_mapper(fw.name, cookie, secret)
    memo: dict[bytes, str | None] = {}

    def sid_of(raw: bytes) -> str | None:  # a value is set by one response, presented by the next
        if raw not in memo:
            if len(memo) >= 1 << 16:
                memo.clear()
            memo[raw] = mapper(raw)
        return memo[raw]

    failed = [0]
    yield _map_row(first, sid_of, failed)
    for row in rows:
        yield _map_row(row, sid_of, failed)


def _map_row(row: Row, sid_of: Callable[[bytes], str | None], failed: list[int]) -> Row:
    key, t, req, status, ck, sc, ua = row
    if ck is not None:
        sid = sid_of(ck)
        ck = sid.encode() if sid else UNMAPPED + ck[:24]
    if sc is not None and sc is not DELETED:
        sid = sid_of(sc)
        if sid is None:
            failed[0] += 1
            if failed[0] >= 20:  # a Set-Cookie the app made itself always maps
                raise UsageError("the session cookies the app set in the log carry no session "
                                 "id with this key: wrong APP_KEY, or another app's log?")
            sc = None
        else:
            sc = sid.encode()
            failed[0] = 0
    return key, t, req, status, ck, sc, ua


def logs_only_report(logs: LogSettings, profile: str | None = None) -> dict:
    """`clients` without a store: what the access logs alone say."""
    import time

    report: dict = {"schema": "sessdiag.clients/1", "target": None,
                    "generated_at": iso(logs.now if logs.now is not None else time.time()),
                    "clients": [], "races": [], "warnings": [], "findings": []}
    attach_clients(report, logs, None, profile)
    return report


def _client_findings(report: dict) -> None:
    findings = report.setdefault("findings", [])
    for c in report["clients"][:5]:
        line = cadence.describe_client(c["client"], c)
        if line:
            findings.append(line)
    races = report.get("races") or []
    if races:
        lost = sum(1 for r in races if r["lost_login"] is True)
        first = races[0]
        line = (f"{len(races)} login race(s): a client got two or more new sessions from "
                f"overlapping requests and went on with one of them (first {first['at']}, "
                f"client {first['client']})")
        if lost:
            line += f"; {lost} lost the session the login wrote — the user was logged out"
        findings.append(line)


# ---------------------------------------------------------------------------------------
# Attribution without logs: an attribute inside the payloads (e.g. beego's `username`).


def attribute_by_payload(report: dict, store: SessionStore, attr: str) -> None:
    """`clients` by the value of payload attribute `attr`, plus the unattributed sessions.

    Sessions whose payload holds no attributes are the store's orphans; they have no owner to
    name and are reported under "(unattributed)" with their count as orphans.
    """
    rows = store.attribute(attr)
    if rows is None:
        report.setdefault("warnings", []).append(
            f"--client-attr is not available for {store.kind} targets")
        return
    rows.sort(key=lambda r: (-r["orphans"], -r["sessions"], r["client"]))
    if report.get("clients"):
        report["clients_by_attribute"] = rows
    else:
        report["clients"] = rows
        report["clients_summary"] = {"clients": len(rows), "shown": len(rows),
                                     "source": f"payload attribute {attr}"}
