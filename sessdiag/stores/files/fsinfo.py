"""What filesystem a store lives on: type (to pick a worker model), inode and byte use."""

from __future__ import annotations

import os
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


def fs_info(path: str) -> FsInfo:
    mountpoint, fstype, device = "/", "unknown", ""
    try:
        import psutil

        best = ""
        for part in psutil.disk_partitions(all=True):
            mp = part.mountpoint
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best):
                best, fstype, device = mp, part.fstype, part.device
        mountpoint = best or "/"
    except Exception:  # psutil is a convenience here; statvfs below still answers
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
