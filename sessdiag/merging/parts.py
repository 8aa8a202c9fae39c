"""What each report covers (its part), and the refusal of parts that overlap.

A part is one scan: a file tree on a host, one partition K/N of a shared tree, a Redis server
or the primaries of a cluster. Reports of parts that could hold the same session are refused
(exit 2): the same tree scanned twice, a whole tree with one of its partitions, partitions of
different N (1/2 and 1/3 overlap), the same partition twice, Redis reports sharing a node, the
same dump twice (by path or checksum), or a dump with a live Redis report. A merged report
carries its parts, so merging merged reports checks the parts inside them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sessdiag.core.errors import UsageError


def parts_of(report: dict, source: str) -> list[dict]:
    """The parts a report covers: its own target, or the parts of a merged report."""
    t = report.get("target") or {}
    if t.get("kind") == "merged":
        return [dict(p) for p in t.get("parts") or []]
    part = {"kind": t.get("kind"), "location": t.get("location"), "profile": t.get("profile"),
            "generated_at": report.get("generated_at"), "report": source}
    for key in ("host", "partition", "nodes", "db"):
        if t.get(key) is not None:
            part[key] = t[key]
    dump = report.get("dump") or {}
    if t.get("kind") == "rdb" and dump.get("checksum"):
        # What names a dump: its bytes (the RDB's own CRC64), whatever the file is called.
        part.update(checksum=dump["checksum"], ctime=dump.get("ctime"))
    return [part]


def _name(p: dict) -> str:
    where = p.get("location")
    if p.get("host"):
        where = f"{p['host']}:{where}"
    if p.get("partition"):
        where += f" partition {p['partition']['index']}/{p['partition']['count']}"
    return f"{where} ({p.get('report')})"


def _redis_nodes(p: dict) -> set[str]:
    loc = str(p.get("location"))
    return set(p.get("nodes") or []) | {loc} if p.get("nodes") else {loc}


def _check_dumps(parts: Sequence[dict]) -> None:
    """Dumps: the same dump twice (by path or checksum) is refused, and so is a dump with a
    live Redis report. A Redis 7.0 dump names no server, node or cluster (its aux fields hold
    the version, time and memory only), so a live scan of the server or cluster it was saved
    from cannot be told apart from one of another: the sessions could be counted twice."""
    dumps = [p for p in parts if p.get("kind") == "rdb"]
    live = [p for p in parts if p.get("kind") == "redis"]
    if dumps and live:
        what = "a Redis Cluster (every primary)" if live[0].get("nodes") else "a Redis server"
        raise UsageError(f"overlapping parts: {_name(live[0])} is a live scan of {what} and "
                         f"{_name(dumps[0])} a dump, which names no node: it may hold the "
                         "same sessions (merge live reports, or one dump per node)")
    seen: dict[object, dict] = {}
    for p in dumps:
        for key in (("path", p.get("location")), ("checksum", p.get("checksum"))):
            if key[1] is None or key[1] == "(standard input)":
                continue
            if key in seen:
                raise UsageError(f"overlapping parts: {_name(seen[key])} and {_name(p)} are "
                                 "the same dump")
            seen[key] = p


def check_disjoint(parts: Sequence[dict]) -> None:
    """UsageError (exit 2) when two parts could hold the same session."""
    trees: dict[tuple, list[dict]] = {}
    redis: list[dict] = []
    _check_dumps(parts)
    for p in parts:
        if p.get("kind") == "rdb":
            continue  # _check_dumps
        if p.get("kind") == "redis":
            for q in redis:
                if _redis_nodes(p) & _redis_nodes(q):
                    raise UsageError(f"overlapping parts: {_name(q)} and {_name(p)} "
                                     "share Redis nodes")
            redis.append(p)
        else:
            trees.setdefault((p.get("kind"), p.get("location")), []).append(p)
    for group in trees.values():
        split = [p for p in group if p.get("partition")]
        whole = [p for p in group if not p.get("partition")]
        if split and whole:
            raise UsageError(f"overlapping parts: {_name(whole[0])} is the whole tree "
                             f"and {_name(split[0])} a partition of it")
        seen: dict[object, dict] = {}
        for p in split:
            if p["partition"]["count"] != split[0]["partition"]["count"]:
                raise UsageError(f"overlapping parts: {_name(split[0])} and {_name(p)} split "
                                 "the tree into different numbers of partitions")
            key = p["partition"]["index"]
            if key in seen:
                raise UsageError(f"overlapping parts: {_name(seen[key])} and {_name(p)} are "
                                 "the same partition")
            seen[key] = p
        for p in whole:
            key = ("host", p.get("host"))
            if key in seen:
                raise UsageError(f"overlapping parts: {_name(seen[key])} and {_name(p)} are "
                                 "the same tree")
            seen[key] = p


def one_tree(parts: Sequence[dict]) -> bool:
    """Are the parts partitions of one shared tree (rather than separate trees)?"""
    return all(p.get("partition") for p in parts) \
        and len({(p.get("kind"), p.get("location")) for p in parts}) == 1


COVERAGE_TAIL = "this report covers part of the tree only"


def is_coverage_warning(line: str) -> bool:
    """A merged part's own coverage warning: computed again for the new set of parts."""
    return line.endswith(COVERAGE_TAIL)


def coverage_warnings(parts: Sequence[dict]) -> list[str]:
    """A tree some of whose partitions are missing: the merge covers part of it only."""
    out = []
    trees: dict[tuple, list[dict]] = {}
    for p in parts:
        if p.get("partition"):
            trees.setdefault((p.get("kind"), p.get("location")), []).append(p)
    for (_kind, location), group in trees.items():
        n = group[0]["partition"]["count"]
        have = sorted(p["partition"]["index"] for p in group)
        if len(have) != n:
            missing = sorted(set(range(1, n + 1)) - set(have))
            out.append(f"{location}: partitions {', '.join(map(str, missing))} of {n} are "
                       f"missing: {COVERAGE_TAIL}")
    return out


def merged_target(targets: Sequence[dict], parts: list[dict]) -> dict:
    """target of the merged report: kind "merged", what the parts share, and the parts."""
    from sessdiag.merging.values import same

    locations = {p.get("location") for p in parts}
    out: dict = {"kind": "merged",
                 "location": locations.pop() if len(locations) == 1 else "merged",
                 "profile": same([t.get("profile") for t in targets])}
    kinds = {p.get("kind") for p in parts}
    out["part_kind"] = kinds.pop() if len(kinds) == 1 else "mixed"
    layouts = {t.get("layout") for t in targets if t.get("layout")}
    if len(layouts) == 1:
        out["layout"] = layouts.pop()
    out["parts"] = parts
    return out
