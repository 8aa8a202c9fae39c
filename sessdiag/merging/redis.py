"""Redis reports (live servers, cluster primaries, dumps): the group fields and derived
figures a Redis scan writes beyond the common ones, merged or computed again.

A Redis Cluster scan merges its primaries' results before it derives anything; per-node
reports merged here must give what it gives: timelines add hour by hour, the orphan rates
and findings are computed from the merged groups, groups sort as a scan sorts them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sessdiag.merging.values import (
    MIXED,
    add,
    add_counts,
    add_if_numbers,
    earliest,
    latest,
    merge_fields,
    merge_value,
    same,
    smallest,
    timeline,
    union,
)

Values = Sequence[Any]
REDIS_KINDS = ("redis", "rdb")


def is_redis(part_kinds: set[str | None]) -> bool:
    return bool(part_kinds) and part_kinds <= set(REDIS_KINDS)


def _principals(values: Values) -> dict:
    # A principal with sessions in several parts is counted once per part: an upper bound.
    present = [v for v in values if v]
    return {"count": add(v.get("count") for v in present),
            "capped": any(v.get("capped") for v in present)}


COMPANION_FIRST = ("expirations_oldest_minute",)
COMPANION_DERIVED = ("index_members_dead", "index_dead_method")


def _companions(values: Values) -> dict | None:
    present = [v for v in values if v]
    if not present:
        return None

    def rule(key: str, vals: list[Any]) -> Any:
        if key in COMPANION_FIRST:
            return earliest(vals)
        if key == "repository":
            return "indexed" if "indexed" in vals else same(vals)
        if key in COMPANION_DERIVED:
            return None  # below, from the merged counts
        return add_if_numbers(vals, merge_value)

    out = merge_fields(present, rule)
    checked, members = out.get("index_members_checked") or 0, out.get("index_members") or 0
    dead = out.get("index_members_dead_checked") or 0
    every = checked == members
    out["index_members_dead"] = dead if every else (round(members * dead / checked)
                                                    if checked else None)
    out["index_dead_method"] = ("every member checked" if every
                                else f"{checked} members checked, extrapolated")
    return out


def _examples(values: Values) -> dict[str, list[str]]:
    """Each part keeps its first few keys per kind; the merge keeps as many, the smallest."""
    kinds = union((v or {}).keys() for v in values)
    out = {}
    for k in kinds:
        lists = [(v or {}).get(k, []) for v in values]
        out[k] = smallest(lists, max(len(x) for x in lists))
    return out


# Group fields only a Redis report has (sections.GROUP_SPECIAL takes them in).
GROUP_SPECIAL = {
    "age_sources": add_counts, "recorded_lifetimes": add_counts,
    "orphan_timeline": timeline, "creation_timeline": timeline,
    "oldest_created": earliest, "newest_created": latest,
    "principals": _principals, "companions": _companions,
    "orphan_rate": lambda v: None,  # from the merged orphan_timeline (finish_groups)
    "age_source": lambda v: None,  # from the merged age_sources
}


def _hours(rows: list[dict] | None) -> dict[int, int]:
    from sessdiag.merging.derive import epoch

    return {int(epoch(r["hour"])) // 3600: r["count"] for r in rows or []}


_NUMBER = re.compile(r"\d+")


def _allocated_method(g: dict) -> str:
    """The parts' phrase ("… of all 6 sessions") with the merged numbers, when they say the
    same thing; the sample's size, then the sessions, as report._allocated writes them."""
    method = g.get("allocated_method")
    if not isinstance(method, str) or method == MIXED:
        return method  # type: ignore[return-value]
    numbers = iter((g.get("allocated_sample"), g.get("sessions")))
    return _NUMBER.sub(lambda m: str(next(numbers, m.group())), method)


def _by_count(d: dict | None, top: int | None = None) -> dict | None:
    if d is None:
        return None
    return dict(sorted(d.items(), key=lambda kv: -kv[1])[:top])


def finish_groups(out: dict, reports: Sequence[dict]) -> None:
    """What a scan derives per group, from the merged counts; groups in a scan's order."""
    from sessdiag.core import contract

    methods: dict[tuple, list[Any]] = {}
    examples: dict[tuple, list[Any]] = {}
    for r in reports:
        for g in r.get("groups") or []:
            key = (g.get("profile"), g.get("namespace"))
            methods.setdefault(key, []).append(g.get("allocated_method"))
            examples.setdefault(key, []).append(g.get("examples"))
    for g in out.get("groups") or []:
        if "orphan_timeline" not in g:
            continue
        g["age_sources"] = _by_count(g.get("age_sources"))
        g["age_source"] = next(iter(g["age_sources"] or {}), None)
        for key in ("formats", "undecodable_reasons"):
            if key in g:
                g[key] = _by_count(g[key])
        if "recorded_lifetimes" in g:
            g["recorded_lifetimes"] = _by_count(g["recorded_lifetimes"], 10)
        g["orphan_rate"] = contract.hourly_rate(_hours(g["orphan_timeline"]))
        g["examples"] = _examples(examples.get((g.get("profile"), g.get("namespace")), []))
        ms = methods.get((g.get("profile"), g.get("namespace")), [])
        if ms and all(isinstance(m, str) for m in ms) and \
                len({_NUMBER.sub("N", m) for m in ms}) == 1:
            g["allocated_method"] = _allocated_method({**g, "allocated_method": ms[0]})
    if out.get("groups"):
        out["groups"].sort(key=lambda g: (-(g.get("sessions") or 0), str(g.get("profile")),
                                          str(g.get("namespace"))))


