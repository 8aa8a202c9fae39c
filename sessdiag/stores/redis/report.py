"""The scan report for a Redis target: the common fields from core.contract, then per-group
detail, companions, keyspace, server and scan sections, and findings."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from sessdiag.core import contract
from sessdiag.core.timefmt import iso
from sessdiag.core.units import format_bytes, format_count, format_duration, format_percent
from sessdiag.stores.base import ScanSettings
from sessdiag.stores.redis.census import TTL_EDGES, GroupAgg, NodeResult
from sessdiag.stores.redis.profiles import DEFAULT_LIFETIME, FRAMEWORK
from sessdiag.stores.redis.target import RedisTarget
from sessdiag.stores.redis.topology import Topology

SPRING = ("spring-session", "spring-session-simple")


def merge_groups(results: list[NodeResult]) -> dict[tuple[str, str], GroupAgg]:
    out: dict[tuple[str, str], GroupAgg] = {}
    for r in results:
        for key, g in r.groups.items():
            if key in out:
                out[key].merge(g)
            else:
                out[key] = g
    return out


def _indexed(g: GroupAgg) -> bool:
    return bool(g.shadow or g.exp_sets or g.index_sets or g.zset_keys or g.other_companions)


def _lifetime(g: GroupAgg, opts: ScanSettings) -> tuple[int | None, str]:
    """The lifetime ages are inferred against, and where it comes from."""
    if g.profile in SPRING:
        if g.lifetimes:
            mi = max(g.lifetimes.items(), key=lambda kv: kv[1])[0]
            return int(mi), "maxInactiveInterval (most common)"
        default = DEFAULT_LIFETIME[g.profile]  # Spring's maxInactiveInterval default
        return (opts.max_lifetime if opts.max_lifetime_given else default), \
            f"default {default} s"
    if opts.max_lifetime_given:
        return int(opts.max_lifetime), "--max-lifetime"
    if g.profile == "connect-redis" and g.lifetimes:
        oma = max(g.lifetimes.items(), key=lambda kv: kv[1])[0]
        return int(oma), "cookie.originalMaxAge (most common)"
    default = DEFAULT_LIFETIME.get(g.profile)
    if g.max_ttl is not None and (default is None or g.max_ttl > default):
        return g.max_ttl, "largest TTL seen (the configured lifetime is at least this)"
    if default is None:
        return None, "unknown (no TTL seen; pass --max-lifetime)"
    return default, "framework default"


def finish(g: GroupAgg, opts: ScanSettings, now: float, edges: tuple[int, ...],
           notes: list[str]) -> dict:
    """Resolve TTL-inferred ages with the lifetime, then the group's report entry."""
    life, life_src = _lifetime(g, opts)
    ttl_life = life
    if g.profile == "spring-session" and life is not None:
        ttl_life = life + 300  # the indexed repository keeps the hash 5 minutes past expiry
    unknown = 0
    for s, c in g.ttl_counts.items():
        age = max(0, (ttl_life if ttl_life is not None else s) - s)
        g.age_hist[bisect_left(edges, age)] += c
        g.age_sources["ttl"] = g.age_sources.get("ttl", 0) + c
        g.add_access(now - age)
    for s, c in g.ttl_empty_counts.items():
        born = now - max(0, (ttl_life if ttl_life is not None else s) - s)
        h = int(born // 3600)
        g.orphan_hours[h] = g.orphan_hours.get(h, 0) + c
    for idle, c in g.idle_counts.items():
        if idle < 0:
            unknown += c
            g.age_hist[-1] += c
            continue
        g.age_hist[bisect_left(edges, idle)] += c
        g.age_sources["idle"] = g.age_sources.get("idle", 0) + c
        g.add_access(now - idle)
        if life is not None and idle > life:
            g.expired += c
    for idle, c in g.idle_empty_counts.items():
        if idle >= 0:
            h = int((now - idle) // 3600)
            g.orphan_hours[h] = g.orphan_hours.get(h, 0) + c
    if unknown:
        notes.append(f"{unknown} {g.profile} sessions in '{g.namespace}' have no TTL and no "
                     "idle time: counted in the oldest age bucket")
    if g.bad_timestamps:
        notes.append(f"{g.bad_timestamps} {g.profile} sessions in '{g.namespace}' record "
                     "creation or last-access times before 2000 or more than a day ahead: "
                     "counted as bad_timestamps, aged by their TTL")
    if g.ttl_quantized:
        notes.append(f"{g.profile} '{g.namespace}': TTLs kept at minute resolution (too many "
                     "distinct values)")
    hist = contract.histogram(edges, g.age_hist)
    ttl_hist = contract.histogram(TTL_EDGES, g.ttl_hist)
    allocated, mem_method = _allocated(g.mem_sum, g.mem_n, g.sessions)
    sources = dict(sorted(g.age_sources.items(), key=lambda kv: -kv[1]))
    entry: dict[str, Any] = {
        "profile": g.profile,
        "framework": FRAMEWORK.get(g.profile, g.profile),
        "namespace": g.namespace,
        "sessions": g.sessions,
        "bytes": g.bytes,
        "allocated_bytes": allocated,
        "allocated_sample": g.mem_n,
        "allocated_method": mem_method,
        "expired": g.expired,
        "empty": g.empty,
        "orphans": g.orphans,
        "orphans_method": ("creationTime == lastAccessedTime" if g.profile in SPRING
                           else "empty or uninitialised session"),
        "no_ttl": g.no_ttl,
        "undecodable": g.undecodable,
        "decoded": g.decoded,
        "oversized": g.oversized,
        "future_last_access": g.future,
        "bad_timestamps": g.bad_timestamps,
        "lifetime_s": life,
        "lifetime_source": life_src,
        "age_source": next(iter(sources), None),
        "age_sources": sources,
        "age_histogram": hist,
        "ttl_histogram": ttl_hist,
        "formats": dict(sorted(g.formats.items(), key=lambda kv: -kv[1])),
        "oldest_access": iso(g.oldest_access),
        "newest_access": iso(g.newest_access),
        "undecodable_reasons": dict(sorted(g.reasons.items(), key=lambda kv: -kv[1])),
        "principals": {"count": len(g.principals), "capped": g.principals_capped},
        "examples": g.examples,
    }
    if g.lifetimes:
        entry["recorded_lifetimes"] = {str(k): v for k, v in sorted(
            g.lifetimes.items(), key=lambda kv: -kv[1])[:10]}
    if g.created_n:
        entry["created_histogram"] = contract.histogram(edges, g.created_hist)
        entry["oldest_created"] = iso(g.oldest_created)
        entry["newest_created"] = iso(g.newest_created)
        entry["creation_timeline"] = _timeline(g.created_hours)
    entry["orphan_timeline"] = _timeline(g.orphan_hours)
    entry["orphan_rate"] = contract.hourly_rate(g.orphan_hours)
    if g.profile in SPRING:
        entry["companions"] = _companions(g)
    return entry


def _allocated(total: int, n: int, sessions: int) -> tuple[int | None, str]:
    if n == 0:
        return (0 if sessions == 0 else None), ("no session" if sessions == 0 else
                                                "not measured (MEMORY USAGE unavailable)")
    if n >= sessions:
        return total, f"MEMORY USAGE of all {n} sessions"
    return round(total / n * sessions), (f"MEMORY USAGE of a sample of {n} sessions, "
                                         f"extrapolated to {sessions}")


def _timeline(hours: dict[int, int]) -> list[dict]:
    return [{"hour": iso(h * 3600), "count": n} for h, n in sorted(hours.items())]


def with_retained_rate(rate: dict | None, groups: list[tuple[dict[int, int], int | None]],
                       now: float) -> dict | None:
    """Add `recent_per_hour`: orphans per hour over the window each group still holds.

    Redis forgets a session after its lifetime: with a 30-minute lifetime the last 24 hours
    hold only the last half hour's orphans, and dividing them by 24 made a 1 800/h machine
    client look like 38/h. Each group's recent orphans (its orphans per epoch hour, with its
    lifetime) are divided by min(24 h, its lifetime). A merge of reports calls it too.
    """
    if rate is None:
        return None
    per_hour = 0.0
    windows = []
    for hours, lifetime in groups:
        window = min(86400, lifetime or 86400)
        # hour buckets that overlap the window (sessions older than it are mostly gone)
        recent = sum(n for h, n in hours.items() if (h + 1) * 3600 > now - window)
        per_hour += recent * 3600 / window
        windows.append(window)
    rate["recent_per_hour"] = round(per_hour, 3)
    rate["recent_window_s"] = min(windows) if windows else 86400
    return rate


def _companions(g: GroupAgg) -> dict:
    dead_est = None
    if g.index_sampled:
        dead_est = round(g.index_members * g.index_dead_sampled / g.index_sampled)
    shadow_alloc, _ = _allocated(g.shadow_mem_sum, g.shadow_mem_n, g.shadow)
    exp_alloc, _ = _allocated(g.exp_mem_sum, g.exp_mem_n, g.exp_sets)
    return {
        "repository": "indexed" if _indexed(g) else "non-indexed",
        "shadow_keys": g.shadow,
        "shadow_keys_no_ttl": g.shadow_no_ttl,
        "shadow_keys_without_session": g.shadow_without_session,
        "shadow_keys_checked": g.shadow_checked,
        "shadow_allocated_bytes": shadow_alloc,
        "expirations_sets": g.exp_sets,
        "expirations_members": g.exp_members,
        "expirations_no_ttl": g.exp_no_ttl,
        "expirations_past": g.exp_past,
        "expirations_oldest_minute": iso(g.exp_oldest_minute / 1000)
        if g.exp_oldest_minute is not None else None,
        "expirations_allocated_bytes": exp_alloc,
        "index_sets": g.index_sets,
        "index_members": g.index_members,
        "index_members_checked": g.index_sampled,
        "index_members_dead_checked": g.index_dead_sampled,
        "index_members_dead": (g.index_dead_sampled if g.index_sampled == g.index_members
                               else dead_est),
        "index_dead_method": ("every member checked" if g.index_sampled == g.index_members
                              else f"{g.index_sampled} members checked, extrapolated"),
        "sorted_set_expirations": g.zset_keys,
        "sorted_set_members": g.zset_members,
        "other_companion_keys": g.other_companions,
    }


def namespace_drift(groups: list[GroupAgg]) -> list[dict]:
    by_fw: dict[str, list[GroupAgg]] = {}
    for g in groups:
        if g.profile == "generic" or not (g.sessions or _indexed(g)):
            continue
        by_fw.setdefault(FRAMEWORK.get(g.profile, g.profile), []).append(g)
    out = []
    for fw, gs in sorted(by_fw.items()):
        if len(gs) < 2:
            continue
        gs.sort(key=lambda g: -g.sessions)
        shared: set[str] = set()
        for i, a in enumerate(gs):
            for b in gs[i + 1:]:
                shared |= a.principals & b.principals
        out.append({
            "framework": fw,
            "namespaces": [{"namespace": g.namespace, "profile": g.profile,
                            "sessions": g.sessions, "principals": len(g.principals)}
                           for g in gs],
            "shared_principals": len(shared),
            "shared_principal_examples": sorted(shared)[:5],
        })
    return out


def build_report(target: RedisTarget, topo: Topology, info: dict, results: list[NodeResult],
                 params: Any, opts: ScanSettings, notes: list[str], duration: float) -> dict:
    now = params.now
    edges = params.age_edges
    merged = merge_groups(results)
    warnings = list(notes)
    for r in results:
        warnings.extend(n for n in r.notes if n not in warnings)
    if any(r.memory_denied for r in results):
        warnings.append("MEMORY USAGE refused: allocated_bytes not measured (null)")
    # Groups named at planning time whose keys all vanished or were not sessions hold nothing.
    groups = [g for g in merged.values() if g.sessions or _indexed(g)]
    for g in groups:
        if g.profile == "spring-session":
            if opts.profile in SPRING:
                g.profile = opts.profile
            elif not _indexed(g):
                g.profile = "spring-session-simple"
    entries = [finish(g, opts, now, edges, warnings) for g in groups]
    order = sorted(range(len(entries)), key=lambda i: (-entries[i]["sessions"],
                                                       entries[i]["profile"],
                                                       entries[i]["namespace"]))
    entries = [entries[i] for i in order]
    groups = [groups[i] for i in order]
    sessions = sum(e["sessions"] for e in entries)
    hist = [0] * (len(edges) + 1)
    for e in entries:
        for i, b in enumerate(e["age_histogram"]):
            hist[i] += b["count"]
    allocs = [e["allocated_bytes"] for e in entries]
    allocated = None if any(a is None for a in allocs) else sum(allocs)
    expired = sum(e["expired"] for e in entries)
    empty = sum(e["empty"] for e in entries)
    undecodable = sum(e["undecodable"] for e in entries)
    decoded = sum(e["decoded"] for e in entries)
    commands = sum(r.commands for r in results)
    main = entries[0] if entries else None
    cluster = topo.cluster
    role = info.get("role")
    mode = "cluster" if cluster else ("replica" if role in ("slave", "replica") else "standalone")
    policy = info.get("maxmemory_policy")
    used = _int(info.get("used_memory"))
    maxmem = _int(info.get("maxmemory"))
    if cluster:  # every primary's, when every primary told (INFO is that node's alone)
        used = _node_sum(results, "used_memory")
        # The cluster holds what its primaries hold: a limit only if every one has one.
        limits = [_int(r.server.get("maxmemory")) for r in results]
        maxmem = None if None in limits else (0 if 0 in limits else sum(limits))  # type: ignore[arg-type]
    notify = [r.notify_keyspace_events for r in results if r.notify_keyspace_events is not None]
    lifetime_top = main["lifetime_s"] if main and main["lifetime_s"] else opts.max_lifetime
    report = contract.scan_report(
        target={"kind": "redis", "location": target.location,
                "profile": main["profile"] if main else (opts.profile or "generic"),
                "mode": mode, "db": target.db,
                "nodes": [f"{n.host}:{n.port}" for n in topo.nodes] if cluster else None},
        now=now,
        max_lifetime_s=opts.max_lifetime if opts.max_lifetime_given else lifetime_top,
        sessions=sessions, bytes_=sum(e["bytes"] for e in entries), allocated_bytes=allocated,
        expired=expired, empty=empty, age_edges=edges, age_counts=hist,
        # A key has no symlink, shard or permission bits: those kinds are not applicable.
        anomalies=contract.anomalies(
            {"undecodable": undecodable},
            bad_timestamps=sum(e["bad_timestamps"] for e in entries)),
        gc_estimate=None, groups=entries, warnings=warnings)
    report.update({
        "orphans": sum(e["orphans"] for e in entries),
        "no_ttl": sum(e["no_ttl"] for e in entries),
        "namespace_drift": namespace_drift(groups),
        # Never-reused sessions created per hour, all groups (what `check`'s
        # max_orphan_rate_per_hour reads), and companion keys that should expire but never will.
        "empty_rate": with_retained_rate(
            contract.hourly_rate(_sum_dicts(g.orphan_hours for g in groups), now),
            [(g.orphan_hours, e.get("lifetime_s")) for g, e in zip(groups, entries,
                                                                    strict=True)], now),
        "companion_no_ttl": sum(g.exp_no_ttl for g in groups),
        "payload_check": {
            "method": "deep" if params.deep else "sample",
            "decoded": decoded,
            "undecodable": undecodable,
            "note": ("every value decoded" if params.deep else
                     f"timestamps, cookies and empty payloads are read from every session; "
                     f"full decodes on the first {params.sample} sessions of each group and "
                     "node, so 'undecodable' counts those (use --deep for all)"),
        },
        "keyspace": {
            "keys_total": sum(r.dbsize or 0 for r in results),
            "keys_seen": sum(r.keys_seen for r in results),
            "other_keys": sum(r.other_keys for r in results),
            "other_by_type": _sum_dicts(r.other_by_type for r in results),
            "other_prefixes": dict(sorted(_sum_dicts(r.other_prefixes for r in results).items(),
                                          key=lambda kv: -kv[1])[:10]),
        },
        "server": {
            "version": info.get("redis_version"),
            "role": role,
            "used_memory": used,
            "maxmemory": maxmem,
            "maxmemory_policy": policy,
            "notify_keyspace_events": notify[0] if notify else None,
            "notify_keyspace_events_by_node": notify if cluster else None,
            "primaries": len(topo.nodes) if cluster else None,
        },
        "scan": {
            "duration_s": round(duration, 3),
            "commands": commands,
            "rate_limit": opts.rate,
            "rate_observed": round(commands / duration, 1) if duration > 0 else None,
            "rounds": sum(r.rounds for r in results),
            "nodes": len(results),
            "scan_count_final": max((r.scan_count_final for r in results), default=0),
            "memory_sample": opts.sample if not params.deep else "all",
        },
    })
    report["findings"] = findings(report)
    return report


def _node_sum(results: list[NodeResult], key: str) -> int | None:
    per_node = [_int(r.server.get(key)) for r in results]
    return None if None in per_node else sum(per_node)  # type: ignore[arg-type]


def _int(s: str | None) -> int | None:
    return int(s) if s and s.isdigit() else None


def _sum_dicts(ds: Any) -> dict:
    out: dict = {}
    for d in ds:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


def _ns(ns: str) -> str:
    return f"'{ns}'" if ns else "(no prefix)"


def findings(r: dict) -> list[str]:
    """Plain-language lines an operator can act on."""
    out: list[str] = []
    n = r["sessions"]
    ks = r["keyspace"]
    if n == 0:
        out.append(f"no session keys found among {ks['keys_seen']:,} keys; name the keys with "
                   "--pattern (and --profile) if the framework uses an unusual prefix")
    for g in r["groups"]:
        where = f"{g['framework']} {_ns(g['namespace'])}"
        s = g["sessions"]
        if s and g["orphans"]:
            share = g["orphans"] / s
            what = ("never reused (creationTime == lastAccessedTime)" if g["profile"] in SPRING
                    else "empty or uninitialised")
            line = f"{where}: {format_count(g['orphans'])} of {format_count(s)} sessions " \
                   f"({format_percent(share, 0)}) are {what}"
            rate = g.get("orphan_rate")
            if rate and rate["hours"] > 1 and rate["per_hour_mean"]:
                line += f", {contract.pace_since(rate)}"
                if rate.get("per_hour_floor"):
                    line += (f" and never fewer than {rate['per_hour_floor']}/hour — a steady "
                             "client (health check, machine caller) that never sends the cookie")
            out.append(line)
        if g["expired"]:
            out.append(f"{where}: {format_count(g['expired'])} sessions are past their lifetime "
                       f"({format_duration(g['lifetime_s'])}) and still in Redis")
        if g["no_ttl"]:
            out.append(f"{where}: {format_count(g['no_ttl'])} session keys have no TTL and will "
                       "never expire by themselves")
        if g["undecodable"]:
            reasons = g["undecodable_reasons"]
            hostile = [k for k in reasons if "would call" in k or "gadget" in k or "proxy" in k]
            if hostile:
                out.append(f"{where}: {sum(reasons[k] for k in hostile)} values carry payloads "
                           f"that would run code when deserialized ({hostile[0]}): a "
                           "deserialization attack was tried; nothing was executed")
            out.append(f"{where}: {g['undecodable']} of {g['decoded'] + g['undecodable']} "
                       "decoded values are undecodable")
        alloc = g["allocated_bytes"]
        if s and alloc:
            out.append(f"{where}: {format_count(s)} sessions use ≈{format_bytes(alloc)} of Redis "
                       f"memory ({g['allocated_method']})")
        c = g.get("companions")
        if c:
            out.extend(_companion_findings(where, g, c, r))
    for d in r["namespace_drift"]:
        parts = ", ".join(f"{_ns(x['namespace'])} ({format_count(x['sessions'])} sessions)"
                          for x in d["namespaces"])
        line = f"namespace drift: {d['framework']} writes under {len(d['namespaces'])} " \
               f"namespaces: {parts}"
        if d["shared_principals"]:
            line += (f"; {d['shared_principals']} principals have sessions in more than one — "
                     "services that disagree on the namespace do not share sessions, so each "
                     "crossing creates a new one")
        out.append(line)
    srv = r["server"]
    if srv["maxmemory"] and srv["used_memory"]:
        share = srv["used_memory"] / srv["maxmemory"]
        if share >= 0.8:
            out.append(f"Redis uses {format_percent(share, 0)} of maxmemory with policy "
                       f"{srv['maxmemory_policy']}: "
                       + ("writes will fail when it is full" if srv["maxmemory_policy"] ==
                          "noeviction" else "live sessions will be evicted"))
    if srv["used_memory"] and r["allocated_bytes"]:
        out.append(f"sessions account for ≈"
                   f"{format_percent(r['allocated_bytes'] / srv['used_memory'], 0)} of "
                   f"the memory Redis uses ({format_bytes(srv['used_memory'])})")
    out.extend(r["warnings"])
    return out


def _companion_findings(where: str, g: dict, c: dict, r: dict) -> list[str]:
    out = []
    if c["shadow_keys_without_session"]:
        out.append(f"{where}: {c['shadow_keys_without_session']:,} shadow 'expires' keys have no "
                   "session hash: left behind by a delete that missed them")
    if c["expirations_no_ttl"]:
        out.append(f"{where}: {c['expirations_no_ttl']} expirations:<minute> sets have no TTL "
                   "(spring-session #3477, 3.4+: EXPIRE before SADD); they stay until the "
                   "minute cron deletes them, forever if it never runs")
    if c["expirations_past"]:
        out.append(f"{where}: {c['expirations_past']} expirations sets are for minutes already "
                   f"past (oldest {c['expirations_oldest_minute']}): the cleanup cron is not "
                   "running for this namespace")
    dead = c["index_members_dead"]
    if dead:
        out.append(f"{where}: ≈{dead:,} of {c['index_members']:,} principal-index entries point "
                   f"at sessions that no longer exist ({c['index_dead_method']}); index sets "
                   "have no TTL and are cleaned only on expiry events")
    if c["repository"] == "indexed" and not g["sessions"]:
        out.append(f"{where}: companion keys of the indexed repository but no session: "
                   "leftovers of an old version or namespace (Spring Session 3 defaults to the "
                   "non-indexed repository)")
    nke = r["server"]["notify_keyspace_events"]
    if c["repository"] == "indexed" and g["sessions"] and nke is not None:
        flags = set(nke)
        if "E" not in flags or not ({"g", "x"} <= flags or "A" in flags):
            out.append(f"{where}: the indexed repository needs notify-keyspace-events 'Egx' but "
                       f"the server has '{nke}': expiry events never reach Spring, so index "
                       "sets and SessionDestroyedEvent listeners miss every expiry")
    return out
