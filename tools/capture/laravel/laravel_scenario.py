"""The traffic the Laravel app gets, and the ground truth the clients record.

Laravel re-encrypts its session cookie on every response, so a cookie's raw value says
nothing about its id. The app (tools/capture/laravel/app) names the id in clear in an
`X-Session-Id` header whenever it sets the cookie; each client pairs that id with the
encrypted value the same response set, and so knows the id of every cookie it later
presents. The truth below is about ids, and never comes from decrypting the log.

Clients (loopback source addresses, so nginx logs distinct `$remote_addr`):

| address | who | by design |
| --- | --- | --- |
| 127.0.0.2-4 | browsers: visit, log in, poll `/info` | 2 ids each (visit, login), 0 orphans |
| 127.0.0.5 | machine client on `/`, never sends the cookie | `MACHINE_CALLS` orphans |
| 127.0.0.6 | health checker on `/api/health` (api group) | no sessions |
| 127.0.0.7 | visits once and leaves | 1 orphan |
| 127.0.0.8 | sends a cookie that does not decrypt, ignores Set-Cookie | a new id each time |
| 127.0.0.9 | browser that logs in, then out, and leaves | logout's new id is an orphan |
| 127.0.0.10 | two browsers behind one NAT address, first visits at once | 2 sessions |
| 127.0.0.11 | expired session: `/login` and `/info` at once, `/info` answers last | login lost |
| 127.0.0.12 | the same, `/login` answers last | login kept |
| 127.0.0.13 | uptime monitor on `/ping`, a route in the `web` group | `PING_CALLS` orphans |
| 127.0.0.14 | API client on `/api/items` | no sessions |

The expired session of .11/.12 is a properly encrypted cookie (made with the app's key by
the framework's own Encrypter) of a well-formed id the store does not hold. Laravel adopts
such an id, so `/info` answers with the presented id, and only `/login` issues a new one:
one new id, no race in sessdiag's sense, though the client that keeps `/info`'s answer has
lost its login all the same.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness import Exchange, concurrently, minters_expected
from harness import Truth as _Truth
from scenario import ANDROID, CHROME, FIREFOX, IPHONE, LEGACY, MACHINE, PROBE, SAFARI

API_CLIENT = "okhttp/4.12"
UPTIME = "UptimeRobot/2.0"
# What each agent of `run` is, as the driver knows it (analysis.agents' classes).
CLASSES = {CHROME: "browser", FIREFOX: "browser", SAFARI: "browser", IPHONE: "browser",
           ANDROID: "browser", MACHINE: "tool", PROBE: "monitor", LEGACY: "unknown",
           UPTIME: "monitor", API_CLIENT: "tool"}

MACHINE_CALLS = 40
PING_CALLS = 20
GARBAGE = "0123456789abcdefghijklmnop"  # not a Laravel envelope: fails to decrypt


def expired_id(ip: str) -> str:
    """A well-formed id (40 alnum) the store never held, one per client."""
    return ("Expired" + ip.replace(".", "x")).ljust(40, "0")


UNKNOWN = "!undecryptable"


@dataclass
class Truth(_Truth):
    raw2id: dict[str, str] = field(default_factory=dict)
    # per response that set the session cookie: (client, id, raw value)
    sets: list[tuple[str, str, str]] = field(default_factory=list)
    # responses of web routes that did not set the session cookie
    web_without_cookie: int = 0
    races: list[dict] = field(default_factory=list)
    facts: dict = field(default_factory=dict)


class Client:
    """A browser-like client (cookie jar) or a cookieless one, bound to `source_ip`."""

    def __init__(self, truth: Truth, host: str, port: int, source_ip: str, *,
                 jar: bool = True, ua: str = "Mozilla/5.0 (sessdiag driver)") -> None:
        self.truth = truth
        self.host, self.port, self.source_ip = host, port, source_ip
        self.use_jar = jar
        self.jar: dict[str, str] = {}
        self.ua = ua
        self.lock = threading.Lock()

    def sid(self) -> str | None:
        raw = self.jar.get(self.truth.cookie_name)
        return self.truth.raw2id.get(raw) if raw else None

    def request(self, path: str, cookie: str | None = None) -> int:
        """GET `path`; `cookie` overrides the jar's session cookie. Returns the status."""
        name = self.truth.cookie_name
        with self.lock:
            jar = dict(self.jar) if self.use_jar else {}
        if cookie is not None:
            jar[name] = cookie
        raw = jar.get(name)
        hdrs = {"User-Agent": self.ua, "Connection": "close"}
        if jar:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60,
                                          source_address=(self.source_ip, 0))
        try:
            conn.request("GET", path, headers=hdrs)
            resp = conn.getresponse()
            resp.read()
            set_cookies = resp.headers.get_all("Set-Cookie") or []
            sid_header = resp.headers.get("X-Session-Id")
        finally:
            conn.close()
        set_raw = None
        with self.lock:
            for sc in set_cookies:
                k, _, rest = sc.partition("=")
                v = rest.partition(";")[0]
                if k.strip() == name:
                    set_raw = v
                if self.use_jar:
                    self.jar[k.strip()] = v
            with self.truth.lock:
                if set_raw is not None:
                    if not sid_header or not re.fullmatch(r"[A-Za-z0-9]{40}", sid_header):
                        raise RuntimeError(f"{path}: cookie set without a session id header")
                    self.truth.raw2id[set_raw] = sid_header
                    self.truth.sets.append((self.source_ip, sid_header, set_raw))
                elif not path.startswith("/api/"):
                    self.truth.web_without_cookie += 1
                presented = self.truth.raw2id.get(raw, UNKNOWN) if raw else None
            self.truth.add(Exchange(self.source_ip, "GET", path, presented,
                                    sid_header if set_raw is not None else None,
                                    resp.status, time.time(), self.ua))
        if resp.status != 200:
            raise RuntimeError(f"{self.source_ip} GET {path}: HTTP {resp.status}")
        return resp.status


