"""The traffic every app gets, with the counts the driver knows, and the expected report.

Every app serves the same routes: `/` (a page that puts a CSRF-style token in the session,
so a visitor without the cookie gets a new session, like most real apps), `/login?user=`
(writes the user), `/info` (the periodic "am I logged in?" call of incident 2), `/logout`
(destroys the session and clears the cookie) and `/health` (no session). `/login` and
`/info` take `delay_ms`, the time the app spends on the request (a password check, a slow
query), which is how the race below is given an order without the driver sleeping.

Clients (loopback source addresses, so nginx logs distinct `$remote_addr`):

| address | who | by design |
| --- | --- | --- |
| 127.0.0.2-4 | browsers: visit, log in, poll `/info` | 1 session each, 0 orphans |
| 127.0.0.5 | machine client, never sends the cookie | `MACHINE_CALLS` orphans |
| 127.0.0.6 | health checker on `/health` | no sessions |
| 127.0.0.7 | visits once and leaves | 1 orphan |
| 127.0.0.8 | sends a fixed expired cookie, ignores Set-Cookie | framework-dependent |
| 127.0.0.9 | browser that logs out | cookie cleared, 0 orphans |
| 127.0.0.10 | two browsers behind one NAT address, first visits at once | 2 sessions, no race |
| 127.0.0.11 | login race, `/info` answers last | race, login lost |
| 127.0.0.12 | login race, `/login` answers last | race, login kept |

A race is *expected* when the two concurrent requests really got two different new session
ids (PHP with `session.use_strict_mode=1` does; PHP without it adopts the stale id, and then
nothing races): the driver decides from what it received, not from the log.

Browsers send real browsers' User-Agent strings and the machines theirs: `CLASSES` is what
the driver knows each agent to be, so the truth per user agent includes its class.
"""

from __future__ import annotations

from harness import Client, Truth, concurrently, minters_expected
from minters_scenario import CHROME, FIREFOX, PROBE

SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like "
          "Gecko) Version/18.1 Safari/605.1.15")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
          "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1")
ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0.0.0 Mobile Safari/537.36")
MACHINE = "internal-sync/1.0 (python-requests)"  # an in-house service on an HTTP library
LEGACY = "legacy-client/0.9"  # an in-house client whose name says nothing of what it is
# What each agent is, as the driver knows it (analysis.agents' classes).
CLASSES = {CHROME: "browser", FIREFOX: "browser", SAFARI: "browser", IPHONE: "browser",
           ANDROID: "browser", MACHINE: "tool", PROBE: "monitor", LEGACY: "unknown"}

MACHINE_CALLS = 40
STALE = "0123456789abcdefghijklmnop"  # a well-formed id the store no longer knows


def run(host: str, port: int, cookie_name: str, paths: dict[str, str] | None = None) -> Truth:
    p = {"page": "/", "login": "/login", "info": "/info", "logout": "/logout",
         "health": "/health"}
    p.update(paths or {})
    truth = Truth(cookie_name)
    races: list[dict] = []
    truth.races = races  # type: ignore[attr-defined]

    def client(ip: str, **kw) -> Client:  # type: ignore[no-untyped-def]
        return Client(truth, host, port, ip, **kw)

    browsers = [client(f"127.0.0.{i}", ua=ua) for i, ua in ((2, CHROME), (3, FIREFOX),
                                                            (4, SAFARI))]
    for i, b in enumerate(browsers):
        b.request(p["page"])
        for _ in range(3):
            b.request(p["page"])
        b.request(f"{p['login']}?user=user{i}")
        b.request(p["info"])
        b.request(p["info"])

    machine = client("127.0.0.5", jar=False, ua=MACHINE)
    for _ in range(MACHINE_CALLS):
        machine.request(p["page"])

    health = client("127.0.0.6", jar=False, ua=PROBE)
    for _ in range(10):
        health.request(p["health"])

    once = client("127.0.0.7", ua=IPHONE)
    once.request(p["page"])

    stale = client("127.0.0.8", jar=False, ua=LEGACY)
    for _ in range(5):
        stale.request(p["page"], cookie=STALE)

    leaver = client("127.0.0.9", ua=FIREFOX)
    leaver.request(p["page"])
    leaver.request(f"{p['login']}?user=leaver")
    leaver.request(p["info"])
    leaver.request(p["logout"])

    # Two people behind one address, first visits at the same moment, then both keep
    # browsing: two sessions, both presented back, and no race.
    nat_a = client("127.0.0.10", ua=CHROME)
    nat_b = client("127.0.0.10", ua=ANDROID)
    concurrently(lambda: nat_a.request(p["page"]), lambda: nat_b.request(p["page"]))
    for _ in range(3):
        nat_a.request(p["info"])
        nat_b.request(p["info"])

    # Incident 2: the session expired; /login and the periodic /info leave at once with the
    # same stale cookie. Whichever answer arrives last is what the browser keeps.
    for ip, login_ms, info_ms in (("127.0.0.11", 100, 600), ("127.0.0.12", 600, 100)):
        b = client(ip, ua=CHROME)
        b.request(p["page"])
        n0 = len(truth.exchanges)
        concurrently(
            lambda b=b, ms=login_ms: b.request(f"{p['login']}?user=racer&delay_ms={ms}",
                                               cookie=STALE),
            lambda b=b, ms=info_ms: b.request(f"{p['info']}?delay_ms={ms}", cookie=STALE))
        pair = [e for e in truth.exchanges[n0:] if e.client == ip]
        kept = b.jar.get(cookie_name)
        new = [e.set_value for e in pair if e.set_value and e.set_value != e.presented]
        for _ in range(2):
            b.request(p["info"])
        if len(set(new)) >= 2:
            login_id = next(e.set_value for e in pair if e.path.startswith(p["login"]))
            races.append({"client": ip, "presented": STALE, "issued": sorted(set(new)),
                          "kept": kept, "lost_login": kept != login_id})
    return truth


def expected(truth: Truth) -> dict:
    """What the report must say, from the driver's own records."""
    clients = {}
    for ip, d in truth.per_client().items():
        clients[ip] = {"requests": d["requests"],
                       "requests_without_cookie": d["requests_without_cookie"],
                       "issued": len(d["issued"]), "orphans": len(d["orphans"]),
                       "orphan_ids": sorted(d["orphans"])}
    return {"cookie_name": truth.cookie_name, "clients": clients,
            "races": truth.races,  # type: ignore[attr-defined]
            **minters_expected(truth, CLASSES)}
