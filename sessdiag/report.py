"""The scan report of a file store: the common fields from core.contract, then the file
store's own sections (payload check, shards, filesystem, empty-session timeline) and findings.
"""

from __future__ import annotations

import math
import socket

from sessdiag.analysis.gcstall import not_quiet_finding
from sessdiag.census import Census
from sessdiag.core import contract
from sessdiag.core.timefmt import iso
from sessdiag.core.units import format_bytes, format_count, format_duration, format_percent
from sessdiag.stores.files.scan import FileScan


def file_scan_report(scan: FileScan, *, gc_model=None) -> dict:  # type: ignore[no-untyped-def]
    """gc_model: the GC stall's cost model (gcstall.GcModel) when the store was probed
    (scan/check --gc-probe); else the static fallback."""
    c = scan.census
    p = scan.params
    allocated = c.blocks * 512
    deep = scan.sample_method == "deep"
    gc = None
    if scan.layout.profile == "beego-file":
        from sessdiag.analysis.gcstall import static_model
        from sessdiag.stores.files.gc_estimate import tree_figure

        # A scan is read-only: no probe unless asked for (it writes scratch files), the
        # labelled static fallback, the same figure gc-estimate --no-probe gives.
        gc = tree_figure(scan.location, c, now=p.now, max_lifetime=p.max_lifetime,
                         model=gc_model or static_model())
    warnings = list(scan.warnings) + ([
        f"beego's GC walks nothing through a symlinked save path (no trailing slash): "
        f"sessions under {scan.location} never expire, and once the link itself is older "
        "than the max lifetime beego's GC deletes the link"]
        if scan.root_is_link and scan.layout.profile == "beego-file" else [])
    target = {"kind": "files", "location": scan.location, "profile": scan.layout.profile,
              "layout": scan.layout.describe(), "host": socket.gethostname()}
    if p.partition is not None:
        target["partition"] = p.partition.to_dict()
    report = contract.scan_report(
        target=target,
        now=p.now, max_lifetime_s=p.max_lifetime, sessions=c.sessions, bytes_=c.bytes,
        allocated_bytes=allocated, expired=c.expired, empty=c.empty, age_edges=p.age_edges,
        age_counts=c.hist,
        anomalies=contract.anomalies({
            "symlinks": c.symlinks,
            "foreign": c.foreign,
            "misplaced": c.misplaced,
            "zero_byte": c.zero_byte,
            "undecodable": c.undecodable,
            "unreadable": c.unreadable,
        }),
        gc_estimate=gc,
        groups=[{
            "profile": scan.layout.profile,
            "namespace": "",
            "sessions": c.sessions,
            "bytes": c.bytes,
            "allocated_bytes": allocated,
            "expired": c.expired,
            "empty": c.empty,
            # A file store records no creation time; an empty session was never given
            # anything to keep, which is what a never-reused (orphan) session looks like.
            "orphans": c.empty,
            "no_ttl": None,
        }],
        warnings=warnings)
    report.update({
        "payload_check": {
            "method": scan.sample_method,
            "classification": "decoded" if deep else "exact-size",
            "empty_sizes": sorted(scan.layout.empty_sizes),
            "decoded": c.decoded,
            "undecodable": c.undecodable,
            "empty_decoded": c.decoded_empty,
            "oversized": c.oversized,
            "unreadable": c.payload_unreadable,
            "undecodable_reasons": dict(sorted(c.undecodable_reasons.items())),
            "note": ("every payload decoded" if deep else
                     f"sizes classify every session; {c.decoded} random payloads decoded, "
                     "so 'undecodable' counts the sample only (use --deep for all)"),
        },
        "oldest": _point(c.oldest, p.now),
        "newest": _point(c.newest, p.now),
        "dirs": c.dirs,
        "other_anomalies": {
            "other_filesystem": c.other_fs,
            # Details of `foreign` (counted there too), as prune reports them.
            "nfs_silly": c.nfs_silly,
            "stage_leftovers": c.stage_leftovers,
            "foreign_directories": c.foreign_dirs,
            "vanished_during_scan": c.vanished,
            "future_mtime": c.future,
            "old_non_sessions": c.old_non_sessions,
        },
        "anomaly_examples": c.examples,
        "shards": _shards(c),
        "empty_timeline": [{"hour": iso(h * 3600), "count": n}
                           for h, n in sorted(c.empty_hours.items())],
        "empty_rate": _empty_rate(c, p.now),
        "filesystem": _filesystem(scan, allocated),
        "scan": {"duration_s": round(scan.duration_s, 3), "jobs": scan.jobs,
                 "workers": scan.worker_model},
        "walk": scan.walk,
    })
    report["findings"] = findings(report)
    return report


def _point(ts: float | None, now: float) -> dict | None:
    if ts is None:
        return None
    return {"mtime": iso(ts), "age_s": round(now - ts, 3)}


def _shards(c: Census) -> dict:
    counts = c.shards.values()
    largest = smallest = None
    if c.shards:
        largest = min(c.shards.items(), key=lambda kv: (-kv[1], kv[0]))
        smallest = min(c.shards.items(), key=lambda kv: (kv[1], kv[0]))
    return shard_summary(len(c.shards), sum(counts), sum(n * n for n in counts),
                         largest, smallest)


