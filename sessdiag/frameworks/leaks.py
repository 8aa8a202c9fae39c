"""What each framework's Redis sessions look like when they have leaked (docs/prune.md).

A leaked session is one the framework itself treats as expired but that Redis still holds:
without a TTL, or with a TTL ending later than the one the framework sets. How a framework
tells "expired" differs, so each profile has one rule kind (`RULE_KIND`):

- ``spring``: the hash records ``lastAccessedTime`` and ``maxInactiveInterval``; expired when
  their sum is past. The indexed repository keeps the hash 5 minutes longer on purpose (its
  expiry listeners read it), so a TTL ending within that margin is not a leak.
- ``cookie`` (connect-redis): the JSON's ``cookie.expires`` is the end; connect-redis sets the
  TTL to reach exactly it. Without ``cookie.expires`` (no ``maxAge``) it falls back to ``idle``.
- ``idle`` (every other framework): nothing in the value records an access, so the age is
  what Redis measured, ``OBJECT IDLETIME`` (seconds since the key was last read or written),
  against the framework's lifetime (``--max-lifetime`` when the app changed it).

Pure functions of numbers: no I/O. The callers pass times in milliseconds of one clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Clocks of app servers, Redis and sessdiag differ, and a request may be in flight: nothing
# closer than this to its end is judged expired.
SLACK_MS: Final = 60_000
# RedisIndexedSessionRepository: the hash lives maxInactiveInterval + 300 s.
SPRING_MARGIN_MS: Final = 300_000
# Spring's minute cron deletes the bucket of the previous minute; one older than this was missed.
EXPIRATIONS_GRACE_MS: Final = 600_000

KEEP, DELETE, FIX_TTL = "keep", "delete", "fix_ttl"

RULE_KIND: Final = {"spring-session": "spring", "spring-session-simple": "spring",
                    "connect-redis": "cookie"}


def rule_kind(profile: str) -> str:
    return RULE_KIND.get(profile, "idle")


@dataclass(frozen=True)
class Verdict:
    action: str  # KEEP, DELETE or FIX_TTL
    reason: str  # short, stable: the report counts candidates by it
    ttl_ms: int | None = None  # FIX_TTL: the lifetime the framework would have left


_KEEP: Final = Verdict(KEEP, "")


def _past_end(end_ms: int, now_ms: int, pttl_ms: int, margin_ms: int) -> Verdict:
    """A session whose framework lifetime ended at `end_ms`: a leak only if Redis keeps it
    later than the framework would (`end + margin`), or forever."""
    if pttl_ms == -1:
        return Verdict(DELETE, "expired, no TTL")
    if now_ms + pttl_ms > end_ms + margin_ms + SLACK_MS:
        return Verdict(DELETE, "expired, TTL beyond the framework's")
    return _KEEP  # Redis removes it on time


def spring(now_ms: int, last_ms: int | None, max_inactive_s: int | None,
           pttl_ms: int) -> Verdict:
    if last_ms is None or max_inactive_s is None:
        return _KEEP  # no timestamps: nothing to judge by
    if max_inactive_s < 0:
        return _KEEP  # maxInactiveInterval < 0: Spring PERSISTs it, never expires
    end = last_ms + max_inactive_s * 1000
    if end + SLACK_MS < now_ms:
        return _past_end(end, now_ms, pttl_ms, SPRING_MARGIN_MS)
    if pttl_ms == -1:
        return Verdict(FIX_TTL, "live, no TTL", end + SPRING_MARGIN_MS - now_ms)
    return _KEEP


def cookie(now_ms: int, expires_ms: int | None, pttl_ms: int, idle_s: int | None,
           lifetime_s: int) -> Verdict:
    if expires_ms is None:
        return idle(pttl_ms, idle_s, lifetime_s)
    if expires_ms + SLACK_MS < now_ms:
        return _past_end(expires_ms, now_ms, pttl_ms, 0)
    if pttl_ms == -1:
        return Verdict(FIX_TTL, "live, no TTL", expires_ms - now_ms)
    return _KEEP


def idle(pttl_ms: int, idle_s: int | None, lifetime_s: int) -> Verdict:
    if idle_s is None:
        return _KEEP  # OBJECT IDLETIME refused (an LFU policy, an ACL): no age
    idle_ms = idle_s * 1000
    life_ms = lifetime_s * 1000
    if pttl_ms == -1:
        if idle_ms > life_ms + SLACK_MS:
            return Verdict(DELETE, "idle beyond the lifetime, no TTL")
        return Verdict(FIX_TTL, "live, no TTL", max(1000, life_ms - idle_ms))
    if pttl_ms > life_ms + SLACK_MS and idle_ms > life_ms + SLACK_MS:
        return Verdict(DELETE, "idle beyond the lifetime, TTL beyond it")
    return _KEEP


def expirations_stale(now_ms: int, minute_ms: int) -> bool:
    """A Spring `…:expirations:<minute>` bucket its minute cron should have deleted."""
    return minute_ms + EXPIRATIONS_GRACE_MS < now_ms