def run(host: str, port: int, cookie_name: str, encrypt: Callable[[str], str],
        in_store: Callable[[str], bool], ttl: Callable[..., object]) -> Truth:
    """Drive the app. `encrypt(id)` makes a cookie value with the app's key, `in_store(id)`
    says whether the store holds a session, `ttl(id[, seconds])` reads (or sets) how long
    the store will keep it."""
    truth = Truth(cookie_name)
    logins: list[dict] = []

    def client(ip: str, **kw) -> Client:  # type: ignore[no-untyped-def]
        return Client(truth, host, port, ip, **kw)

    def login(b: Client, user: str) -> None:
        old = b.sid()
        before = in_store(old) if old else None
        b.request(f"/login?user={user}")
        new = b.sid()
        logins.append({"client": b.source_ip, "old_in_store_before": before,
                       "old_in_store_after": in_store(old) if old else None,
                       "new_differs": new != old, "new_in_store": in_store(new)})

    browsers = [client(f"127.0.0.{i}", ua=ua) for i, ua in ((2, CHROME), (3, FIREFOX),
                                                            (4, SAFARI))]
    for i, b in enumerate(browsers):
        for _ in range(4):
            b.request("/")
        login(b, f"user{i}")
        b.request("/info")
        b.request("/info")

    # The lifetime is the store's expiry, refreshed by every request: bring one session
    # near its end, make one request, and read the remaining time again.
    sid = browsers[0].sid()
    assert sid is not None
    ttl(sid, 60)
    near_end = ttl(sid)
    browsers[0].request("/info")
    truth.facts["lifetime_refresh"] = {"set_to_s": 60, "read_before_s": near_end,
                                  "read_after_one_request_s": ttl(sid),
                                  "same_id_after": browsers[0].sid() == sid}

    machine = client("127.0.0.5", jar=False, ua=MACHINE)
    for _ in range(MACHINE_CALLS):
        machine.request("/")

    health = client("127.0.0.6", jar=False, ua=PROBE)
    for _ in range(10):
        health.request("/api/health")

    client("127.0.0.7", ua=IPHONE).request("/")

    legacy = client("127.0.0.8", jar=False, ua=LEGACY)
    for _ in range(5):
        legacy.request("/", cookie=GARBAGE)

    leaver = client("127.0.0.9", ua=FIREFOX)
    leaver.request("/")
    login(leaver, "leaver")
    leaver.request("/info")
    leaver.request("/logout")

    nat_a = client("127.0.0.10", ua=CHROME)
    nat_b = client("127.0.0.10", ua=ANDROID)
    concurrently(lambda: nat_a.request("/"), lambda: nat_b.request("/"))
    for _ in range(3):
        nat_a.request("/info")
        nat_b.request("/info")

    # An expired session: /login and the periodic /info leave at once with its cookie.
    # Whichever answer arrives last is what the browser keeps.
    for ip, login_ms, info_ms in (("127.0.0.11", 100, 600), ("127.0.0.12", 600, 100)):
        b = client(ip, ua=CHROME)
        stale = expired_id(ip)
        expired = encrypt(stale)
        truth.raw2id[expired] = stale
        b.request("/")
        n0 = len(truth.exchanges)
        concurrently(
            lambda b=b, ms=login_ms, c=expired: b.request(f"/login?user=racer&delay_ms={ms}",
                                                          cookie=c),
            lambda b=b, ms=info_ms, c=expired: b.request(f"/info?delay_ms={ms}", cookie=c))
        pair = [e for e in truth.exchanges[n0:] if e.client == ip]
        kept = b.sid()
        login_id = next(e.set_value for e in pair if e.path.startswith("/login"))
        new = sorted({e.set_value for e in pair if e.set_value and e.set_value != e.presented})
        for _ in range(2):
            b.request("/info")
        event = {"client": ip, "presented": stale, "issued": new, "kept": kept,
                 "lost_login": kept != login_id}
        if len(new) >= 2:
            truth.races.append(event)
        truth.facts.setdefault("expired_cookie_pairs", []).append(event)

    monitor = client("127.0.0.13", jar=False, ua=UPTIME)
    for _ in range(PING_CALLS):
        monitor.request("/ping")

    api = client("127.0.0.14", jar=False, ua=API_CLIENT)
    for _ in range(10):
        api.request("/api/items")

    truth.facts["login_deletes_old_session"] = logins
    return truth


