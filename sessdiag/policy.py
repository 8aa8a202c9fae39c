"""YAML policies: rules over a scan report, each violation named with measured vs allowed.

    rules:
      max_sessions: 500000
      max_allocated_bytes: 2GiB
      max_expired_fraction: 0.10
      max_empty_fraction: 0.50
      max_orphan_rate_per_hour: 1000
      max_gc_stall_seconds: 30
      max_no_ttl_keys: 0
      allowed_namespaces: ["spring:session"]
      max_anomalies: {symlinks: 0, foreign: 10}
      clients: {max_orphans: 100, max_orphan_rate_per_hour: 10}
    targets:                       # optional: check these when no TARGET is given
      - target: /srv/casdoor/tmp
        max_lifetime: 30d
        rules: {max_sessions: 100000}   # added to / overriding the top-level rules

Unknown keys and wrong types are errors that name the file, the line and the key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from sessdiag.core.contract import POLICY_ANOMALY_KINDS
from sessdiag.core.errors import UsageError
from sessdiag.core.units import format_bytes, parse_duration, parse_size

RULES_DOC = "see docs/policy.md"


@dataclass
class RuleResult:
    rule: str
    status: str  # "pass", "fail" or "skipped" (the report cannot measure it)
    measured: Any
    allowed: Any
    message: str

    def to_dict(self) -> dict:
        return {"rule": self.rule, "status": self.status, "measured": self.measured,
                "allowed": self.allowed, "message": self.message}


@dataclass
class PolicyTarget:
    target: str
    profile: str | None = None
    max_lifetime: int | None = None
    rules: dict[str, Any] = field(default_factory=dict)


@dataclass
class Policy:
    path: str
    rules: dict[str, Any]
    targets: list[PolicyTarget]

    def rules_for(self, target: PolicyTarget | None) -> dict[str, Any]:
        merged = dict(self.rules)
        if target is not None:
            merged.update(target.rules)
        return merged


# --- loading with line numbers ---------------------------------------------------------


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _count(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ValueError("a non-negative integer")
    return v


def _fraction(v: Any) -> float:
    if not _number(v) or not 0 <= v <= 1:
        raise ValueError("a fraction between 0 and 1")
    return float(v)


def _positive(v: Any) -> float:
    if not _number(v) or v < 0:
        raise ValueError("a non-negative number")
    return float(v)


def _size(v: Any) -> int:
    try:
        return parse_size(v)
    except UsageError as exc:
        raise ValueError("a size such as 2GiB, 500MB or a number of bytes") from exc


def _namespaces(v: Any) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError("a list of namespace strings")
    return v


RULE_TYPES: dict[str, Callable[[Any], Any]] = {
    "max_sessions": _count,
    "max_allocated_bytes": _size,
    "max_bytes": _size,
    "max_expired_fraction": _fraction,
    "max_empty_fraction": _fraction,
    "max_orphan_rate_per_hour": _positive,
    "max_orphans_per_route_per_hour": _positive,
    "max_gc_stall_seconds": _positive,
    "max_no_ttl_keys": _count,
    "allowed_namespaces": _namespaces,
}
CLIENT_RULES: dict[str, Callable[[Any], Any]] = {
    "max_orphans": _count,
    "max_orphan_rate_per_hour": _positive,
    "max_sessions": _count,
}
TARGET_KEYS = ("target", "profile", "max_lifetime", "rules")


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _mapping(node: yaml.Node, where: str, path: str) -> list[tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise UsageError(f"{path}:{_line(node)}: {where} must be a mapping")
    return node.value


def _plain(node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(node))


def _parse_rules(node: yaml.Node, path: str, where: str) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    for knode, vnode in _mapping(node, where, path):
        key = knode.value
        line = _line(knode)
        if key == "max_anomalies":
            kinds: dict[str, int] = {}
            for ak, av in _mapping(vnode, "max_anomalies", path):
                if ak.value not in POLICY_ANOMALY_KINDS:
                    raise UsageError(f"{path}:{_line(ak)}: unknown anomaly kind {ak.value!r} "
                                     f"(known: {', '.join(POLICY_ANOMALY_KINDS)})")
                try:
                    kinds[ak.value] = _count(_plain(av))
                except ValueError as exc:
                    raise UsageError(f"{path}:{_line(av)}: max_anomalies.{ak.value} must be "
                                     f"{exc}") from None
            rules[key] = kinds
            continue
        if key == "clients":
            limits: dict[str, Any] = {}
            for ck, cv in _mapping(vnode, "clients", path):
                if ck.value not in CLIENT_RULES:
                    raise UsageError(f"{path}:{_line(ck)}: unknown client rule {ck.value!r} "
                                     f"(known: {', '.join(CLIENT_RULES)})")
                try:
                    limits[ck.value] = CLIENT_RULES[ck.value](_plain(cv))
                except ValueError as exc:
                    raise UsageError(f"{path}:{_line(cv)}: clients.{ck.value} must be "
                                     f"{exc}") from None
            rules[key] = limits
            continue
        if key not in RULE_TYPES:
            known = ", ".join([*RULE_TYPES, "max_anomalies", "clients"])
            raise UsageError(f"{path}:{line}: unknown rule {key!r} (known: {known})")
        try:
            rules[key] = RULE_TYPES[key](_plain(vnode))
        except ValueError as exc:
            raise UsageError(f"{path}:{_line(vnode)}: {key} must be {exc}") from None
    return rules


def load_policy(path: str) -> Policy:
    from sessdiag.core.textfile import read_text

    text = read_text(path, "--policy ")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{path}{where}: not valid YAML ({problem})") from exc
    if root is None:
        raise UsageError(f"{path}: the policy is empty (it needs a 'rules' mapping)")
    rules: dict[str, Any] = {}
    targets: list[PolicyTarget] = []
    seen_rules = False
    for knode, vnode in _mapping(root, "the policy", path):
        if knode.value == "rules":
            rules = _parse_rules(vnode, path, "rules")
            seen_rules = True
        elif knode.value == "targets":
            if not isinstance(vnode, yaml.SequenceNode):
                raise UsageError(f"{path}:{_line(vnode)}: targets must be a list")
            for item in vnode.value:
                targets.append(_parse_target(item, path))
        else:
            raise UsageError(f"{path}:{_line(knode)}: unknown key {knode.value!r} "
                             "(a policy has 'rules' and optionally 'targets')")
    if not seen_rules and not any(t.rules for t in targets):
        raise UsageError(f"{path}: the policy has no rules")
    return Policy(path, rules, targets)


def _parse_target(node: yaml.Node, path: str) -> PolicyTarget:
    if isinstance(node, yaml.ScalarNode):
        return PolicyTarget(target=str(node.value))
    t = PolicyTarget(target="")
    for knode, vnode in _mapping(node, "a target", path):
        key = knode.value
        if key not in TARGET_KEYS:
            raise UsageError(f"{path}:{_line(knode)}: unknown target key {key!r} "
                             f"(known: {', '.join(TARGET_KEYS)})")
        if key == "rules":
            t.rules = _parse_rules(vnode, path, "rules")
            continue
        value = _plain(vnode)
        if key == "max_lifetime":
            try:
                t.max_lifetime = parse_duration(value, flag="max_lifetime")
            except UsageError as exc:
                raise UsageError(f"{path}:{_line(vnode)}: {exc}") from None
        elif not isinstance(value, str):
            raise UsageError(f"{path}:{_line(vnode)}: {key} must be a string")
        else:
            setattr(t, key, value)
    if not t.target:
        raise UsageError(f"{path}:{_line(node)}: a target needs 'target: PATH-or-URL'")
    return t


# --- evaluation ------------------------------------------------------------------------


def _limit(rule: str, measured: Any, allowed: Any, what: str,
           fmt: Callable[[Any], str] | None = None) -> RuleResult:
    if measured is None:
        return RuleResult(rule, "skipped", None, allowed, f"{what}: not measured for this store")
    ok = measured <= allowed
    verb = "within" if ok else "exceeds"
    show = fmt or _fmt
    return RuleResult(rule, "pass" if ok else "fail", measured, allowed,
                      f"{what} {show(measured)} {verb} the limit {show(allowed)}")


def _fmt(v: Any) -> str:
    """Numbers as every view writes them: '17,000', never '17000' or '1.7e+04'."""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int) or (isinstance(v, float) and abs(v) >= 1000):
        return f"{v:,.0f}"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def orphan_rate_per_hour(report: dict) -> float | None:
    """Orphans created per hour over the last 24 hours the store or the logs show."""
    rates = [c.get("orphan_rate_per_hour") for c in report.get("clients") or []]
    rates = [r for r in rates if r is not None]
    if rates:
        return round(sum(rates), 3)
    rate = report.get("empty_rate")
    if rate:
        # Redis: over the window the store still holds (a short lifetime forgets the rest)
        return rate.get("recent_per_hour", rate.get("last_24h_per_hour",
                                                    rate.get("per_hour_mean")))
    return None


def evaluate(report: dict, rules: dict[str, Any]) -> list[RuleResult]:
    out: list[RuleResult] = []
    n = report.get("sessions", 0)
    groups = report.get("groups") or []
    for rule, allowed in rules.items():
        if rule == "max_sessions":
            out.append(_limit(rule, n, allowed, "sessions"))
        elif rule == "max_allocated_bytes":
            out.append(_limit(rule, report.get("allocated_bytes"), allowed, "allocated bytes",
                              format_bytes))
        elif rule == "max_bytes":
            out.append(_limit(rule, report.get("bytes"), allowed, "payload bytes", format_bytes))
        elif rule == "max_expired_fraction":
            out.append(_limit(rule, report.get("expired_fraction"), allowed, "expired fraction"))
        elif rule == "max_empty_fraction":
            frac = round(report.get("empty", 0) / n, 6) if n else 0.0
            out.append(_limit(rule, frac, allowed, "empty fraction"))
        elif rule == "max_orphan_rate_per_hour":
            out.append(_limit(rule, orphan_rate_per_hour(report), allowed, "orphans per hour"))
        elif rule == "max_orphans_per_route_per_hour":
            out.append(_route_rule(report, allowed))
        elif rule == "max_gc_stall_seconds":
            gc = report.get("gc_estimate")
            # The scan report's figure (gcstall.gc_figure), never a figure of its own.
            what = "estimated beego GC stall (s" + (
                ")" if not gc or gc.get("measured") else ", static fallback: not measured)")
            q = (gc or {}).get("quiet") or {}
            if q.get("state") not in (None, "quiet", "waited") and gc and gc["expired"]:
                # Measured on a busy machine: the limit is checked against the point figure,
                # and the message carries the range the probe could not narrow.
                lo, hi = gc["range_s"]
                what += f" [probe {q['state']}: range {lo:.4g}-{hi:.4g} s]"
            out.append(_limit(rule, gc["seconds"] if gc else None, allowed, what))
        elif rule == "max_no_ttl_keys":
            vals = [g.get("no_ttl") for g in groups if g.get("no_ttl") is not None]
            extra = report.get("companion_no_ttl")
            measured = (sum(vals) + (extra or 0)) if vals or extra is not None else None
            out.append(_limit(rule, measured, allowed, "session keys without TTL"))
        elif rule == "allowed_namespaces":
            out.append(_namespaces_rule(report, allowed))
        elif rule == "max_anomalies":
            an = report.get("anomalies") or {}
            store = report.get("target", {}).get("kind", "this")
            for kind, limit in allowed.items():
                name = f"max_anomalies.{kind}"
                # None: the backend says the kind cannot occur in it (core.contract.anomalies).
                if an.get(kind) is None:
                    out.append(RuleResult(name, "skipped", None, limit,
                                          f"{kind} anomalies: not applicable to a {store} "
                                          "store"))
                    continue
                out.append(_limit(name, an[kind], limit, f"{kind} anomalies"))
        elif rule == "clients":
            out.extend(_client_rules(report, allowed))
    return out


def _route_rule(report: dict, allowed: float) -> RuleResult:
    """The worst route's orphans per hour (over the hours it minted, at least one)."""
    rule = "max_orphans_per_route_per_hour"
    routes = report.get("routes")
    if not routes:
        why = ("no route was issued a session in the access logs" if routes == [] else
               "per-route rates need access logs (--access-log)")
        return RuleResult(rule, "skipped", None, allowed, why)
    worst = max(routes, key=lambda r: r.get("orphan_rate_per_hour") or 0)
    rate = worst.get("orphan_rate_per_hour") or 0
    bad = [r for r in routes if (r.get("orphan_rate_per_hour") or 0) > allowed]
    if bad:
        names = ", ".join(f"{r['route']} ({_fmt(r['orphan_rate_per_hour'])}/h)"
                          for r in bad[:5])
        return RuleResult(rule, "fail", rate, allowed,
                          f"{len(bad)} route(s) mint more than {_fmt(allowed)} orphan sessions "
                          f"an hour: {names}")
    return RuleResult(rule, "pass", rate, allowed,
                      f"every route within {_fmt(allowed)} orphan sessions an hour (worst "
                      f"{worst['route']}: {_fmt(rate)})")


