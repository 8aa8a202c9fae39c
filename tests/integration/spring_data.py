"""Spring Session keyspaces written exactly as the repositories write them, JDK values from
the vectors the JDK produced (fixtures/java, tools/javagen)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
JAVA = REPO / "fixtures" / "java"
MANIFEST = {v["name"]: v for v in json.loads((JAVA / "manifest.json").read_text())}
PRINCIPAL_INDEX = ("org.springframework.session.FindByIndexNameSessionRepository"
                   ".PRINCIPAL_NAME_INDEX_NAME")


def vector(name: str) -> bytes:
    return (JAVA / MANIFEST[name]["file"]).read_bytes()


# The JDK wrote these for 1404360000000L and 1800: same class descriptors, other payloads.
_LONG = vector("long_creation_time")
_INT = vector("integer_1800")
assert _LONG[-8:] == (1404360000000).to_bytes(8, "big") and len(_LONG) == 82
assert _INT[-4:] == (1800).to_bytes(4, "big") and len(_INT) == 81


def jlong(v: int) -> bytes:
    return _LONG[:-8] + v.to_bytes(8, "big", signed=True)


def jint(v: int) -> bytes:
    return _INT[:-4] + v.to_bytes(4, "big", signed=True)


def jstring(s: str) -> bytes:
    b = s.encode()
    return b"\xac\xed\x00\x05t" + len(b).to_bytes(2, "big") + b


assert jstring("alice") == vector("string_principal")


class SpringWriter:
    """Writes what RedisIndexedSessionRepository / RedisSessionRepository write."""

    def __init__(self, client, ns: str = "spring:session", indexed: bool = True,  # type: ignore[no-untyped-def]
                 json_values: bool = False) -> None:
        self.r = client
        self.ns = ns
        self.indexed = indexed
        self.json = json_values
        self.ids: list[str] = []

    def _num(self, v: int, integer: bool = False) -> bytes:
        if self.json:
            return str(v).encode()
        return jint(v) if integer else jlong(v)

    def _str(self, s: str) -> bytes:
        return json.dumps(s).encode() if self.json else jstring(s)

    def session(self, now_ms: int, created_ms: int, last_ms: int, max_inactive: int = 1800,
                principal: str | None = None, attrs: dict[str, bytes] | None = None,
                shadow: bool = True, sid: str | None = None) -> str:
        sid = sid or str(uuid.uuid4())
        key = f"{self.ns}:sessions:{sid}"
        fields = {"creationTime": self._num(created_ms), "lastAccessedTime": self._num(last_ms),
                  "maxInactiveInterval": self._num(max_inactive, integer=True)}
        if principal:
            fields[f"sessionAttr:{PRINCIPAL_INDEX}"] = self._str(principal)
        for k, v in (attrs or {}).items():
            fields[f"sessionAttr:{k}"] = v
        self.r.hset(key, mapping=fields)
        expires_ms = last_ms + max_inactive * 1000
        if max_inactive < 0:
            self.r.persist(key)
        elif self.indexed:
            self.r.pexpire(key, expires_ms + 300_000 - now_ms)
        else:
            self.r.pexpireat(key, expires_ms)
        if self.indexed and shadow:
            skey = f"{self.ns}:sessions:expires:{sid}"
            self.r.append(skey, b"")
            if max_inactive < 0:
                self.r.persist(skey)
            else:
                self.r.pexpire(skey, expires_ms - now_ms)
        if self.indexed and principal:
            self.r.sadd(f"{self.ns}:index:{PRINCIPAL_INDEX}:{principal}", self._str(sid))
        self.ids.append(sid)
        return sid

    def orphan_shadow(self, ttl_s: int = 600) -> str:
        sid = str(uuid.uuid4())
        self.r.set(f"{self.ns}:sessions:expires:{sid}", b"", ex=ttl_s)
        return sid

    def expirations(self, minute_ms: int, sids: list[str], ttl_s: int | None) -> None:
        key = f"{self.ns}:expirations:{minute_ms}"
        for sid in sids:
            self.r.sadd(key, self._str(f"expires:{sid}"))
        if ttl_s is not None:
            self.r.expire(key, ttl_s)

    def index_member(self, principal: str, sid: str) -> None:
        self.r.sadd(f"{self.ns}:index:{PRINCIPAL_INDEX}:{principal}", self._str(sid))
