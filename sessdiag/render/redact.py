"""Credentials in decoded sessions are hidden unless asked for (`inspect --show-secrets`).

A session often holds what an attacker wants most: OAuth access tokens, CSRF tokens, API
keys, sometimes a password. `inspect` output lands in tickets, chats and terminals' scroll
back, so a value is redacted when its key's name says credential (a word of it is password,
token, secret, key, …: `accessToken`, `api_key`, `db.password`) or the value itself has a
credential's shape (a JWT, a PEM private key, a `Bearer …` header). The type stays, and the
length, so the output still says what is there.
"""

from __future__ import annotations

import re
from typing import Any

CREDENTIAL_WORDS = frozenset({
    "password", "passwd", "pwd", "pass", "passphrase", "secret", "secrets", "token", "tokens",
    "key", "keys", "apikey", "credential", "credentials", "auth", "authorization", "bearer",
    "jwt", "csrf", "xsrf", "otp", "totp", "pin", "salt", "signature", "cookie", "sid",
})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_SHAPES = (
    re.compile(r"eyJ[\w-]{4,}\.[\w-]{2,}\.[\w-]*"),  # JWT / JWS (base64url '{"')
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?i)bearer\s+\S{8,}"),
)
REDACTED = "[redacted]"


def is_credential_name(name: object) -> bool:
    if not isinstance(name, str):
        return False
    words = {w.lower() for w in _WORD.findall(name)}
    return bool(words & CREDENTIAL_WORDS) or name.lower().endswith(("password", "token",
                                                                     "secret", "apikey"))


def looks_like_credential(value: object) -> bool:
    return isinstance(value, str) and any(p.search(value) for p in _SHAPES)


def _size(v: Any) -> int:
    return len(v) if isinstance(v, str | list | dict) else len(str(v))


class Redactor:
    def __init__(self) -> None:
        self.count = 0

    def typed(self, tv: Any, name: object = None) -> Any:
        """A typed value {"type", "value"} with its credentials redacted."""
        if not (isinstance(tv, dict) and "type" in tv and "value" in tv):
            return tv
        v = tv["value"]
        if v is not None and (is_credential_name(name) or self._shaped(v)):
            self.count += 1
            return {**tv, "value": REDACTED, "redacted": True, "length": _size(v)}
        if isinstance(v, dict):
            return {**tv, "value": {k: self.typed(x, k) for k, x in v.items()}}
        if isinstance(v, list):
            return {**tv, "value": [self.typed(x, name) for x in v]}
        return tv

    @staticmethod
    def _shaped(v: Any) -> bool:
        if isinstance(v, str):
            return looks_like_credential(v)
        if isinstance(v, list):  # a plain list of strings, e.g. []string of tokens
            return any(looks_like_credential(x) for x in v if isinstance(x, str))
        return False


def redact_inspect(report: dict) -> dict:
    """The inspect report with credential values replaced; `redacted` counts them."""
    r = Redactor()
    entries = []
    for e in report.get("entries") or []:
        key = e.get("key") or {}
        entries.append({**e, "value": r.typed(e.get("value"), key.get("value"))})
    out = {**report, "entries": entries, "redacted": r.count}
    if r.count:
        out.setdefault("warnings", [])
        out["warnings"] = [*out["warnings"], f"{r.count} credential value(s) redacted "
                           "(names or shapes of passwords, tokens, secrets, keys); "
                           "--show-secrets shows them"]
    return out
