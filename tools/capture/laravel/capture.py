"""Capture a real Laravel 8 app's sessions and access log, for sessdiag's tests.

The app (tools/capture/laravel/app) runs on Debian's packaged framework
(php-laravel-framework, /usr/share/php/Illuminate) under php-fpm behind nginx, both on
127.0.0.1 with configs generated into a temporary directory. It runs twice, once per
session driver, and each run writes fixtures/laravel/<driver>/:

    access.log     what nginx wrote, in sessdiag's combined-cookies format (see below)
    app.env        the app's .env, APP_KEY included (a throwaway key made for this capture)
    expected.json  the ground truth: per client the session ids issued and the orphans, from
                   what the clients sent and received (ids from the app's X-Session-Id header,
                   never from decrypting the log), and the facts checked during the run
    store.json     files driver: every session file left, its payload and its age
    redis.json     redis driver: every key left, its value (hex) and TTL

and fixtures/laravel/manifest.json says what each file is and which versions made it.

Log format. nginx 1.22's `$sent_http_set_cookie` is the FIRST Set-Cookie header only, and
Laravel sends XSRF-TOKEN before laravel_session, so the last field is built from
`$upstream_cookie_laravel_session` (the value of that cookie in any of the upstream's
Set-Cookie headers) as `laravel_session=<value>`, or `-` when the response set none.
Laravel never clears its session cookie (logout issues a new session instead), so the
attributes that field drops are never needed.

Usage: python3 tools/capture/laravel/capture.py [files] [redis]
       python3 tools/capture/laravel/capture.py minters   (fixtures/laravel/minters/: who
       mints sessions, logged with the bare "$upstream_cookie_laravel_session")
Needs: nginx, php-fpm, php-redis (for the redis run), redis-server, php-laravel-framework,
and the `redis` Python package. Loopback only; the system's nginx/php-fpm/redis are untouched.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(REPO, "tools", "logapps"))

import harness  # noqa: E402
import laravel_scenario as scenario  # noqa: E402

APP = os.path.join(HERE, "app")
OUT = os.path.join(REPO, "fixtures", "laravel")
COOKIE = "laravel_session"
LIFETIME_MIN = 120
REDIS_PREFIX = "laravel_database_laravel_cache:"
SET_COOKIE_MAP = ('map $upstream_cookie_laravel_session $sessdiag_set_cookie { "" "-"; '
                  'default "laravel_session=$upstream_cookie_laravel_session"; }')


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "?"


def versions() -> dict:
    php = "php"
    return {
        "nginx": _version(["nginx", "-v"]),
        "php": _version([php, "-r", "echo PHP_VERSION;"]) + " (php-fpm)",
        "laravel": _version([php, "-r", "require 'Illuminate/autoload.php'; "
                                        "echo Illuminate\\Foundation\\Application::VERSION;"]),
        "phpredis": _version([php, "-r", "echo phpversion('redis') ?: '-';"]),
        "redis": _version(["redis-server", "--version"]),
    }


def make_app(work: str, driver: str, redis_port: int | None) -> tuple[str, str]:
    """Copy the app into `work`, give it storage and a fresh .env; returns (app dir, .env)."""
    app = os.path.join(work, "app")
    shutil.copytree(APP, app)
    for sub in ("storage/framework/sessions", "storage/framework/cache/data",
                "storage/framework/views", "storage/logs", "bootstrap/cache",
                "resources/views"):
        os.makedirs(os.path.join(app, sub), exist_ok=True)
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    env = [
        "APP_NAME=Laravel",
        "APP_ENV=production",
        f"APP_KEY=base64:{key}",
        "APP_DEBUG=false",
        "APP_URL=http://localhost",
        "",
        "CACHE_DRIVER=file",
        f"SESSION_DRIVER={'file' if driver == 'files' else driver}",
        f"SESSION_LIFETIME={LIFETIME_MIN}",
    ]
    if redis_port:
        env += ["", "REDIS_HOST=127.0.0.1", "REDIS_PASSWORD=null", f"REDIS_PORT={redis_port}"]
    dotenv = os.path.join(app, ".env")
    with open(dotenv, "w") as fh:
        fh.write("\n".join(env) + "\n")
    return app, dotenv


class Fpm:
    """php-fpm serving the app's public/index.php (pm=static: concurrent requests are real)."""

    def __init__(self, work: str, app: str, children: int = 6) -> None:
        fpm = harness.PhpFpm.binary()
        if fpm is None:
            raise SystemExit("php-fpm is not installed (Debian: php-fpm)")
        self.port = harness.free_port()
        self.index = os.path.join(app, "public", "index.php")
        root = os.geteuid() == 0
        conf = os.path.join(work, "php-fpm.conf")
        with open(conf, "w") as fh:
            fh.write(f"""[global]
error_log = {work}/php-fpm.log
daemonize = no
[app]
{"user = root" if root else ""}
{"group = root" if root else ""}
listen = 127.0.0.1:{self.port}
pm = static
pm.max_children = {children}
catch_workers_output = yes
php_admin_flag[log_errors] = on
php_admin_value[error_log] = {work}/php-errors.log
""")
        argv = [fpm, "-F", "-y", conf, "-p", work]
        if root:
            argv.insert(1, "-R")
        # the ready notice goes to error_log: wait on the log file instead of stdout
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        log = os.path.join(work, "php-fpm.log")
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), open(log) as fh:
                if "ready to handle connections" in fh.read():
                    break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"php-fpm did not start; see {log}")
            time.sleep(0.05)

    def nginx_location(self) -> str:
        return (f"include /etc/nginx/fastcgi_params; "
                f"fastcgi_param SCRIPT_FILENAME {self.index}; "
                f"fastcgi_pass 127.0.0.1:{self.port};")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