def _namespaces_rule(report: dict, allowed: list[str]) -> RuleResult:
    rule = "allowed_namespaces"
    if report.get("target", {}).get("kind") == "files":
        return RuleResult(rule, "skipped", None, allowed, "namespaces: a file store has none")
    found = sorted({g.get("namespace", "") for g in report.get("groups") or []})
    stray = [ns for ns in found if ns not in allowed]
    if stray:
        return RuleResult(rule, "fail", found, allowed,
                          f"namespaces {', '.join(repr(s) for s in stray)} are not allowed "
                          f"(allowed: {', '.join(repr(a) for a in allowed)})")
    return RuleResult(rule, "pass", found, allowed, "every namespace is allowed")


def _client_rules(report: dict, limits: dict[str, Any]) -> list[RuleResult]:
    clients = report.get("clients") or []
    out: list[RuleResult] = []
    for rule, allowed in limits.items():
        name = f"clients.{rule}"
        key = {"max_orphans": "orphans", "max_orphan_rate_per_hour": "orphan_rate_per_hour",
               "max_sessions": "sessions"}[rule]
        if not clients:
            out.append(RuleResult(name, "skipped", None, allowed,
                                  "per-client limits need attribution (e.g. --access-log)"))
            continue
        worst = max(clients, key=lambda c: c.get(key) or 0)
        bad = [c for c in clients if (c.get(key) or 0) > allowed]
        if bad:
            names = ", ".join(f"{c['client']} ({_fmt(c.get(key))})" for c in bad[:5])
            out.append(RuleResult(name, "fail", worst.get(key), allowed,
                                  f"{len(bad)} client(s) over {_fmt(allowed)} {key}: {names}"))
        else:
            out.append(RuleResult(name, "pass", worst.get(key), allowed,
                                  f"every client within {_fmt(allowed)} {key}"))
    return out
