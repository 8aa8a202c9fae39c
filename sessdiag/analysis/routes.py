"""Routes that mint sessions: request lines grouped into templates, with bounded counters.

A route is the method and the path without its query string (`GET /api/ping`). Paths that
carry ids (`/items/8121`, `/u/1b4e28ba-2fa1-11d2-883f-0016d3cca427`, `/reset/Zm9vYmFy…`)
would make one row per id, so each path segment that looks like an id is replaced by
`{id}` (decimal numbers, UUIDs, hex of 16+ digits, base64/base64url tokens of 16+
characters mixing letters and digits) or `{date}` (`2026-12-03`); rows are grouped by that
*template*. A million distinct paths under one template stay one row, and past
`MAX_ROUTES` templates new ones are pooled in one "(other routes)" row, so memory is bounded
whatever the log holds.
"""

from __future__ import annotations

import re

MAX_ROUTES = 2000  # templates kept; later new ones pool in OTHER_ROUTES
MAX_DISTINCT = 1000  # distinct raw routes counted per template (then "at least")
OTHER_ROUTES = b"(other routes)"
_CACHE_MAX = 1 << 16

# One segment (or the stem before its extension) that is an id.
_ID = re.compile(
    rb"(?:\d+"
    rb"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    rb"|[0-9a-fA-F]{16,})")
_DATE = re.compile(rb"\d{4}-\d{2}-\d{2}(?:T[\d:.]+Z?)?")
_TOKEN = re.compile(rb"[A-Za-z0-9_+\-]{16,}={0,2}")
_DIGIT = re.compile(rb"\d")
_LETTER = re.compile(rb"[A-Za-z]")
_WORDS = re.compile(rb"[-_][a-z]{3,}[-_]|^[a-z]+[-_][a-z]+")  # kebab/snake words: a name


def _is_token(seg: bytes) -> bool:
    """A random token (session ids, reset links, signed URLs), not a slug such as
    `get-organizations` or `api-v2-users`: mixes letters and 2+ digits, no word structure."""
    if not _TOKEN.fullmatch(seg) or _WORDS.search(seg):
        return False
    return len(_DIGIT.findall(seg)) >= 2 and _LETTER.search(seg) is not None


def segment_template(seg: bytes) -> bytes:
    if not seg:
        return seg
    if _ID.fullmatch(seg):
        return b"{id}"
    if _DATE.fullmatch(seg):
        return b"{date}"
    if _is_token(seg):
        return b"{id}"
    stem, dot, ext = seg.rpartition(b".")
    if dot and stem and ext.isalnum() and len(ext) <= 5:
        t = segment_template(stem)
        if t != stem:
            return t + b"." + ext
    return seg


def split_request(request: bytes) -> tuple[bytes, bytes]:
    """`GET /p?q HTTP/1.1` -> (b"GET", b"/p"): the query and fragment dropped, an
    absolute-form target cut to its path. A line that is not a request gives (b"-", b"-")."""
    parts = request.split(b" ")
    if len(parts) < 2 or not parts[0].isalpha():
        return b"-", b"-"
    path = parts[1]
    for sep in (b"?", b"#"):
        cut = path.find(sep)
        if cut >= 0:
            path = path[:cut]
    if path[:1] != b"/":
        scheme = path.find(b"://")
        if scheme > 0:
            slash = path.find(b"/", scheme + 3)
            path = path[slash:] if slash >= 0 else b"/"
        elif path != b"*":
            return parts[0], b"-"
    return parts[0], path or b"/"


def route_of(request: bytes) -> tuple[bytes, bytes]:
    """(route, template): `GET /items/7?x=1 HTTP/1.1` -> (b"GET /items/7", b"GET /items/{id}")."""
    method, path = split_request(request)
    route = method + b" " + path
    if path == b"-":
        return route, route
    tmpl = b"/".join(segment_template(s) for s in path.split(b"/"))
    return route, method + b" " + tmpl


# A route's counters: one list per template (a list beats attributes in the per-line loop).
R_ISSUED, R_BACK, R_TEMPLATE, R_EXAMPLE, R_FIRST, R_LAST, R_PATHS, R_IDX = range(8)


class RouteTable:
    """Template -> counters, at most MAX_ROUTES of them; a per-request-line cache in front."""

    def __init__(self, max_routes: int = MAX_ROUTES) -> None:
        self.max_routes = max_routes
        self.by_template: dict[bytes, list] = {}
        self.rows: list[list] = []
        self._cache: dict[bytes, list] = {}
        self.pooled = 0  # issuing requests whose template came after the cap

    def of(self, request: bytes) -> list:
        """The counters of `request`'s template (created on first sight)."""
        rec = self._cache.get(request)
        if rec is not None:
            return rec
        route, tmpl = route_of(request)
        rec = self.by_template.get(tmpl)
        if rec is None:
            if len(self.rows) >= self.max_routes:
                rec = self.other()
                self.pooled += 1
            else:
                rec = self._new(tmpl, route)
        paths = rec[R_PATHS]
        if paths is not None:
            paths.add(hash(route))
            if len(paths) >= MAX_DISTINCT:
                rec[R_PATHS] = None  # counted enough: "at least MAX_DISTINCT"
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[request] = rec
        return rec

    def other(self) -> list:
        """The pool row (for sessions past every bound)."""
        rec = self.by_template.get(OTHER_ROUTES)
        return rec if rec is not None else self._new(OTHER_ROUTES, OTHER_ROUTES)

    def _new(self, tmpl: bytes, example: bytes) -> list:
        rec = [0, 0, tmpl, example, None, None, set(), len(self.rows)]
        self.rows.append(rec)
        self.by_template[tmpl] = rec
        return rec


def route_rows(table: RouteTable) -> list[dict]:
    """The report's `routes`: templates that were issued a session, most orphans first."""
    out = []
    for rec in table.rows:
        if not rec[R_ISSUED]:
            continue
        orphans = rec[R_ISSUED] - rec[R_BACK]
        span_h = (rec[R_LAST] - rec[R_FIRST]) / 3600 if rec[R_FIRST] is not None else 0.0
        paths = rec[R_PATHS]
        tmpl = rec[R_TEMPLATE].decode("utf-8", "replace")
        one = paths is not None and len(paths) == 1
        out.append({
            # One raw route: itself. Several under one template: the template (the contract's
            # "method and path" with its ids collapsed), and an example.
            "route": rec[R_EXAMPLE].decode("utf-8", "replace") if one else tmpl,
            "template": tmpl,
            "issued": rec[R_ISSUED],
            "orphans": orphans,
            "orphan_fraction": round(orphans / rec[R_ISSUED], 4),
            "orphan_rate_per_hour": round(orphans / max(span_h, 1.0), 3),
            "span_hours": round(span_h, 3),
            "distinct_routes": len(paths) if paths is not None else MAX_DISTINCT,
            "distinct_routes_capped": paths is None,
            "example": rec[R_EXAMPLE].decode("utf-8", "replace"),
        })
    out.sort(key=lambda r: (-r["orphans"], -r["issued"], r["route"]))
    return out