class Cookies:
    """The framework's own encrypter (cookie.php) for the stale cookie and the checks."""

    def __init__(self, app: str) -> None:
        self.app = app

    def _php(self, *args: str, stdin: str = "") -> str:
        out = subprocess.run(["php", os.path.join(HERE, "cookie.php"), self.app, *args],
                             input=stdin, capture_output=True, text=True, check=True, timeout=60)
        return out.stdout

    def encrypt(self, sid: str) -> str:
        return self._php("encrypt", COOKIE, sid).strip()

    def decrypt(self, values: list[str]) -> list[str]:
        out = self._php("decrypt", COOKIE, stdin="".join(v + "\n" for v in values))
        return out.splitlines()


def store_probe(driver: str, app: str, redis_port: int | None):  # type: ignore[no-untyped-def]
    """A function telling whether a session id is in the store (for the login check)."""
    if driver == "files":
        d = os.path.join(app, "storage", "framework", "sessions")
        return lambda sid: os.path.exists(os.path.join(d, sid))
    import redis

    r = redis.Redis(port=redis_port)
    return lambda sid: bool(r.exists(REDIS_PREFIX + sid))


def dump_files(app: str, now: float) -> dict:
    d = os.path.join(app, "storage", "framework", "sessions")
    files = {}
    for name in sorted(os.listdir(d)):
        if name.startswith("."):  # the skeleton's .gitignore, if any
            continue
        path = os.path.join(d, name)
        st = os.stat(path)
        with open(path, "rb") as fh:
            data = fh.read()
        files[name] = {"size": st.st_size, "age_s": round(now - st.st_mtime, 3),
                       "payload_b64": base64.b64encode(data).decode()}
    return {"dir": "storage/framework/sessions", "lifetime_s": LIFETIME_MIN * 60,
            "files": files}


