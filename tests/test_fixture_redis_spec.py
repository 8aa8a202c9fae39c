"""Redis fixture specs: validation with file and line, and the exact commands each session
becomes (no server needed; tests/integration/test_fixture_redis.py writes to a real one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sessdiag.codecs import javaser
from sessdiag.codecs.javawrite import jint, jlong, jstring
from sessdiag.core.errors import UsageError
from sessdiag.fixture_redis import (
    PRINCIPAL_INDEX,
    GroupSpec,
    RedisFixtureSpec,
    load_spec,
    write_groups,
)
from sessdiag.fixtures import FixtureSpec

REPO = Path(__file__).resolve().parents[1]
NOW = 1_790_000_000.0
NOW_MS = int(NOW * 1000)


def _spec(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    return p


def _record(spec: RedisFixtureSpec) -> tuple[list[tuple], dict]:
    sent: list[tuple] = []
    expected = write_groups(spec, lambda cmd: sent.append(tuple(cmd)), NOW)
    return sent, expected


def test_shipped_specs_load() -> None:
    mismatch = load_spec(str(REPO / "fixtures" / "spring-namespace-mismatch.yaml"))
    assert isinstance(mismatch, RedisFixtureSpec)
    assert [(g.namespace, g.indexed) for g in mismatch.groups] == [
        ("spring:session", True), ("myapp:spring:session", False),
        ("myapp:spring:session", False)]
    assert mismatch.groups[0].no_ttl == 3 and mismatch.groups[2].never_reused == 1.0
    assert mismatch.groups[0].max_inactive == 1800
    healthy = load_spec(str(REPO / "fixtures" / "spring-healthy.yaml"))
    assert isinstance(healthy, RedisFixtureSpec) and len(healthy.groups) == 1
    assert isinstance(load_spec(str(REPO / "fixtures" / "healthy-app.yaml")), FixtureSpec)


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("profile: spring-session\ncolour: red\ngroups: [{}]\n", 2, "unknown key 'colour'"),
        ("profile: spring-session\ngroups:\n  - namespace: a\n    sesions: 3\n", 4,
         "unknown key 'sesions' in group 1"),
        ("profile: spring-session\ngroups:\n  - never_reused: 1.5\n", 3, "fraction"),
        ("profile: spring-session\ngroups:\n  - sessions: -4\n", 3, "non-negative integer"),
        ("profile: spring-session\ngroups:\n  - max_inactive: soon\n", 3, "not a duration"),
        ("profile: spring-session\ngroups:\n  - indexed: maybe\n", 3, "true or false"),
        ("profile: spring-session\ngroups:\n  - serializer: kryo\n", 3, "serializer"),
        ("profile: spring-session\ngroups:\n  - attributes: {ratio: 0.5}\n", 3, "attributes"),
        ("profile: spring-session\ngroups:\n  - never_reused: 0.6\n    logged_in: 0.6\n", 3,
         "exceed 1"),
        ("profile: spring-session\ngroups:\n  - indexed: false\n    expired: 2\n", 3,
         "indexed repository"),
        ("profile: spring-session\ngroups:\n  - max_inactive: 60\n", 3, "at least 120"),
        ("profile: spring-session\ngroups:\n  - max_inactive: 30m\n    idle_max: 30m\n", 3,
         "idle_max"),
        ("profile: spring-session\ngroups:\n  - logged_in: 0.5\n    principals: 0\n", 3,
         "principals"),
        ("profile: spring-session\ngroups:\n  - sessions: 2\n    undecodable: 3\n", 3,
         "undecodable"),
        ("profile: spring-session\ngroups: []\n", 2, "non-empty list"),
        ("profile: spring-session\nseed: x\ngroups: [{}]\n", 2, "seed"),
        ("profile: spring-session\ngroups: [{}\n", 3, "not valid YAML"),
    ],
)
def test_bad_specs_name_file_and_line(tmp_path: Path, text: str, line: int, needle: str) -> None:
    with pytest.raises(UsageError) as err:
        load_spec(str(_spec(tmp_path, text)))
    msg = str(err.value)
    assert f"spec.yaml:{line}:" in msg, msg
    assert needle in msg, msg
    assert "\n" not in msg


def test_specs_without_a_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="needs 'groups'"):
        load_spec(str(_spec(tmp_path, "profile: spring-session\n")))
    with pytest.raises(UsageError, match="disagree on 'indexed'"):
        load_spec(str(_spec(tmp_path, "profile: spring-session\ngroups:\n  - namespace: a\n"
                                      "  - namespace: a\n    indexed: false\n")))
    # A file-tree spec's unknown key is named with its line too.
    with pytest.raises(UsageError, match=r"spec\.yaml:2: unknown fixture key 'colour'"):
        load_spec(str(_spec(tmp_path, "profile: beego-file\ncolour: red\n")))


def test_indexed_session_commands_follow_the_repository() -> None:
    g = GroupSpec(namespace="ns", sessions=1, logged_in=1.0, max_inactive=1800, attributes={})
    sent, exp = _record(RedisFixtureSpec(seed=1, groups=[g]))
    hset, pexpire, append, shadow_ttl, sadd_index, sadd_exp, expire = sent
    sid = hset[1].rsplit(":", 1)[1]
    assert hset[0] == "HSET" and hset[1] == f"ns:sessions:{sid}"
    fields = dict(zip(hset[2::2], hset[3::2], strict=True))
    created = javaser.long_value(fields["creationTime"])
    last = javaser.long_value(fields["lastAccessedTime"])
    assert created is not None and last is not None and created < last <= NOW_MS
    assert fields["maxInactiveInterval"] == jint(1800)
    assert fields[f"sessionAttr:{PRINCIPAL_INDEX}"] == jstring("user0000")
    # The hash lives 5 minutes past the session's expiry; the shadow key holds the real TTL.
    assert pexpire == ("PEXPIRE", hset[1], last + 2100_000 - NOW_MS)
    assert append == ("APPEND", f"ns:sessions:expires:{sid}", b"")
    assert shadow_ttl == ("PEXPIRE", f"ns:sessions:expires:{sid}", last + 1800_000 - NOW_MS)
    assert sadd_index == ("SADD", f"ns:index:{PRINCIPAL_INDEX}:user0000", jstring(sid))
    minute = -(-(last + 1800_000) // 60_000) * 60_000
    assert sadd_exp == ("SADD", f"ns:expirations:{minute}", jstring(f"expires:{sid}"))
    assert expire[0] == "EXPIRE" and expire[1] == f"ns:expirations:{minute}"
    assert expire[2] == -(-(last + 2100_000 - NOW_MS) // 1000)
    (eg,) = exp["groups"]
    assert eg["bytes"] == sum(len(k.encode()) + len(v) for k, v in fields.items())
    assert (eg["shadow_keys"], eg["index_sets"], eg["expirations_members"]) == (1, 1, 1)


def test_non_indexed_never_reused_and_no_ttl() -> None:
    simple = GroupSpec(namespace="b", indexed=False, sessions=2, never_reused=1.0)
    forever = GroupSpec(namespace="a", sessions=0, no_ttl=1, attributes={"n": 1 << 40})
    sent, exp = _record(RedisFixtureSpec(seed=2, groups=[simple, forever]))
    assert [c[0] for c in sent] == ["HSET", "PEXPIREAT", "HSET", "PEXPIREAT",
                                    "HSET", "PERSIST", "APPEND", "PERSIST"]
    f = dict(zip(sent[0][2::2], sent[0][3::2], strict=True))
    assert f["creationTime"] == f["lastAccessedTime"] and len(f) == 3  # never reused, empty
    last = javaser.long_value(f["lastAccessedTime"])
    assert last is not None and sent[1][2] == last + 1800_000
    g = dict(zip(sent[4][2::2], sent[4][3::2], strict=True))
    assert g["maxInactiveInterval"] == jint(-1) and g["sessionAttr:n"] == jlong(1 << 40)
    by_ns = {x["namespace"]: x for x in exp["groups"]}
    assert by_ns["b"]["orphans"] == by_ns["b"]["empty"] == 2
    assert by_ns["a"]["no_ttl"] == by_ns["a"]["shadow_keys_no_ttl"] == 1
    assert exp["namespaces"] == ["a", "b"] and exp["no_ttl"] == 1


def test_counts_are_exact_and_seeded() -> None:
    g = GroupSpec(sessions=200, never_reused=0.1, logged_in=0.6, principals=50, expired=7,
                  undecodable=3, no_ttl=2)
    sent, exp = _record(RedisFixtureSpec(seed=9, groups=[g]))
    again, _ = _record(RedisFixtureSpec(seed=9, groups=[g]))
    other, _ = _record(RedisFixtureSpec(seed=10, groups=[g]))
    assert sent == again and sent != other
    (eg,) = exp["groups"]
    assert (eg["sessions"], eg["orphans"], eg["empty"], eg["logged_in"]) == (202, 20, 20, 120)
    assert (eg["expired"], eg["undecodable"], eg["no_ttl"], eg["principals"]) == (7, 3, 2, 50)
    assert eg["shadow_keys"] == 202 - 7 and eg["index_members"] == 120
    assert exp["empty_fraction"] == round(20 / 202, 6)
    hashes = [c for c in sent if c[0] == "HSET"]
    broken = [c for c in hashes if "sessionAttr:cart" in c]
    assert len(hashes) == 202 and len(broken) == 3
    expired = never_expire = 0
    for c in hashes:
        f = dict(zip(c[2::2], c[3::2], strict=True))
        last = javaser.long_value(f["lastAccessedTime"])
        mi = javaser.long_value(f["maxInactiveInterval"])
        assert last is not None and mi is not None
        if mi < 0:
            never_expire += 1  # maxInactiveInterval -1: never expires, whatever its age
        elif last + mi * 1000 < NOW_MS:
            expired += 1
    assert (expired, never_expire) == (7, 2)


def test_json_serializer() -> None:
    g = GroupSpec(sessions=1, logged_in=1.0, serializer="json", attributes={"ok": True})
    sent, _ = _record(RedisFixtureSpec(seed=3, groups=[g]))
    f = dict(zip(sent[0][2::2], sent[0][3::2], strict=True))
    assert f["maxInactiveInterval"] == b"1800" and f["sessionAttr:ok"] == b"true"
    assert f[f"sessionAttr:{PRINCIPAL_INDEX}"] == b'"user0000"'
