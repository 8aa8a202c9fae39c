"""The leak rules, at their edges: the Spring margin, the slack, no TTL, TTL beyond."""

from __future__ import annotations

from sessdiag.frameworks import leaks as L

NOW = 1_800_000_000_000
MIN = 60_000


def test_spring_expired_sessions() -> None:
    end = NOW - 10 * MIN  # lastAccessedTime + maxInactiveInterval, 10 minutes ago
    last = end - 1800_000
    assert L.spring(NOW, last, 1800, -1) == L.Verdict(L.DELETE, "expired, no TTL")
    # The indexed repository's 5 minutes (plus the minute of slack) is no leak ...
    assert L.spring(NOW, last, 1800, end + L.SPRING_MARGIN_MS + L.SLACK_MS - NOW).action \
        == L.KEEP
    # ... a millisecond more is.
    assert L.spring(NOW, last, 1800, end + L.SPRING_MARGIN_MS + L.SLACK_MS - NOW + 1).action \
        == L.DELETE
    assert L.spring(NOW, last, -1, -1).action == L.KEEP  # maxInactiveInterval < 0: PERSISTed
    assert L.spring(NOW, None, 1800, -1).action == L.KEEP  # nothing to judge by


def test_spring_live_and_the_slack() -> None:
    # Ended 59 s ago: inside the slack, still live; no TTL -> a TTL to set (end + 5 min).
    v = L.spring(NOW, NOW - 1800_000 - 59_000, 1800, -1)
    assert v.action == L.FIX_TTL and v.ttl_ms == L.SPRING_MARGIN_MS - 59_000
    assert L.spring(NOW, NOW - 61_000 - 1800_000, 1800, -1).action == L.DELETE
    assert L.spring(NOW, NOW - 1000, 1800, 2100_000).action == L.KEEP


def test_cookie() -> None:
    assert L.cookie(NOW, NOW - 2 * MIN, -1, 0, 86400).action == L.DELETE
    assert L.cookie(NOW, NOW - 2 * MIN, 10_000, 0, 86400).action == L.DELETE
    assert L.cookie(NOW, NOW - 2 * MIN + 60_001, 10, 0, 86400).action == L.KEEP
    v = L.cookie(NOW, NOW + 3600_000, -1, 0, 86400)
    assert v.action == L.FIX_TTL and v.ttl_ms == 3600_000
    # No cookie.expires (no maxAge): the idle rule with connect-redis' 86400 s.
    assert L.cookie(NOW, None, -1, 86400 + 61, 86400).action == L.DELETE


def test_idle() -> None:
    assert L.idle(-1, 1440 + 61, 1440) == L.Verdict(L.DELETE, "idle beyond the lifetime, no TTL")
    assert L.idle(-1, 1440 + 60, 1440).action == L.FIX_TTL
    assert L.idle(-1, 100, 1440).ttl_ms == 1340_000
    assert L.idle(-1, None, 1440).action == L.KEEP  # OBJECT IDLETIME refused: no age
    assert L.idle(30 * 86400_000, 1440 + 61, 1440).action == L.DELETE  # TTL beyond it
    assert L.idle(1440_000, 5000, 1440).action == L.KEEP  # the framework's own TTL: on time
    assert L.idle(30 * 86400_000, 10, 1440).action == L.KEEP  # touched recently


def test_expirations_and_rule_kinds() -> None:
    assert L.expirations_stale(NOW, NOW - L.EXPIRATIONS_GRACE_MS - 1)
    assert not L.expirations_stale(NOW, NOW - L.EXPIRATIONS_GRACE_MS)
    assert L.rule_kind("spring-session-simple") == "spring"
    assert L.rule_kind("connect-redis") == "cookie"
    assert L.rule_kind("php-redis") == "idle"
