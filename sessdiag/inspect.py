"""Decode one session file into the contract's inspect report."""

from __future__ import annotations

import errno
import os
import re
import stat

from sessdiag import frameworks
from sessdiag.core.errors import DecodeError, TargetUnreadable, UsageError
from sessdiag.core.timefmt import iso
from sessdiag.frameworks import session_decoder
from sessdiag.frameworks.values import sniff
from sessdiag.stores.files import fsops
from sessdiag.stores.files.layout import layout_for, resolve_root

INSPECT_SCHEMA = "sessdiag.inspect/1"


def _sniff_profile(name: str, data: bytes) -> str:
    """The file profile of a lone session file: by its name's prefix, else by its bytes."""
    profiles = [frameworks.get(p) for p in frameworks.FILE_PROFILES]
    for fw in profiles:
        if fw.files is not None and fw.files.prefix and name.startswith(fw.files.prefix):
            return fw.name
    if data:
        head = data[:256]
        fmt = sniff(head)
        low = name.lower().encode()
        sniffers = [fw for fw in profiles if fw.sniff_value is not None and fw.files is not None]
        # A framework whose id pattern the name fits first (Laravel's 40-character ids hold
        # PHP-serialized arrays, which PHP's own sniff would claim), then the bytes alone.
        for fw in sniffers:
            if re.fullmatch(re.escape(fw.files.prefix) + fw.files.sid_pattern, name) and \
                    fw.sniff_value(low, head, fmt):
                return fw.name
        for fw in sniffers:
            if fw.sniff_value(low, head, fmt):
                return fw.name
    return profiles[0].name  # beego's: a 0-byte file is a session created, never released


def _read(dir_fd: int, name: str, shown: str) -> tuple[bytes, os.stat_result]:
    try:
        got = fsops.read_payload(dir_fd, name)
    except FileNotFoundError as exc:
        raise UsageError(f"{shown}: no such session file") from exc
    except PermissionError as exc:
        raise TargetUnreadable(f"cannot read {shown}: permission denied") from exc
    except fsops.PayloadTooLarge as exc:
        raise UsageError(f"{shown} is {exc.size} bytes, larger than any session should be "
                         f"(limit {exc.limit})") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
            raise UsageError(f"{shown} is a symlink; sessdiag never follows symlinks") from exc
        raise UsageError(f"{shown}: {exc.strerror}") from exc
    if got is None:
        raise UsageError(f"{shown} is not a regular file")
    return got


def inspect_file(target: str, sid: str | None, *, profile: str | None = None) -> dict:
    if sid is None:
        try:
            lst = os.lstat(target)
        except FileNotFoundError as exc:
            raise UsageError(f"{target}: no such file or directory") from exc
        if stat.S_ISDIR(lst.st_mode):
            raise UsageError(f"{target} is a directory: give a session id too "
                             f"(sessdiag inspect {target} SID)")
        parent, name = os.path.split(os.path.abspath(target))
        dir_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            data, st = _read(dir_fd, name, target)
        finally:
            os.close(dir_fd)
        shown = target
        sid = name[5:] if name.startswith("sess_") else name
        prof = profile or _sniff_profile(name, data)
    else:
        if not sid or "/" in sid or sid in (".", "..") or "\0" in sid:
            raise UsageError(f"not a session id: {sid!r}")
        root, _ = resolve_root(target)
        layout = layout_for(root, profile)
        name = layout.prefix + sid
        rel = "/".join(layout.shard_of(sid))
        root_fd = fsops.open_root(root)
        try:
            try:
                dir_fd = fsops.open_rel(root_fd, rel) if rel else os.dup(root_fd)
            except FileNotFoundError as exc:
                raise UsageError(f"no session {sid} in {target}") from exc
            try:
                data, st = _read(dir_fd, name, os.path.join(target, rel, name))
            finally:
                os.close(dir_fd)
        finally:
            os.close(root_fd)
        shown = os.path.join(target, rel, name)
        prof = layout.profile
    try:
        entries = session_decoder(prof)(data)
    except DecodeError as exc:
        raise UsageError(f"{shown}: not a valid {prof} session payload: {exc}") from exc
    return {
        "schema": INSPECT_SCHEMA,
        "sid": sid,
        "profile": prof,
        "size": len(data),
        "path": shown,
        "mtime": iso(st.st_mtime),
        "empty": bool(frameworks.get(prof).is_empty(data, entries)),
        "entries": entries,
    }