def dump_redis(port: int) -> dict:
    import redis

    r = redis.Redis(port=port)
    keys = []
    for db in (0, 1):
        r.execute_command("SELECT", db)
        for k in sorted(r.scan_iter(count=1000)):
            typ = r.type(k).decode()
            pttl = r.pttl(k)
            row = {"db": db, "key": k.decode(), "type": typ,
                   "ttl_s": -(-pttl // 1000) if pttl >= 0 else -1}
            if typ == "string":
                row["value_hex"] = r.get(k).hex()
            keys.append(row)
    r.close()
    return {"lifetime_s": LIFETIME_MIN * 60, "keys": keys}


def redis_facts(port: int) -> dict:
    """Key name, double serialization and TTL refresh, read from the live store."""
    import redis

    r = redis.Redis(port=port)
    keys = [k.decode() for k in r.scan_iter(count=1000)]
    pat = re.compile(r"^laravel_database_laravel_cache:[A-Za-z0-9]{40}$")
    vals = [r.get(k) for k in keys]
    outer = [v for v in vals if v and re.match(rb'^s:\d+:"a:\d+:\{', v)]
    return {"keys": len(keys), "keys_matching_prefix_and_40_char_id":
            sum(1 for k in keys if pat.match(k)),
            "values_php_string_of_serialized_array": len(outer),
            "ttls_s": sorted({r.ttl(k) for k in keys})}


def capture(driver: str, out_root: str = OUT) -> dict:
    """One run with this session driver; writes `out_root/<driver>/`."""
    with harness.workdir("sessdiag-laravel-") as work, contextlib.ExitStack() as stack:
        redis_srv = None
        if driver == "redis":
            redis_srv = harness.RedisServer(work)
            stack.callback(redis_srv.stop)
        app, dotenv = make_app(work, driver, redis_srv.port if redis_srv else None)
        fpm = Fpm(work, app)
        stack.callback(fpm.stop)
        log = os.path.join(work, "access.log")
        ngx = harness.Nginx(work, fpm.nginx_location(), COOKIE, log,
                            set_cookie="$sessdiag_set_cookie", http_extra=SET_COOKIE_MAP)
        cookies = Cookies(app)
        probe = store_probe(driver, app, redis_srv.port if redis_srv else None)
        ttl_probe = None
        if redis_srv:
            import redis

            rc = redis.Redis(port=redis_srv.port)
            def ttl_probe(sid: str, ttl: int | None = None):  # type: ignore[no-untyped-def]
                return rc.expire(REDIS_PREFIX + sid, ttl) if ttl else rc.ttl(REDIS_PREFIX + sid)
        else:
            sess_dir = os.path.join(app, "storage", "framework", "sessions")

            def ttl_probe(sid: str, ttl: int | None = None):  # type: ignore[no-untyped-def]
                path = os.path.join(sess_dir, sid)
                if ttl:  # make the file look `ttl` seconds from expiry
                    t = time.time() - (LIFETIME_MIN * 60 - ttl)
                    os.utime(path, (t, t))
                    return True
                return round(LIFETIME_MIN * 60 - (time.time() - os.stat(path).st_mtime))
        try:
            truth = scenario.run("127.0.0.1", ngx.port, COOKIE, cookies.encrypt, probe,
                                 ttl_probe)
        finally:
            ngx.stop()
        now = time.time()
        problems = [ln for ln in ngx.error_log().splitlines() if "[notice]" not in ln]
        if problems:
            print("\n".join(problems), file=sys.stderr)
        with open(log, "rb") as fh:
            log_bytes = fh.read()
        exp = scenario.expected(truth)
        exp["facts"] = scenario.cookie_facts(truth, log_bytes.decode(), cookies.decrypt,
                                             app_key_prefix=_prefix(cookies))
        exp["facts"].update(truth.facts)
        if redis_srv:
            exp["facts"]["redis"] = redis_facts(redis_srv.port)
            store = ("redis.json", dump_redis(redis_srv.port))
        else:
            store = ("store.json", dump_files(app, now))
        exp["driver"] = driver
        exp["versions"] = versions()
        exp["captured_at"] = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        out = os.path.join(out_root, driver)
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "access.log"), "wb") as fh:
            fh.write(log_bytes)
        shutil.copyfile(dotenv, os.path.join(out, "app.env"))
        _write_json(os.path.join(out, store[0]), store[1])
        _write_json(os.path.join(out, "expected.json"), exp)
        return exp


def _prefix(cookies: Cookies) -> str:
    """The 41-character prefix Laravel puts before the id, from the framework's code."""
    plain = cookies.decrypt([cookies.encrypt("x" * 40)])[0]
    return plain[:-40]


def _write_json(path: str, obj: object) -> None:
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=1, sort_keys=True)
        fh.write("\n")