def empty_rate(out: dict, now: float) -> dict | None:
    """Never-reused sessions per hour, all groups, as build_report derives it."""
    from sessdiag.core import contract
    from sessdiag.stores.redis.report import with_retained_rate

    per_group = [(_hours(g.get("orphan_timeline")), g.get("lifetime_s"))
                 for g in out.get("groups") or [] if "orphan_timeline" in g]
    total: dict[int, int] = {}
    for hours, _life in per_group:
        for h, n in hours.items():
            total[h] = total.get(h, 0) + n
    return with_retained_rate(contract.hourly_rate(total, now), per_group, now)


def namespace_drift(out: dict, reports: Sequence[dict]) -> list[dict]:
    """A framework writing under several namespaces, from the merged groups (two nodes may
    each hold one of them). Principals seen in several namespaces: the parts' own, each
    part seeing only its keys (a lower bound); principals per namespace an upper bound."""
    from sessdiag.stores.redis.profiles import FRAMEWORK

    shared: dict[str, list[dict]] = {}
    for r in reports:
        for d in r.get("namespace_drift") or []:
            shared.setdefault(d["framework"], []).append(d)
    by_fw: dict[str, list[dict]] = {}
    for g in out.get("groups") or []:
        indexed = (g.get("companions") or {}).get("repository") == "indexed"
        if g.get("profile") == "generic" or not (g.get("sessions") or indexed):
            continue
        by_fw.setdefault(FRAMEWORK.get(g["profile"], g["profile"]), []).append(g)
    drift = []
    for fw, gs in sorted(by_fw.items()):
        if len(gs) < 2:
            continue
        gs = sorted(gs, key=lambda g: -(g.get("sessions") or 0))
        seen = shared.get(fw, [])
        drift.append({
            "framework": fw,
            "namespaces": [{"namespace": g["namespace"], "profile": g["profile"],
                            "sessions": g["sessions"],
                            "principals": (g.get("principals") or {}).get("count") or 0}
                           for g in gs],
            "shared_principals": sum(d.get("shared_principals") or 0 for d in seen),
            "shared_principal_examples": smallest(
                (d.get("shared_principal_examples") or [] for d in seen), 5),
        })
    return drift


def server(values: Values) -> dict | None:
    """The servers: memory adds (every primary's, every dump's), settings must agree."""
    present = [v for v in values if v]
    if not present:
        return None

    def rule(key: str, vals: list[Any]) -> Any:
        if key in ("used_memory", "maxmemory", "primaries"):
            return add(vals)
        if key == "notify_keyspace_events_by_node":
            return [x for v in vals for x in (v or [])] or None
        return merge_value(vals)

    return merge_fields(present, rule)


DUMP_COUNTS = ("keys_past_expiry", "corrupt_records", "functions", "module_aux")


def dump(values: Values) -> dict | None:
    """The dumps' section: what was found in them adds; each dump's checksum and clock stay
    in `target.parts`."""
    present = [v for v in values if v]
    if not present:
        return None

    def rule(key: str, vals: list[Any]) -> Any:
        if key in DUMP_COUNTS:
            return add(vals)
        if key == "databases":
            return add_counts(vals)
        if key == "companion_check_share":
            return earliest(vals)  # the smallest share any dump checked
        return merge_value(vals)

    return merge_fields(present, rule)


def keyspace(value: dict | None) -> dict | None:
    """The largest other prefixes after the counts added: ten, as a scan keeps."""
    if value and isinstance(value.get("other_prefixes"), dict):
        value["other_prefixes"] = _by_count(value["other_prefixes"], 10)
    return value


CROSS_CHECKS = ("companion checks (a Spring shadow key's session hash, a principal index's "
                "sessions) see each dump's own keys only: on a Redis Cluster a session's keys "
                "hash to different slots, most on other primaries, so "
                "shadow_keys_without_session and index_members_dead of merged dumps count "
                "sessions another dump holds; a live scan of the cluster checks them on the "
                "owning node")


def derive(out: dict, reports: Sequence[dict]) -> None:
    """Everything a Redis scan derives, computed again for the merged report."""
    from sessdiag.merging.derive import epoch
    from sessdiag.stores.redis.report import findings

    finish_groups(out, reports)
    if "empty_rate" in out:
        out["empty_rate"] = empty_rate(out, epoch(out["generated_at"]))
    if "namespace_drift" in out:
        out["namespace_drift"] = namespace_drift(out, reports)
    out["keyspace"] = keyspace(out.get("keyspace"))
    dumps = [r for r in reports if (r.get("target") or {}).get("kind") == "rdb"]
    spring = any((g.get("companions") or {}).get("repository") == "indexed"
                 for g in out.get("groups") or [])
    if len(dumps) > 1 and spring and CROSS_CHECKS not in out["warnings"]:
        out["warnings"].append(CROSS_CHECKS)
    if {"server", "keyspace", "namespace_drift"} <= out.keys():
        from sessdiag.merging import logs

        # the store's lines, then the access log's (kept from the parts, see logs.py)
        out["findings"] = findings(out) + logs.findings(out, reports, findings)