def run_minters(host: str, port: int, cookie_name: str) -> Truth:
    """Who mints sessions in Laravel (capture.py minters; tools/logapps/minters_scenario.py
    has the same clients for the other frameworks):

    | address | who | does |
    | --- | --- | --- |
    | 127.0.0.2-3 | browsers (Chrome, Firefox) | `/` twice, `/info`: 1 id each, presented back |
    | 127.0.0.6 | kube-probe | `/ping` × 8 (`web` group: a session each), `/api/health` × 4 |
    | 127.0.0.13 | UptimeRobot | `/` × 6 |
    | 127.0.0.14 | Googlebot | `/?page=1`, `/?page=2`, `/info`, `/api/items` |
    | 127.0.0.15 | curl | `/info` × 3 |

    Every `web` response re-sends the cookie, freshly encrypted, for the same id: only the
    first is an issue.
    """
    from minters_scenario import CHROME, CRAWLER, CURL, FIREFOX, MONITOR, PROBE

    truth = Truth(cookie_name)

    def client(ip: str, ua: str, jar: bool = False) -> Client:
        return Client(truth, host, port, ip, jar=jar, ua=ua)

    for ip, ua in (("127.0.0.2", CHROME), ("127.0.0.3", FIREFOX)):
        b = client(ip, ua, jar=True)
        for path in ("/", "/", "/info"):
            b.request(path)
    probe = client("127.0.0.6", PROBE)
    for _ in range(8):
        probe.request("/ping")
    for _ in range(4):
        probe.request("/api/health")
    monitor = client("127.0.0.13", MONITOR)
    for _ in range(6):
        monitor.request("/")
    crawler = client("127.0.0.14", CRAWLER)
    for path in ("/?page=1", "/?page=2", "/info", "/api/items"):
        crawler.request(path)
    curl = client("127.0.0.15", CURL)
    for _ in range(3):
        curl.request("/info")
    return truth


def expected(truth: Truth) -> dict:
    """What a report must say, from the clients' own records."""
    clients = {}
    for ip, d in truth.per_client().items():
        clients[ip] = {"requests": d["requests"],
                       "requests_without_cookie": d["requests_without_cookie"],
                       "issued": len(d["issued"]), "orphans": len(d["orphans"]),
                       "issued_ids": sorted(d["issued"]),
                       "orphan_ids": sorted(d["orphans"])}
    return {"cookie_name": truth.cookie_name, "clients": clients, "races": truth.races,
            **minters_expected(truth, CLASSES)}


def cookie_facts(truth: Truth, log: str, decrypt: Callable[[list[str]], list[str]],
                 app_key_prefix: str) -> dict:
    """Check the cookie facts on what was sent, and on the log with the framework's decrypt."""
    by_id: dict[str, list[str]] = {}
    for _ip, sid, raw in truth.sets:
        by_id.setdefault(sid, []).append(raw)
    resent = {sid: raws for sid, raws in by_id.items() if len(raws) > 1}
    logged = re.findall(r'"laravel_session=([^"]*)"$', log, re.M)
    plain = decrypt(logged)
    ok = sum(1 for raw, p in zip(logged, plain, strict=True)
             if p == app_key_prefix + truth.raw2id.get(raw, "?"))
    return {
        "responses_setting_session_cookie": len(truth.sets),
        "web_responses_without_session_cookie": truth.web_without_cookie,
        "ids_sent_more_than_once": len(resent),
        "ids_whose_raw_value_repeated": sum(1 for raws in resent.values()
                                            if len(set(raws)) < len(raws)),
        "log_set_cookie_fields": len(logged),
        "log_values_decrypting_to_prefix_plus_known_id": ok,
        "prefix_length": len(app_key_prefix),
        "prefix_is_hmac_sha1_hex_and_bar": bool(re.fullmatch(r"[0-9a-f]{40}\|",
                                                             app_key_prefix)),
    }
