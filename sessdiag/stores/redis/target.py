"""TARGET URL -> connection parameters; the redacted location every output shows.

``redis://[user[:password]@]host[:port][/db]``, ``rediss://…`` (TLS; ``?ssl_cert_reqs=none``,
``?ssl_ca_certs=FILE``), ``unix:///path/redis.sock[?db=N]``. A password may instead come from
``--password-env VAR``. The password is kept out of ``repr`` and never formatted anywhere.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from sessdiag.core.errors import UsageError

_HOST = re.compile(r"^[A-Za-z0-9._:%-]+$")


@dataclass
class RedisTarget:
    scheme: str  # redis, rediss, unix
    host: str | None = None
    port: int = 6379
    path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_verify: bool = True
    tls_ca: str | None = None

    @property
    def location(self) -> str:
        """Credentials-free form for reports and messages."""
        if self.scheme == "unix":
            return f"unix://{self.path}?db={self.db}"
        return f"{self.scheme}://{self.host}:{self.port}/{self.db}"

    def node(self, host: str, port: int) -> RedisTarget:
        """Same credentials and TLS settings, another node (Redis Cluster)."""
        return RedisTarget(self.scheme if self.scheme != "unix" else "redis", host, port, None,
                           0, self.username, self.password, self.tls_verify, self.tls_ca)


def parse_target(url: str, password_env: str | None = None) -> RedisTarget:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UsageError(f"bad Redis URL: {_redact(url)}") from exc
    scheme = parts.scheme.lower()
    query = parse_qs(parts.query)
    if scheme == "unix":
        if not parts.path:
            raise UsageError("bad Redis URL: unix:// needs a socket path, e.g. "
                             "unix:///run/redis/redis.sock?db=0")
        t = RedisTarget("unix", path=unquote(parts.path))
        t.db = _db(query.get("db", ["0"])[0])
    elif scheme in ("redis", "rediss"):
        try:
            host = parts.hostname
            port = parts.port or 6379
        except ValueError as exc:
            raise UsageError(f"bad Redis URL (port): {_redact(url)}") from exc
        if not host or not _HOST.match(host):
            raise UsageError(f"bad Redis URL (host): {_redact(url)}")
        t = RedisTarget(scheme, host=host, port=port)
        path = parts.path.strip("/")
        if path:
            t.db = _db(path)
        elif "db" in query:
            t.db = _db(query["db"][0])
    else:
        raise UsageError(f"not a Redis URL: {_redact(url)} "
                         "(use redis://, rediss:// or unix://)")
    if parts.username:
        t.username = unquote(parts.username) or None
    if parts.password:
        t.password = unquote(parts.password)
    if scheme == "rediss":
        reqs = query.get("ssl_cert_reqs", ["required"])[0].lower()
        t.tls_verify = reqs not in ("none", "cert_none", "0", "false")
        t.tls_ca = query.get("ssl_ca_certs", [None])[0]
    if password_env:
        if password_env not in os.environ:
            raise UsageError(f"--password-env {password_env}: no such environment variable")
        t.password = os.environ[password_env]
    return t


def _db(text: str) -> int:
    if not text.isdigit() or int(text) > 100_000:
        raise UsageError(f"bad Redis database number: {text[:20]!r}")
    return int(text)


def _redact(url: str) -> str:
    """The URL with any user:password@ removed, for error messages."""
    return re.sub(r"//[^/@]*@", "//", url)[:200]
