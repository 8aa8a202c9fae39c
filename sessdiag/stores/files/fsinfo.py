"""What filesystem a store lives on: type (to pick a worker model), inode and byte use."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass

# Mounts where each stat is a network or userspace round trip: threads overlap the waits,
# while on local disks the walk is CPU-bound and processes win
# (benchmarks/scan_files.py, benchmarks/prune_files.py).
LATENCY_BOUND = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "lustre",
                 "9p", "virtiofs", "afs", "gpfs", "beegfs")


@dataclass
class FsInfo:
    mountpoint: str
    fstype: str
    device: str
    latency_bound: bool
    block_size: int
    bytes_total: int
    bytes_used: int
    inodes_total: int
    inodes_used: int
    inodes_available: int = 0  # f_favail: what an unprivileged writer (the app) can still use

    def to_dict(self) -> dict:
        return asdict(self)


def _mounts() -> list[tuple[str, str, str]]:
    """(device, mount point, type) of every mount: /proc/self/mounts, what psutil's
    disk_partitions(all=True) reads on Linux (importing psutil cost each run ~10 ms), and
    psutil elsewhere."""
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        import psutil

        return [(p.device, p.mountpoint, p.fstype) for p in psutil.disk_partitions(all=True)]
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 3:
            device = _unescape(parts[0])
            out.append(("" if device == "none" else device, _unescape(parts[1]), parts[2]))
    return out


def _unescape(s: str) -> str:
    """The kernel writes space, tab, newline and backslash in mount fields as octal escapes."""
    if "\\" not in s:
        return s
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def fs_info(path: str) -> FsInfo:
    mountpoint, fstype, device = "/", "unknown", ""
    try:
        best = ""
        for dev, mp, typ in _mounts():
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best):
                best, fstype, device = mp, typ, dev
        mountpoint = best or "/"
    except Exception:  # a convenience here; statvfs below still answers
        pass
    latency = fstype.startswith("fuse") or fstype in LATENCY_BOUND
    try:
        sv = os.statvfs(path)
        bytes_total = sv.f_blocks * sv.f_frsize
        bytes_used = (sv.f_blocks - sv.f_bfree) * sv.f_frsize
        inodes_total = sv.f_files
        inodes_used = sv.f_files - sv.f_ffree
        inodes_available = sv.f_favail
        bsize = sv.f_bsize
    except OSError:
        bytes_total = bytes_used = inodes_total = inodes_used = inodes_available = bsize = 0
    return FsInfo(mountpoint, fstype, device, latency, bsize, bytes_total, bytes_used,
                  inodes_total, inodes_used, inodes_available)
