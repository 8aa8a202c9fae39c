"""Where the minting leads: growth per day at the rate the logs show, and when the store is full.

The rate is the orphan sessions of the access logs (issued, never presented back) over the
time the logs span (at least an hour, as every rate in the report). Each orphan costs the
store what its sessions cost on average (`allocated_bytes / sessions`: blocks on disk, Redis
`MEMORY USAGE`) and, in a file store, one inode.

Two limits, read from what the scan already measured (the analysis layer does no I/O):

- file stores: the inodes an unprivileged writer can still use (statvfs `f_favail`, in
  `filesystem.inodes_available`, of `f_files`);
- Redis: `maxmemory` less `used_memory` (INFO memory). Without `maxmemory` Redis grows until
  the machine runs out of memory, and the projection says so instead of inventing a limit.

Expiry bounds the growth: orphans live one lifetime, so a working expiry keeps
`rate × lifetime` of them (`steady_state_orphans`). A store whose expiry does not run (beego's
GC stalled, PHP's cleaner missing the save path, keys without TTL) keeps growing at the rate,
so both figures are given: days until full at the rate, and whether the steady state fits.
"""

from __future__ import annotations

from sessdiag.core.units import format_bytes, format_count, format_duration

DAY = 86400.0
MIN_SPAN_S = 3600.0


def projection(report: dict, orphans: int, span_s: float) -> dict | None:
    """The `projection` section, or None when the logs show no orphan."""
    if orphans <= 0:
        return None
    per_day = orphans / max(span_s, MIN_SPAN_S) * DAY
    lifetime = report.get("max_lifetime_s") or 0
    out: dict = {
        "orphans": orphans,
        "measured_over_s": round(span_s, 3),
        "orphans_per_day": round(per_day, 1),
        "lifetime_s": lifetime or None,
        "steady_state_orphans": round(per_day * lifetime / DAY) if lifetime else None,
        "bytes_per_session": None, "bytes_per_day": None, "limit": None,
    }
    sessions = report.get("sessions") or 0
    if sessions and report.get("allocated_bytes") is not None:
        per_session = report["allocated_bytes"] / sessions
        out["bytes_per_session"] = round(per_session)
        out["bytes_per_day"] = round(per_session * per_day)
    kind = (report.get("target") or {}).get("kind")
    if kind == "files":
        out["limit"] = _inodes(report.get("filesystem") or {}, per_day, out)
    elif kind == "redis":
        out["limit"] = _maxmemory(report.get("server") or {}, out)
    return out


def _days(free: float, per_day: float | None) -> float | None:
    return round(free / per_day, 1) if per_day else None


def _inodes(fs: dict, per_day: float, out: dict) -> dict | None:
    total = fs.get("inodes_total")
    if not total:  # a filesystem without inode accounting (btrfs reports 0)
        return {"kind": "inodes", "total": total or 0, "available": None,
                "days_until_full": None, "steady_state_fits": None,
                "note": "the filesystem reports no inode count"}
    free = fs.get("inodes_available")
    if free is None:
        free = total - (fs.get("inodes_used") or 0)
    steady = out["steady_state_orphans"]
    return {"kind": "inodes", "total": total, "available": free,
            "days_until_full": _days(free, per_day),
            "steady_state_fits": None if steady is None else steady < free}


def _maxmemory(srv: dict, out: dict) -> dict:
    maxmem, used = srv.get("maxmemory"), srv.get("used_memory")
    if not maxmem:
        return {"kind": "maxmemory", "maxmemory": 0, "used_memory": used,
                "days_until_full": None, "steady_state_fits": None,
                "note": "no maxmemory: Redis grows until the machine runs out of memory"}
    free = max(maxmem - (used or 0), 0)
    steady = out["steady_state_orphans"]
    per = out["bytes_per_session"]
    return {"kind": "maxmemory", "maxmemory": maxmem, "used_memory": used, "available": free,
            "policy": srv.get("maxmemory_policy"),
            "days_until_full": _days(free, out["bytes_per_day"]),
            "steady_state_fits": None if steady is None or per is None else
            steady * per < free}


def finding(p: dict) -> str:
    """One line: the growth a day, and when the limit is reached."""
    line = f"at the logs' rate the store gains {format_count(round(p['orphans_per_day']))} " \
           "orphan sessions a day"
    if p["bytes_per_day"] is not None:
        line += f" ({format_bytes(p['bytes_per_day'])})"
    lim = p["limit"]
    if lim is None:
        return line
    if lim.get("note"):
        return f"{line}; {lim['note']}"
    days = lim["days_until_full"]
    what = ("its filesystem's free inodes" if lim["kind"] == "inodes" else
            "the room left below maxmemory")
    if days is not None:
        line += f"; {what} last {_days_text(days)} if nothing expires"
    if lim["steady_state_fits"] is not None and p["lifetime_s"]:
        life = format_duration(p["lifetime_s"])
        steady = format_count(p["steady_state_orphans"])
        line += (f"; expiring after the {life} lifetime, they level off at {steady}, which "
                 + ("fits" if lim["steady_state_fits"] else "does not fit"))
    return line


def _days_text(days: float) -> str:
    if days < 1:
        return f"{days * 24:.1f} hours"
    return f"{days:,.0f} days" if days >= 10 else f"{days:.1f} days"
