"""The login race of incident 2, found in access logs.

beego's file sessions (and PHP with `session.use_strict_mode`, and any read/create/write
session store) race when two requests carry the same unknown (expired) session id: each
creates a *new* session and each response sets its own cookie. The browser keeps whichever
Set-Cookie it processed last; if that is not the session the login request wrote, the login
is lost and the user is "kicked out".

The rule, per client key:

1. **Cluster**: new session ids issued to the client for requests that presented the *same*
   cookie value P (or none), all within `window` seconds of the first of them.
2. A cluster with two or more *different* new ids is a candidate.
3. **Kept**: the cluster id the client goes on with: the last cluster id it presented after
   the cluster's last issuance and before the window closed, or else the first cookie it
   presents after the window. If that cookie is none of the cluster's ids, there is no race
   (a cookieless machine never comes back, so its bursts never become races).
4. **Two jars, one key**: if, after the kept id, the client presents another id of the same
   cluster (within the window or at any time later), two cookie jars share this client key
   (e.g. two browsers behind one NAT address, each with its own fresh session): dismissed.
   A request already in flight may still present an earlier id *before* the kept one
   appears; that is the race itself, not a second jar.
5. **lost_login**: when a request of the cluster looks like a login (path matches
   `login_re`, status < 400), true when the kept id is not the one the login was issued,
   false when it is; null when no request of the cluster is a login. Without login info the
   event still says which id was kept: `kept_index` 0 means the earliest-issued one.

Times are the log's (nginx writes the line when the response is sent), so "overlapping"
means completed within the window. State per client is a handful of small lists, bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sessdiag.analysis.accesslog import request_parts, status_code

DEFAULT_LOGIN_RE = (r"(?i)(?:^|/)(?:log-?in|sign-?in|signon|auth(?:enticate)?|session/new)"
                    r"(?:[/?.;]|$)")
MAX_CLUSTER = 16  # more new ids than this in one window is a burst, not a browser's race
MAX_PENDING = 4  # closed candidates per client awaiting the client's next cookie
MAX_EVENTS = 10_000  # confirmed races kept in the report


class Cluster:
    """New ids issued for one presented value within the window, in log order."""

    __slots__ = ("entries", "ids", "kept", "presented", "t0")

    def __init__(self, presented: bytes | None, t0: float,
                 entries: list[tuple[float, bytes, bytes, bytes]]) -> None:
        self.presented = presented
        self.t0 = t0
        self.entries = entries
        self.ids: dict[bytes, int] = {}
        for e in entries:
            if e[3] not in self.ids:
                self.ids[e[3]] = len(self.ids)
        self.kept: bytes | None = None

    @property
    def last_issue(self) -> float:
        return self.entries[-1][0]


@dataclass
class ClientRaces:
    pending: list[Cluster] = field(default_factory=list)
    watch: list[Cluster] = field(default_factory=list)


class RaceDetector:
    """Open clusters live in the caller's per-client state as plain lists
    `[presented, t0, entries]` (cheap on the per-request path); `close` hands a finished one
    over, and candidates then live in a `ClientRaces`."""

    def __init__(self, window: float = 2.0, login_re: str | None = None) -> None:
        self.window = float(window)
        self.login = re.compile((login_re or DEFAULT_LOGIN_RE).encode())
        self.dismissed_shared = 0
        self.dropped_bursts = 0
        self.confirmed: list[tuple[bytes, Cluster]] = []
        self.truncated = 0

    def close(self, key: bytes, state: ClientRaces | None, open_cluster: list,
              closing: bytes | None = None) -> ClientRaces | None:
        """Close an open cluster `[presented, t0, entries, after]`; returns the client's race
        state (new if needed). `after` lists the cluster ids the client presented after the
        cluster's last issuance while it was open; `closing` is the cookie presented after
        the window that closes it (None when a new cluster or the end of the log closes it).
        """
        presented, t0, entries, after = open_cluster
        if len(entries) < 2:
            return state
        cl = Cluster(presented, t0, entries)
        if len(cl.ids) < 2:
            return state
        if len(cl.ids) > MAX_CLUSTER:
            self.dropped_bursts += 1
            return state
        if state is None:
            state = ClientRaces()
        seq = [v for v in after if v in cl.ids]
        if closing is not None and closing in cl.ids:
            seq.append(closing)
        if not seq:
            if closing is not None:
                return state  # the first cookie after the window is none of them
            state.pending.append(cl)  # the client's next cookie decides
            if len(state.pending) > MAX_PENDING:
                del state.pending[0]
            return state
        kept = seq[-1]
        first_kept = seq.index(kept)
        if any(v != kept for v in seq[first_kept + 1:]):
            self.dismissed_shared += 1  # ids alternate: two jars behind one key
            return state
        cl.kept = kept
        self._confirm(key, state, cl)
        return state

    def presented(self, key: bytes, state: ClientRaces, t: float, value: bytes) -> None:
        if state.pending:
            for cand in state.pending:
                if cand.kept is None:
                    # The first cookie after the window decides, whatever it is.
                    if value in cand.ids:
                        cand.kept = value
                        self._confirm(key, state, cand)
                    else:
                        cand.kept = b""  # kept none of them: not a race
            state.pending = [c for c in state.pending if c.kept is None]
        if state.watch:
            for ev in state.watch:
                if value != ev.kept and value in ev.ids:
                    ev.kept = None  # a second jar presents another of the ids
            kept = [ev for ev in state.watch if ev.kept is not None]
            self.dismissed_shared += len(state.watch) - len(kept)
            state.watch = kept

    def idle(self, state: ClientRaces) -> bool:
        return not state.pending and not state.watch

    # Internals ------------------------------------------------------------------------------

    def _confirm(self, key: bytes, state: ClientRaces, cl: Cluster) -> None:
        if len(self.confirmed) >= MAX_EVENTS:
            self.truncated += 1
            return
        state.watch.append(cl)
        self.confirmed.append((key, cl))

    # Results ----------------------------------------------------------------------------------

    def events(self, iso, decode) -> list[dict]:  # type: ignore[no-untyped-def]
        """Confirmed, not dismissed races as contract dicts, oldest first."""
        out = []
        for key, cl in self.confirmed:
            if cl.kept is None:
                continue  # dismissed: two jars
            out.append(self._event(key, cl, iso, decode))
        out.sort(key=lambda e: (e["at"], e["client"]))
        return out

    def _event(self, key: bytes, cl: Cluster, iso, decode) -> dict:  # type: ignore[no-untyped-def]
        issued = sorted(cl.ids, key=cl.ids.__getitem__)
        requests = []
        login_ids: list[bytes] = []
        for t, req, status, new in cl.entries:
            method, path = request_parts(req)
            code = status_code(status)
            is_login = bool(self.login.search(path.split("?", 1)[0].encode())) and (
                code is None or code < 400)
            if is_login:
                login_ids.append(new)
            requests.append({"at": iso(t), "method": method, "path": path,
                             "status": code,
                             "issued": decode(new), "login": is_login})
        kept = cl.kept
        lost: bool | None = None
        if login_ids:
            lost = kept not in login_ids
        return {
            "client": decode(key),
            "at": iso(cl.t0),
            "presented": decode(cl.presented) if cl.presented is not None else None,
            "issued": [decode(i) for i in issued],
            "kept": decode(kept) if kept else None,
            "kept_index": cl.ids.get(kept) if kept else None,
            "lost_login": lost,
            "window_s": round(cl.last_issue - cl.t0, 3),
            "requests": requests,
        }
