"""Decoders by profile name: the framework registry's, for the file-store paths."""

from __future__ import annotations

from collections.abc import Callable

from sessdiag import frameworks
from sessdiag.core.errors import UsageError
from sessdiag.frameworks.base import Decoder, attribute_value

__all__ = ["Decoder", "attribute_value", "emptiness_check", "session_decoder"]


def session_decoder(profile: str) -> Decoder:
    """bytes -> [{"key": typed, "value": typed}]; raises DecodeError on bad input."""
    fw = frameworks.REGISTRY.get(profile)
    if fw is None:
        raise UsageError(f"no session decoder for profile {profile!r}")
    return fw.decoder()


def emptiness_check(profile: str) -> Callable[[bytes], bool]:
    """bytes -> True when the session holds no attributes; raises DecodeError."""
    # Always a full decode: a cheap "is it the empty bytes?" test would call a truncated
    # payload non-empty instead of undecodable.
    decode = session_decoder(profile)
    is_empty = frameworks.REGISTRY[profile].is_empty  # keys that do not make a session used
    return lambda data: bool(is_empty(data, decode(data)))
