"""How one value of several reports combines: the building blocks of every merge rule.

Counts add (None, "not applicable", stays None unless a part measured it), histograms add
bucket by bucket (their edges must agree), maps of counts add key by key, and a value that
names something (a profile, a method) must agree: where parts differ it becomes "mixed".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sessdiag.core.errors import UsageError

MIXED = "mixed"


def is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def add(values: Iterable[Any]) -> Any:
    """Sum of the numbers; None when no part has one (not applicable anywhere)."""
    nums = [v for v in values if v is not None]
    if not nums:
        return None
    total = sum(nums)
    return round(total, 6) if isinstance(total, float) else total


def same(values: Sequence[Any]) -> Any:
    """The value every part agrees on, else MIXED."""
    first = values[0]
    return first if all(v == first for v in values[1:]) else MIXED


def add_counts(maps: Iterable[dict | None]) -> dict | None:
    """{key: count} maps added key by key (keys in first-seen order); None if all None."""
    out: dict[str, Any] = {}
    seen = False
    for m in maps:
        if m is None:
            continue
        seen = True
        for k, v in m.items():
            out[k] = add([out.get(k), v])
    return out if seen else None


def add_histograms(hists: Sequence[list[dict]], what: str) -> list[dict]:
    """Bucket-wise sums of `[{"upper_s", "count"}]` histograms with the same edges."""
    edges = [tuple(b["upper_s"] for b in h) for h in hists]
    if any(e != edges[0] for e in edges[1:]):
        raise UsageError(f"{what}: the reports use different buckets "
                         "(scan every part with the same --buckets)")
    return [{**bucket, "count": sum(h[i]["count"] for h in hists)}
            for i, bucket in enumerate(hists[0])]


def earliest(values: Iterable[Any]) -> Any:
    """The smallest known value (a first-seen time), None when no part knows one."""
    present = [v for v in values if v is not None]
    return min(present) if present else None


def latest(values: Iterable[Any]) -> Any:
    """The largest known value (a last-seen time), None when no part knows one."""
    present = [v for v in values if v is not None]
    return max(present) if present else None


def timeline(values: Iterable[Any]) -> list[dict]:
    """`[{"hour", "count"}]` rows added hour by hour (ISO hours sort as times)."""
    hours: dict[str, int] = {}
    for rows in values:
        for row in rows or []:
            hours[row["hour"]] = hours.get(row["hour"], 0) + row["count"]
    return [{"hour": h, "count": n} for h, n in sorted(hours.items())]


def merge_fields(present: Sequence[dict], rule: Callable[[str, list[Any]], Any]
                 ) -> dict[str, Any]:
    """Every field of the parts' dicts (in first-seen order), merged by `rule(key, values)`."""
    return {key: rule(key, [v.get(key) for v in present])
            for key in union(v.keys() for v in present)}


def add_if_numbers(values: list[Any], otherwise: Callable[[list[Any]], Any]) -> Any:
    """Numbers (or unknowns) add; anything else is merged by `otherwise`."""
    return add(values) if all(is_number(x) or x is None for x in values) else otherwise(values)


def union(lists: Iterable[Iterable[Any]]) -> list[Any]:
    """Items of every list, each once, in first-seen order."""
    out: list[Any] = []
    for lst in lists:
        for item in lst:
            if item not in out:
                out.append(item)
    return out


def smallest(lists: Iterable[Iterable[str]], k: int) -> list[str]:
    """The k smallest distinct items of the union: a sample by a total order merges exactly."""
    return sorted(set().union(*map(set, lists)))[:k]


def merge_value(values: Sequence[Any]) -> Any:
    """A field no rule names: equal values stay, maps merge key by key, histograms add;
    anything else that differs (a number could be a count or a setting) becomes MIXED."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(v == present[0] for v in present[1:]):
        return present[0]
    if all(isinstance(v, dict) for v in present):
        keys = union(v.keys() for v in present)
        return {k: merge_value([v.get(k) for v in present]) for k in keys}
    if all(isinstance(v, list) for v in present) and _histograms(present):
        try:
            return add_histograms(present, "histogram")
        except UsageError:
            return MIXED
    return MIXED


def _histograms(lists: Sequence[list]) -> bool:
    return all(isinstance(b, dict) and set(b) == {"upper_s", "count"} for h in lists for b in h)


def merge_keyed(rows: Iterable[Iterable[dict]], key: Callable[[dict], Any],
                merge_rows: Callable[[list[dict]], dict]) -> list[dict]:
    """Rows of every part grouped by key (first-seen order), each group merged into one."""
    groups: dict[Any, list[dict]] = {}
    for lst in rows:
        for row in lst:
            groups.setdefault(key(row), []).append(row)
    return [merge_rows(g) for g in groups.values()]