m_note = ("minters/: files driver, tools/capture/laravel/laravel_scenario.py run_minters "
          "(browsers, kube-probe on /ping, UptimeRobot, Googlebot, curl); access.log's last "
          "field is the bare \"$upstream_cookie_laravel_session\"; expected.json has the "
          "truth per route and per user agent")
MANIFEST = {
    "what": "A hand-written Laravel 8 app on Debian's php-laravel-framework under php-fpm "
            "behind nginx, driven by tools/capture/laravel/laravel_scenario.py",
    "made_by": "python3 tools/capture/laravel/capture.py",
    "drivers": {
        "files": "SESSION_DRIVER=file: storage/framework/sessions/<40-char id>, PHP "
                 "serialize() of the session array, mtime = last write",
        "redis": "SESSION_DRIVER=redis: key laravel_database_laravel_cache:<id> (phpredis "
                 "prefix + cache prefix), value = serialize(serialize(array)), TTL = lifetime",
    },
    "files": {
        "access.log": "nginx log: combined + \"$cookie_laravel_session\" + "
                      "\"laravel_session=$upstream_cookie_laravel_session\" (or \"-\")",
        "app.env": "the app's .env; APP_KEY decrypts the cookies in access.log",
        "expected.json": "ground truth per client (ids from the app's X-Session-Id header) "
                         "and the facts checked during the run",
        "store.json": "files driver: session files left (payload base64, size, age_s before "
                      "the capture ended)",
        "redis.json": "redis driver: keys left (db, key, type, ttl_s, value_hex)",
    },
    "lifetime_s": LIFETIME_MIN * 60,
    "minters": m_note,
}


def capture_minters(out_root: str = OUT,
                    set_cookie: str = "$upstream_cookie_laravel_session") -> dict:
    """fixtures/laravel/minters/: the minters traffic on the files driver, logged with the
    line that works on every nginx: the bare "$upstream_cookie_laravel_session" (no map).
    `set_cookie` logs another last field instead (the live test of the nginx < 1.23
    pitfall logs "$sent_http_set_cookie")."""
    sys.path.insert(0, os.path.join(REPO, "tools", "logapps"))
    import minters_scenario

    with harness.workdir("sessdiag-laravel-") as work, contextlib.ExitStack() as stack:
        app, dotenv = make_app(work, "files", None)
        fpm = Fpm(work, app)
        stack.callback(fpm.stop)
        log = os.path.join(work, "access.log")
        ngx = harness.Nginx(work, fpm.nginx_location(), COOKIE, log, set_cookie=set_cookie)
        try:
            truth = scenario.run_minters("127.0.0.1", ngx.port, COOKIE)
        finally:
            ngx.stop()
        exp = harness.minters_expected(truth, minters_scenario.CLASSES)
        exp.update({"cookie_name": COOKIE, "versions": versions(),
                    "log_set_cookie_field": set_cookie,
                    "responses_setting_session_cookie": len(truth.sets)})
        exp["clients"] = {ip: {"issued": len(d["issued"]), "orphans": len(d["orphans"])}
                          for ip, d in truth.per_client().items()}
        out = os.path.join(out_root, "minters")
        os.makedirs(out, exist_ok=True)
        shutil.copyfile(log, os.path.join(out, "access.log"))
        shutil.copyfile(dotenv, os.path.join(out, "app.env"))
        _write_json(os.path.join(out, "expected.json"), exp)
        return exp


def main(argv: list[str]) -> None:
    if argv == ["minters"]:
        exp = capture_minters()
        print(f"laravel minters: routes {exp['routes']}")
        return
    drivers = argv or ["files", "redis"]
    manifest = dict(MANIFEST)
    for d in drivers:
        if d not in ("files", "redis"):
            raise SystemExit(f"unknown driver {d!r} (files, redis)")
        exp = capture(d)
        manifest["versions"] = exp["versions"]
        summary = {ip: (c["issued"], c["orphans"]) for ip, c in exp["clients"].items()}
        print(f"laravel-{d}: (issued, orphans) per client: {summary}")
        print(f"  facts: {json.dumps(exp['facts'], sort_keys=True)}")
    _write_json(os.path.join(OUT, "manifest.json"), manifest)


if __name__ == "__main__":
    main(sys.argv[1:])
