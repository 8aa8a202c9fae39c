"""Profiles describe frameworks: how a payload decodes and what counts as "empty"."""

from __future__ import annotations

from collections.abc import Callable

from sessdiag.core.errors import UsageError

Decoder = Callable[[bytes], list[dict]]


def session_decoder(profile: str) -> Decoder:
    """bytes -> [{"key": typed, "value": typed}]; raises DecodeError on bad input."""
    if profile in ("beego-file", "beego-redis"):
        from sessdiag.codecs import gob

        return gob.decode_session
    if profile in ("php-files", "php-redis"):
        from sessdiag.codecs import phpser

        return phpser.decode_session
    raise UsageError(f"no session decoder for profile {profile!r}")


def emptiness_check(profile: str) -> Callable[[bytes], bool]:
    """bytes -> True when the session holds no attributes; raises DecodeError."""
    # Always a full decode: a cheap "is it the empty bytes?" test would call a truncated
    # payload non-empty instead of undecodable.
    decode = session_decoder(profile)
    return lambda data: not decode(data)


def attribute_value(entries: list[dict], *keys: str) -> str | None:
    """The value of the first decoded entry named one of `keys`, as text (--client-attr)."""
    for e in entries:
        if e.get("key", {}).get("value") in keys:
            v = e.get("value", {}).get("value")
            return v if isinstance(v, str) else str(v)
    return None