def shard_summary(count: int, total: int, sum_squares: int, largest: tuple[str, int] | None,
                  smallest: tuple[str, int] | None) -> dict:
    """Shard statistics from integer sums (so that the shards of merged parts give the same
    figures): the largest shard and smallest shard (ties: the first path), mean, stdev."""
    if not count:
        return {"count": 0, "largest": None, "smallest": None, "mean": 0, "stdev": 0,
                "sessions": 0, "sum_squares": 0}
    assert largest is not None and smallest is not None
    variance = (count * sum_squares - total * total) / (count * count)
    return {
        "count": count,
        "largest": {"path": largest[0], "sessions": largest[1]},
        "smallest": {"path": smallest[0], "sessions": smallest[1]},
        "mean": round(total / count, 2),
        "stdev": round(math.sqrt(max(variance, 0.0)), 2),
        "sessions": total,
        "sum_squares": sum_squares,
    }


def _empty_rate(c: Census, now: float) -> dict | None:
    # The creation pace: empty sessions by the hour of their mtime (last_24h_per_hour: the
    # last 24 hourly buckets, as for every backend).
    return contract.hourly_rate(c.empty_hours, now)


def _filesystem(scan: FileScan, allocated: int) -> dict:
    fs = scan.fs
    c = scan.census
    entries = c.sessions + c.dirs + c.foreign + c.misplaced + c.symlinks
    d = fs.to_dict()
    d["store_inodes"] = entries
    d["store_inode_share_of_used"] = contract.frac(entries, fs.inodes_used)
    d["store_inode_share_of_total"] = contract.frac(entries, fs.inodes_total)
    d["store_byte_share_of_used"] = contract.frac(allocated, fs.bytes_used)
    return d


def findings(r: dict) -> list[str]:
    """Plain-language lines an operator can act on."""
    out: list[str] = []
    n = r["sessions"]
    life = format_duration(r["max_lifetime_s"])
    if n == 0:
        out.append("the store holds no sessions")
    if n and r["empty"]:
        share = r["empty"] / n
        line = f"{format_count(r['empty'])} empty sessions = {format_percent(share)} of the store"
        if r["empty_rate"] and r["empty_rate"]["per_hour_mean"]:
            line += (f"; {contract.pace_since(r['empty_rate'])} — "
                     "sessions nobody reused, typically a client that never sends the cookie")
        out.append(line)
    b, a = r["bytes"], r["allocated_bytes"]
    if n and a > 4 * max(b, 1):
        avg = b / n
        out.append(
            f"{avg:.0f}-byte average payloads occupy whole filesystem blocks: "
            f"{format_bytes(a)} allocated for {format_bytes(b)} of data"
        )
    if r["expired"]:
        out.append(
            f"{format_count(r['expired'])} sessions ("
            f"{format_percent(r['expired_fraction'])}) are past the "
            f"{life} lifetime and still on disk"
        )
    gc = r.get("gc_estimate")
    if gc and gc["seconds"] >= 1:
        out.append(
            f"beego's GC would hold the session lock ≈{format_duration(gc['seconds'])} "
            f"({gc['model']}{'' if gc.get('measured') else ', static fallback: not measured'}"
            "): every request waits that long after a restart"
        )
    if gc and (unsettled := not_quiet_finding(gc)):
        out.append(unsettled)
    old = r["other_anomalies"]["old_non_sessions"]
    if old and r["target"]["profile"] == "beego-file":
        ex = ", ".join((r.get("anomaly_examples", {}).get("old_non_sessions") or [])[:2])
        out.append(
            f"{old} non-session {'entry' if old == 1 else 'entries'} (foreign files, symlinks) "
            f"older than {life}{f' ({ex})' if ex else ''}: "
            "beego's GC deletes any old non-directory in the tree, not only sessions"
        )
    an = r["anomalies"]
    if an["symlinks"]:
        out.append(f"{an['symlinks']} symlinks in the store (never followed by sessdiag)")
    beego = r["target"]["profile"] == "beego-file"
    if an["unreadable"]:
        out.append(
            f"{an['unreadable']} entries could not be read (permission denied)"
            + (": beego's GC stops at the first lstat/readdir error, so it may never finish a "
               "pass" if beego else "")
        )
    if an["undecodable"]:
        scope = "of every payload" if r["payload_check"]["method"] == "deep" else "in the sample"
        out.append(f"{an['undecodable']} undecodable payloads {scope}"
                   + (": beego refreshes their mtime on every request that presents them, then "
                      "fails it with 503" if beego else ": the app cannot read these sessions"))
    if r["other_anomalies"]["future_mtime"]:
        out.append(f"{r['other_anomalies']['future_mtime']} sessions have a last access in the "
                   "future: the writer's clock (NFS server or app host) is ahead of this host")
    fs = r["filesystem"]
    if fs["inodes_used"] and fs["store_inode_share_of_used"] >= 0.2:
        out.append(f"the store holds "
                   f"{format_percent(fs['store_inode_share_of_used'], 0)} of the used inodes "
                   f"on {fs['mountpoint']}")
    sh = r["shards"]
    if sh["count"] >= 16 and sh["mean"] >= 50 and sh["largest"]["sessions"] > 3 * sh["mean"]:
        out.append(f"shard {sh['largest']['path']} holds {sh['largest']['sessions']} sessions, "
                   f"{sh['largest']['sessions'] / sh['mean']:.1f}x the mean: session ids are not "
                   "uniformly random")
    out.extend(r["warnings"])
    return out


def default_lifetime_warning(seconds: int, profile: str) -> str:
    """Say that `expired` rests on a guessed lifetime, and where the real one lives."""
    where = {"beego-file": "beego's sessiongcmaxlifetime (--app-conf conf/app.conf reads it)",
             "php-files": "PHP's session.gc_maxlifetime (php.ini; PHP's own default is 1440 s)"}
    return (f"no --max-lifetime given: 'expired' uses the default lifetime "
            f"{format_duration(seconds)} ({seconds} s); pass --max-lifetime DUR set to "
            f"{where.get(profile, 'the framework session lifetime')}")
