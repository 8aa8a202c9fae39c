"""Decisions and the tally of a Redis prune: what to change, why, and how many of each."""

from __future__ import annotations

from dataclasses import dataclass, field

from sessdiag.stores.redis.census import show_key

EXAMPLES = 5
# The group counters (one dict per profile and namespace), in the report's order.
GROUP_FIELDS = ("sessions", "candidates", "fix_ttl", "companions", "index_members",
                "deleted", "companions_deleted", "index_members_removed", "ttl_set",
                "skipped_fresh")


@dataclass(slots=True)
class Decision:
    """One change, and the facts it rests on (re-checked by the server when it is made)."""

    op: str  # "del", "fixttl", "srem"
    what: str  # "session", "shadow", "expirations", "index_member", "namespace"
    key: bytes
    reason: str
    group: tuple[str, str]  # (profile, namespace)
    node: int = 0
    deadline: int = -1  # the TTL's absolute end, server ms; -1 none
    field: bytes = b""  # a hash field that must be unchanged, and its value
    field_value: bytes = b""
    idle: int | None = None  # still idle at least this long (s)
    vsha: str = ""  # sha1 of the string value read
    guard: bytes | None = None  # a key that must still be absent
    member: bytes = b""  # srem
    ttl_ms: int = 0  # fixttl

    @property
    def is_session(self) -> bool:
        return self.what in ("session", "namespace") and self.op == "del"


@dataclass
class RedisTally:
    keys_seen: int = 0
    sessions: int = 0  # session keys in scope
    candidates: int = 0  # session keys to delete (leaks and dropped namespaces)
    companions: int = 0  # companion keys to delete
    index_members: int = 0
    fix_ttl: int = 0
    deleted: int = 0
    companions_deleted: int = 0
    index_members_removed: int = 0
    index_sets_emptied: int = 0
    ttl_set: int = 0
    skipped_fresh: int = 0
    vanished: int = 0
    errors: int = 0
    not_attempted: int = 0
    bytes_freed: int = 0
    bytes_freed_estimated: bool = False  # past the MEMORY USAGE sample: averages
    backup_records: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    fresh_reasons: dict[str, int] = field(default_factory=dict)
    not_judged: dict[str, int] = field(default_factory=dict)
    groups: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    sample: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def group(self, g: tuple[str, str]) -> dict[str, int]:
        d = self.groups.get(g)
        if d is None:
            d = self.groups[g] = dict.fromkeys(GROUP_FIELDS, 0)
        return d

    def count(self, table: dict[str, int], name: str, n: int = 1) -> None:
        table[name] = table.get(name, 0) + n

    def example(self, kind: str, text: str) -> None:
        ex = self.examples.setdefault(kind, [])
        if len(ex) < EXAMPLES:
            ex.append(text)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def planned(self, d: Decision, sample_k: int) -> None:
        g = self.group(d.group)
        self.count(self.reasons, f"{d.what}: {d.reason}")
        if d.op == "fixttl":
            self.fix_ttl += 1
            g["fix_ttl"] += 1
            return
        if d.op == "srem":
            self.index_members += 1
            g["index_members"] += 1
            return
        if d.is_session:
            self.candidates += 1
            g["candidates"] += 1
        else:
            self.companions += 1
            g["companions"] += 1
        if len(self.sample) < sample_k:
            self.sample.append(show_key(d.key))

    def done(self, d: Decision, emptied: bool = False) -> None:
        g = self.group(d.group)
        if d.op == "fixttl":
            self.ttl_set += 1
            g["ttl_set"] += 1
        elif d.op == "srem":
            self.index_members_removed += 1
            g["index_members_removed"] += 1
            self.index_sets_emptied += emptied
        elif d.is_session:
            self.deleted += 1
            g["deleted"] += 1
        else:
            self.companions_deleted += 1
            g["companions_deleted"] += 1

    def fresh(self, d: Decision, why: str) -> None:
        if why == "gone":
            self.vanished += 1  # the app or Redis removed it first: nothing to do
            return
        self.skipped_fresh += 1
        self.group(d.group)["skipped_fresh"] += 1
        self.count(self.fresh_reasons, why)
        self.example("skipped_fresh", show_key(d.key))

