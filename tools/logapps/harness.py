"""Run real web apps behind a real nginx that writes sessdiag's access-log format.

Used by the live tests (tests/integration/test_clients_real_*.py) and by capture.py, which
commits logs of apps that are too slow to start in the default suite.

- `Nginx`: Debian's nginx as a reverse proxy with the contract's `log_format sessdiag` line.
  Its listening socket is bound here and handed over through nginx's own `NGINX` environment
  variable (the socket inheritance nginx uses for binary upgrades), so connections queue
  from the start and nothing has to poll for readiness.
- `PhpFpm` (PHP-FPM with file sessions), `BeegoLike` (beego's file provider, in Go),
  `RedisServer` (private, no persistence), and `Proc` for any app that prints a line when it
  listens.
- `Client`: a browser-like HTTP client with a cookie jar (or a cookieless machine client)
  bound to its own loopback source address (127.0.0.2 …), so nginx's `$remote_addr` tells
  clients apart. Every exchange is recorded: `Truth` computes each client's orphans from what
  the clients themselves sent and received, independently of any log.

Everything listens on and connects to 127.0.0.0/8 only.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
LOG_FORMAT = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
              '"$http_referer" "$http_user_agent" "{cookie}" "{set_cookie}"')


def have(*programs: str) -> bool:
    return all(shutil.which(p) for p in programs)


def bound_socket(host: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    return s


def free_port() -> int:
    with contextlib.closing(bound_socket()) as s:
        return s.getsockname()[1]


class Proc:
    """A child process that says on stdout/stderr when it is ready."""

    def __init__(self, argv: list[str], ready: str, *, env: dict | None = None,
                 cwd: str | None = None, timeout: float = 30.0, log: str | None = None) -> None:
        self.argv = argv
        self.log_path = log
        logf = open(log, "wb") if log else None  # noqa: SIM115 - closed in stop()
        self._log = logf
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  env=env, cwd=cwd, start_new_session=True)
        self.lines: list[str] = []
        self._wait_for(ready, timeout)
        self._drain = threading.Thread(target=self._pump, daemon=True)
        self._drain.start()

    def _wait_for(self, ready: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert self.p.stdout is not None
        fd = self.p.stdout.fileno()
        buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise RuntimeError(f"{self.argv[0]} not ready after {timeout}s: {buf[-800:]!r}")
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                self.stop()
                raise RuntimeError(f"{self.argv[0]} exited: {buf[-800:]!r}")
            buf += chunk
            if self._log:
                self._log.write(chunk)
            if ready.encode() in buf:
                self.lines.extend(buf.decode("utf-8", "replace").splitlines())
                return

    def _pump(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            if self._log:
                self._log.write(line)
            if len(self.lines) < 2000:
                self.lines.append(line.decode("utf-8", "replace").rstrip())

    def stop(self) -> None:
        if self.p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        if self._log:
            self._log.close()
            self._log = None


class RedisServer:
    def __init__(self, workdir: str) -> None:
        self.port = free_port()
        self.proc = Proc(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", workdir],
                         "Ready to accept connections")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.stop()


class PhpFpm:
    """PHP-FPM (the production setup behind nginx) with file sessions in `save_path`.

    `pm = static` children handle requests in parallel, so two concurrent requests really run
    at the same time (PHP's built-in server may queue them on one worker).
    """

    def __init__(self, workdir: str, save_path: str, *, strict: bool = True,
                 children: int = 6) -> None:
        self.port = free_port()
        self.script = os.path.join(HERE, "php", "app.php")
        fpm = self.binary()
        if fpm is None:
            raise RuntimeError("php-fpm is not installed (Debian: php-fpm)")
        root = os.geteuid() == 0
        conf = os.path.join(workdir, "php-fpm.conf")
        with open(conf, "w") as fh:
            fh.write(f"""[global]
error_log = /proc/self/fd/2
daemonize = no
[app]
{"user = root" if root else ""}
{"group = root" if root else ""}
listen = 127.0.0.1:{self.port}
pm = static
pm.max_children = {children}
catch_workers_output = yes
php_admin_value[session.save_path] = {save_path}
php_admin_value[session.use_strict_mode] = {1 if strict else 0}
php_admin_value[session.gc_probability] = 0
php_admin_value[session.use_only_cookies] = 1
php_admin_flag[log_errors] = on
""")
        argv = [fpm, "-F", "-y", conf, "-p", workdir]
        if root:
            argv.insert(1, "-R")
        self.proc = Proc(argv, "ready to handle connections")

    @staticmethod
    def binary() -> str | None:
        return shutil.which("php-fpm") or next(
            (shutil.which(f"php-fpm{v}") for v in ("8.4", "8.3", "8.2", "8.1", "8.0", "7.4")
             if shutil.which(f"php-fpm{v}")), None)

    def nginx_location(self) -> str:
        return (f"include /etc/nginx/fastcgi_params; "
                f"fastcgi_param SCRIPT_FILENAME {self.script}; "
                f"fastcgi_pass 127.0.0.1:{self.port};")

    def stop(self) -> None:
        self.proc.stop()


class BeegoLike:
    """tools/logapps/beegolike (beego's file-session behaviour, Go standard library only)."""

    def __init__(self, workdir: str, save_path: str, cookie: str = "casdoor_session_id") -> None:
        binary = os.path.join(workdir, "beegolike")
        src = os.path.join(HERE, "beegolike", "main.go")
        env = dict(os.environ, GO111MODULE="off")
        env.setdefault("GOCACHE", os.path.join(tempfile.gettempdir(), "sessdiag-gocache"))
        build = subprocess.run(["go", "build", "-o", binary, src], env=env,
                               capture_output=True, timeout=300)
        if build.returncode != 0:  # no C toolchain for the prebuilt cgo net: pure Go
            env["CGO_ENABLED"] = "0"
            subprocess.run(["go", "build", "-o", binary, src], check=True, env=env,
                           capture_output=True, timeout=300)
        self.port = free_port()
        self.proc = Proc([binary, f"127.0.0.1:{self.port}", save_path, cookie], "listening on")

    def stop(self) -> None:
        self.proc.stop()


class Nginx:
    """nginx in front of `upstream_port`, logging the sessdiag format to `log_path`."""

    def __init__(self, workdir: str, upstream: int | str, cookie_name: str,
                 log_path: str, *, set_cookie: str = "$sent_http_set_cookie",
                 http_extra: str = "") -> None:
        """`upstream`: an HTTP port to proxy to, or a location body (e.g. PhpFpm's).

        `set_cookie` replaces the log's last field and `http_extra` adds lines (e.g. a `map`)
        to the `http` block: nginx 1.22's `$sent_http_set_cookie` holds only the first
        Set-Cookie header, which is not the session cookie for every framework.
        """
        self.dir = os.path.join(workdir, "nginx")
        for sub in ("tmp/body", "tmp/proxy", "tmp/fcgi", "tmp/uwsgi", "tmp/scgi"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        sock = bound_socket()
        sock.listen(512)
        self.port = sock.getsockname()[1]
        self.log_path = log_path
        if isinstance(upstream, int):
            location = (f"proxy_pass http://127.0.0.1:{upstream}; proxy_set_header Host $host; "
                        "proxy_set_header X-Forwarded-For $remote_addr; "
                        "proxy_http_version 1.1; proxy_read_timeout 60s;")
        else:
            location = upstream
        if cookie_name.replace("_", "").isalnum():
            cookie = f"$cookie_{cookie_name}"
            cookie_map = ""
        else:  # nginx variable names cannot hold e.g. the dot of connect.sid
            cookie = "$sess_cookie"
            esc = cookie_name.replace(".", r"\.")
            cookie_map = (f'map $http_cookie $sess_cookie {{ default "-"; '
                          f'"~(?:^|;\\s*){esc}=(?<v>[^;]+)" $v; }}')
        conf = f"""
daemon off;
master_process on;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/tmp/body;
    proxy_temp_path {self.dir}/tmp/proxy;
    fastcgi_temp_path {self.dir}/tmp/fcgi;
    uwsgi_temp_path {self.dir}/tmp/uwsgi;
    scgi_temp_path {self.dir}/tmp/scgi;
    {cookie_map}
    {http_extra}
    log_format sessdiag '{LOG_FORMAT.format(cookie=cookie, set_cookie=set_cookie)}';
    server {{
        listen 127.0.0.1:{self.port};
        access_log {log_path} sessdiag;
        location / {{
            {location}
        }}
    }}
}}
"""
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as fh:
            fh.write(conf)
        fd = sock.fileno()
        os.set_inheritable(fd, True)
        env = dict(os.environ, NGINX=f"{fd};")
        self.p = subprocess.Popen(
            ["nginx", "-p", self.dir, "-c", self.conf, "-e", f"{self.dir}/error.log"],
            env=env, pass_fds=(fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        sock.close()  # nginx holds it now; connections queue in its backlog meanwhile

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGQUIT)  # graceful: finishes and flushes the log
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def error_log(self) -> str:
        try:
            with open(os.path.join(self.dir, "error.log")) as fh:
                return fh.read()[-2000:]
        except OSError:
            return ""


# ---------------------------------------------------------------------------------------
# Clients and the ground truth they record


@dataclass
class Exchange:
    client: str
    method: str
    path: str
    presented: str | None
    set_value: str | None  # the session cookie value the response set ('' when cleared)
    status: int
    t_done: float
    ua: str = ""


@dataclass
class Truth:
    cookie_name: str
    exchanges: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ex: Exchange) -> None:
        with self.lock:
            self.exchanges.append(ex)

    def per_client(self) -> dict[str, dict]:
        """issued / presented back / orphans per client, from the clients' own records."""
        presented_all = [(e.t_done, e.presented) for e in self.exchanges if e.presented]
        out: dict[str, dict] = {}
        for e in self.exchanges:
            d = out.setdefault(e.client, {"requests": 0, "requests_without_cookie": 0,
                                          "issued": set(), "orphans": set()})
            d["requests"] += 1
            if not e.presented:
                d["requests_without_cookie"] += 1
            if e.set_value and e.set_value != e.presented:
                d["issued"].add(e.set_value)
        seen = {v for _t, v in presented_all}
        for d in out.values():
            d["orphans"] = {v for v in d["issued"] if v not in seen}
        return out


def minters_expected(truth: Truth, classes: dict[str, str]) -> dict:
    """Who minted what, from the clients' own records: per route (method and path without
    the query) and per user agent, the sessions each first set (`issued`: an id re-sent
    later is not a new issue) and those nobody ever presented back (`orphans`), with the
    class the driver gave each agent (`classes`: UA -> browser/crawler/monitor/tool)."""
    presented = {e.presented for e in truth.exchanges if e.presented}
    first: dict[str, Exchange] = {}
    for e in sorted(truth.exchanges, key=lambda x: x.t_done):
        if e.set_value and e.set_value != e.presented and e.set_value not in first:
            first[e.set_value] = e
    routes: dict[str, dict] = {}
    agents: dict[str, dict] = {}
    for sid, e in first.items():
        route = f"{e.method} {e.path.split('?', 1)[0]}"
        r = routes.setdefault(route, {"issued": 0, "orphans": 0})
        a = agents.setdefault(e.ua, {"class": classes.get(e.ua, "unknown"), "clients": set(),
                                     "issued": 0, "orphans": 0})
        orphan = sid not in presented
        for d in (r, a):
            d["issued"] += 1
            d["orphans"] += orphan
        a["clients"].add(e.client)
    for a in agents.values():
        a["clients"] = len(a["clients"])
    return {"routes": routes, "user_agents": agents,
            "classes": {ua: classes[ua] for ua in sorted(classes)}}


class Client:
    """One HTTP client bound to `source_ip`; `jar=True` behaves like a browser."""

    def __init__(self, truth: Truth, host: str, port: int, source_ip: str, *,
                 jar: bool = True, ua: str = "Mozilla/5.0 (sessdiag driver)") -> None:
        self.truth = truth
        self.host = host
        self.port = port
        self.source_ip = source_ip
        self.use_jar = jar
        self.jar: dict[str, str] = {}
        self.ua = ua
        self.lock = threading.Lock()

    def request(self, path: str, method: str = "GET", cookie: str | None = None,
                body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
        """One request; `cookie` overrides the jar (e.g. a stale id). Returns status, body."""
        name = self.truth.cookie_name
        with self.lock:
            value = cookie if cookie is not None else (self.jar.get(name) if self.use_jar
                                                       else None)
            jar_copy = dict(self.jar) if self.use_jar else {}
        if cookie is not None:
            jar_copy[name] = cookie
        hdrs = {"User-Agent": self.ua, "Connection": "close"}
        if jar_copy:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar_copy.items())
        if headers:
            hdrs.update(headers)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60,
                                          source_address=(self.source_ip, 0))
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            set_cookies = resp.headers.get_all("Set-Cookie") or []
        finally:
            conn.close()
        set_value = None
        with self.lock:
            for sc in set_cookies:
                k, _, rest = sc.partition("=")
                v, _, attrs = rest.partition(";")
                # Only the attributes say "cleared": a random id may well contain "1970".
                cleared = (not v or v == "deleted"
                           or re.search(r"max-age=(0|-\d+)\b|expires=[^;]*\b1970\b",
                                        attrs, re.I) is not None)
                if k.strip() == name:
                    set_value = "" if cleared else v
                if self.use_jar:
                    if cleared:
                        self.jar.pop(k.strip(), None)
                    else:
                        self.jar[k.strip()] = v
            self.truth.add(Exchange(self.source_ip, method, path, value, set_value,
                                    resp.status, time.time(), self.ua))
        return resp.status, data


@contextlib.contextmanager
def workdir(prefix: str = "sessdiag-logapp-") -> Iterator[str]:
    d = tempfile.mkdtemp(prefix=prefix)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def concurrently(*calls) -> list:  # type: ignore[no-untyped-def]
    """Run calls at the same moment (threads released by one barrier); results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list = []

    def run(i: int, fn) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        try:
            results[i] = fn()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results
