"""Capture real apps' access logs for the test suite: `python tools/logapps/capture.py FW…`.

`capture.py --minters [FW…]` runs minters_scenario instead (browsers, a health probe, an
uptime monitor, a crawler and curl) and writes fixtures/logs/minters/<FW>/ with the truth per
route and per user agent; its log's last field is `$upstream_cookie_NAME` where nginx can
name the cookie (docs/clients.md).

FW is php, php-lax, flask, django or express (default: all). For each, this starts a private
redis-server where the app needs one, the app, and Debian's nginx with the contract's
`log_format sessdiag` line in front of it; drives `scenario.run` through nginx; and writes

    fixtures/logs/<FW>/access.log    what nginx wrote
    fixtures/logs/<FW>/expected.json the driver's own count per client, the races it made,
                                     and who minted what: per route and user agent, and the
                                     class of every agent it sent (harness.minters_expected)
    fixtures/logs/<FW>/store.json    (file stores) the session files left, for the store join

`tests/integration/test_clients_real_captures.py` checks sessdiag against them. Needs
nginx, redis-server, php-cli, node/npm (`npm ci` in tools/logapps/express) and the Python
test extras (flask, flask-session, django, redis). Loopback only.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import minters_scenario  # noqa: E402
import scenario  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
COOKIES = {"php": "PHPSESSID", "php-lax": "PHPSESSID", "flask": "session",
           "django": "sessionid", "express": "connect.sid"}


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) \
        else "?"


def versions(fw: str) -> dict:
    v = {"nginx": _version(["nginx", "-v"]), "python": platform.python_version()}
    if fw.startswith("php"):
        v["php"] = _version(["php", "-r", "echo PHP_VERSION;"]) + " (php-fpm)"
    else:
        v["redis"] = _version(["redis-server", "--version"])
    if fw == "flask":
        v.update({p: metadata.version(p) for p in ("flask", "flask-session", "redis")})
    if fw == "django":
        v.update({p: metadata.version(p) for p in ("django", "redis")})
    if fw == "express":
        v["node"] = _version(["node", "--version"])
        lock = os.path.join(HERE, "express", "node_modules")
        for pkg in ("express", "express-session", "connect-redis", "redis"):
            try:
                with open(os.path.join(lock, pkg, "package.json")) as fh:
                    v[pkg] = json.load(fh)["version"]
            except OSError:
                v[pkg] = "?"
    return v


@contextlib.contextmanager
def app(fw: str, work: str) -> Iterator[tuple[int | str, str | None]]:
    """Start FW's app (and its redis); yields (port, session dir or None)."""
    stack = contextlib.ExitStack()
    try:
        if fw.startswith("php"):
            store = os.path.join(work, "sessions")
            os.makedirs(store)
            php = harness.PhpFpm(work, store, strict=(fw == "php"))
            stack.callback(php.stop)
            yield php.nginx_location(), store
            return
        redis = harness.RedisServer(work)
        stack.callback(redis.stop)
        port = harness.free_port()
        if fw == "flask":
            argv = [sys.executable, "-u", os.path.join(HERE, "flask_app.py"), str(port),
                    redis.url]
            ready = "Running on"
        elif fw == "django":
            argv = [sys.executable, "-u", os.path.join(HERE, "django_app.py"), str(port),
                    redis.url]
            ready = "Starting development server"
        elif fw == "express":
            argv = ["node", os.path.join(HERE, "express", "app.js"), str(port), redis.url]
            ready = "listening on"
        else:
            raise SystemExit(f"unknown framework {fw!r}")
        proc = harness.Proc(argv, ready, cwd=HERE)
        stack.callback(proc.stop)
        yield port, None
    finally:
        stack.close()


def capture(fw: str, out_dir: str) -> dict:
    cookie = COOKIES[fw]
    with harness.workdir() as work, app(fw, work) as (port, store):
        log = os.path.join(work, "access.log")
        ngx = harness.Nginx(work, port, cookie, log)
        try:
            truth = scenario.run("127.0.0.1", ngx.port, cookie)
        finally:
            ngx.stop()
        exp = scenario.expected(truth)
        exp["framework"] = fw
        exp["versions"] = versions(fw)
        os.makedirs(out_dir, exist_ok=True)
        with open(log, "rb") as src, open(os.path.join(out_dir, "access.log"), "wb") as dst:
            dst.write(src.read())
        if store:
            files = sorted(os.listdir(store))
            with open(os.path.join(out_dir, "store.json"), "w") as fh:
                json.dump({"files": {f: os.path.getsize(os.path.join(store, f))
                                     for f in files}}, fh, indent=1, sort_keys=True)
                fh.write("\n")
        with open(os.path.join(out_dir, "expected.json"), "w") as fh:
            json.dump(exp, fh, indent=1, sort_keys=True)
            fh.write("\n")
    return exp


def set_cookie_field(cookie: str) -> str:
    """The log's last field for the minters captures: `$upstream_cookie_NAME` (every
    nginx, whatever Set-Cookie header carries the cookie) where the name can be an nginx
    variable; express's `connect.sid` cannot (the dot), and express sets no other cookie, so
    its `$sent_http_set_cookie` is whole."""
    return f"$upstream_cookie_{cookie}" if cookie.replace("_", "").isalnum() else \
        "$sent_http_set_cookie"


def capture_minters(fw: str, out_dir: str) -> dict:
    """fixtures/logs/minters/<FW>/: the minters scenario, and the truth per route and agent."""
    cookie = COOKIES[fw]
    field = set_cookie_field(cookie)
    with harness.workdir() as work, app(fw, work) as (port, _store):
        log = os.path.join(work, "access.log")
        ngx = harness.Nginx(work, port, cookie, log, set_cookie=field)
        try:
            truth = minters_scenario.run("127.0.0.1", ngx.port, cookie)
        finally:
            ngx.stop()
        exp = harness.minters_expected(truth, minters_scenario.CLASSES)
        exp.update({"framework": fw, "cookie_name": cookie, "log_set_cookie_field": field,
                    "versions": versions(fw)})
        exp["clients"] = {ip: {"issued": len(d["issued"]), "orphans": len(d["orphans"])}
                          for ip, d in truth.per_client().items()}
        os.makedirs(out_dir, exist_ok=True)
        with open(log, "rb") as src, open(os.path.join(out_dir, "access.log"), "wb") as dst:
            dst.write(src.read())
        with open(os.path.join(out_dir, "expected.json"), "w") as fh:
            json.dump(exp, fh, indent=1, sort_keys=True)
            fh.write("\n")
    return exp


def main(argv: list[str]) -> None:
    if argv[:1] == ["--minters"]:
        for fw in argv[1:] or ["php", "php-lax", "flask", "django", "express"]:
            exp = capture_minters(fw, os.path.join(REPO, "fixtures", "logs", "minters", fw))
            print(f"{fw} minters: routes {exp['routes']}")
        return
    fws = argv or ["php", "php-lax", "flask", "django", "express"]
    for fw in fws:
        exp = capture(fw, os.path.join(REPO, "fixtures", "logs", fw))
        summary = {ip: (c["issued"], c["orphans"]) for ip, c in exp["clients"].items()}
        print(f"{fw}: {len(exp['races'])} race(s); (issued, orphans) per client: {summary}")


if __name__ == "__main__":
    main(sys.argv[1:])
