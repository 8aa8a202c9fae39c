"""Route templates: ids collapse, names stay; the table stays bounded."""

from __future__ import annotations

import pytest

from sessdiag.analysis.routes import (
    OTHER_ROUTES,
    R_ISSUED,
    RouteTable,
    route_of,
    route_rows,
    split_request,
)


@pytest.mark.parametrize(("request_line", "route", "template"), [
    (b"GET /api/ping HTTP/1.1", b"GET /api/ping", b"GET /api/ping"),
    (b"GET /login?user=a&x=1 HTTP/1.1", b"GET /login", b"GET /login"),
    (b"GET /items/8121 HTTP/1.1", b"GET /items/8121", b"GET /items/{id}"),
    (b"DELETE /u/1b4e28ba-2fa1-11d2-883f-0016d3cca427/keys/7 HTTP/2.0",
     b"DELETE /u/1b4e28ba-2fa1-11d2-883f-0016d3cca427/keys/7", b"DELETE /u/{id}/keys/{id}"),
    (b"GET /obj/d133f3a8b752a7ae6a06de256899ef15 HTTP/1.1",
     b"GET /obj/d133f3a8b752a7ae6a06de256899ef15", b"GET /obj/{id}"),
    (b"GET /reset/Zm9vYmFyMTIzNDU2Nzg5MGFi HTTP/1.1",
     b"GET /reset/Zm9vYmFyMTIzNDU2Nzg5MGFi", b"GET /reset/{id}"),
    (b"GET /t/aB3_x9Kq-72LmZpQ0vW8 HTTP/1.1", b"GET /t/aB3_x9Kq-72LmZpQ0vW8", b"GET /t/{id}"),
    (b"GET /archive/2026-12-03 HTTP/1.1", b"GET /archive/2026-12-03", b"GET /archive/{date}"),
    (b"GET /img/4711.png HTTP/1.1", b"GET /img/4711.png", b"GET /img/{id}.png"),
    (b"GET /api/get-organizations HTTP/1.1", b"GET /api/get-organizations",
     b"GET /api/get-organizations"),
    (b"GET /api/v2/users HTTP/1.1", b"GET /api/v2/users", b"GET /api/v2/users"),
    (b"GET /manifest.json HTTP/1.1", b"GET /manifest.json", b"GET /manifest.json"),
    (b"GET /static/app-bundle-chunk-vendors.js HTTP/1.1",
     b"GET /static/app-bundle-chunk-vendors.js", b"GET /static/app-bundle-chunk-vendors.js"),
    (b"GET /CamelCaseRouteName HTTP/1.1", b"GET /CamelCaseRouteName", b"GET /CamelCaseRouteName"),
    (b"GET http://example.com/a/12?q HTTP/1.1", b"GET /a/12", b"GET /a/{id}"),
    (b"GET / HTTP/1.1", b"GET /", b"GET /"),
])
def test_ids_collapse_and_names_stay(request_line, route, template):
    assert route_of(request_line) == (route, template)


@pytest.mark.parametrize("junk", [b"-", b"\x16\x03\x01\x02", b"", b"GET"])
def test_a_line_that_is_no_request_is_one_route(junk):
    assert split_request(junk) == (b"-", b"-")


def test_a_million_distinct_paths_stay_one_row_per_template():
    table = RouteTable()
    for i in range(20_000):
        rec = table.of(b"GET /items/%d?page=2 HTTP/1.1" % i)
        rec[R_ISSUED] += 1
    table.rows[0][4] = table.rows[0][5] = 0.0
    (row,) = route_rows(table)
    assert (row["template"], row["issued"]) == ("GET /items/{id}", 20_000)
    assert row["distinct_routes_capped"] and row["distinct_routes"] == 1000


def test_templates_past_the_cap_pool_in_one_row():
    table = RouteTable(max_routes=5)
    for i in range(50):
        table.of(b"GET /page%s HTTP/1.1" % (b"x" * i))
    assert len(table.rows) == 6 and table.rows[-1][2] == OTHER_ROUTES
    assert table.pooled == 45


def test_rows_name_the_raw_route_or_the_template():
    table = RouteTable()
    for line, n in ((b"GET /items/1 HTTP/1.1", 3), (b"GET /items/2 HTTP/1.1", 1),
                    (b"GET /ping HTTP/1.1", 2), (b"GET /solo/99 HTTP/1.1", 1)):
        rec = table.of(line)
        rec[R_ISSUED] += n
        rec[4] = rec[4] or 0.0
        rec[5] = 0.0
    rows = {r["template"]: r for r in route_rows(table)}
    assert rows["GET /items/{id}"]["route"] == "GET /items/{id}"
    assert rows["GET /items/{id}"]["distinct_routes"] == 2
    assert rows["GET /solo/{id}"]["route"] == "GET /solo/99"
    assert [r["issued"] for r in route_rows(table)] == [4, 2, 1]
