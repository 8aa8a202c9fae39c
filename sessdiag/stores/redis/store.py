"""A Redis server (standalone, replica or Cluster) as a `SessionStore` (sessdiag.stores.base).

The scan's groups (profile, namespace) are kept: cookie lookups and attribution by payload
look only where the scan found sessions.
"""

from __future__ import annotations

from sessdiag.stores.base import Progress, ScanSettings, SessionLookup
from sessdiag.stores.redis.target import parse_target


class RedisStore:
    kind = "redis"

    def __init__(self, url: str, *, password_env: str | None = None) -> None:
        self.url = url
        self.password_env = password_env
        self.target = parse_target(url, password_env)
        self.location = self.target.location
        self.report: dict = {}

    def scan(self, settings: ScanSettings, progress: Progress | None = None) -> dict:
        from sessdiag.stores.redis.scan import redis_scan_report

        self.report = redis_scan_report(self.target, settings, progress)
        return self.report

    def inspect(self, sid: str | None, profile: str | None = None) -> dict:
        from sessdiag.core.errors import UsageError
        from sessdiag.stores.redis.inspect import inspect_redis

        if sid is None:
            raise UsageError("give the session's key (or id) too: sessdiag inspect "
                             "redis://HOST:PORT/DB KEY")
        return inspect_redis(self.url, sid, password_env=self.password_env, profile=profile)

    def lookup(self, profile: str | None, cookie_name: str,
               secret: object = None) -> SessionLookup | None:
        from sessdiag.stores.redis.clients import session_lookup

        return session_lookup(self.target, self.report, cookie_name, secret)

    def attribute(self, attr: str) -> list[dict]:
        from sessdiag.stores.redis.clients import attribute_sessions

        return attribute_sessions(self.target, self.report, attr)

    def close(self) -> None:
        pass
