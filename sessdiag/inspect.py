"""Decode one session file into the contract's inspect report."""

from __future__ import annotations

import errno
import os
import stat

from sessdiag import frameworks
from sessdiag.core.errors import DecodeError, TargetUnreadable, UsageError
from sessdiag.core.timefmt import iso
from sessdiag.profiles import session_decoder
from sessdiag.stores.files import fsops
from sessdiag.stores.files.layout import layout_for, resolve_root

INSPECT_SCHEMA = "sessdiag.inspect/1"


def _sniff_profile(name: str, data: bytes) -> str:
    if name.startswith("sess_"):
        return "php-files"
    if data[:2] == b"a:" and len(name) == 40 and name.isascii() and name.isalnum():
        return "laravel-files"  # storage/framework/sessions/<Str::random(40)>
    if data[:1] == b"\x0e" or data[:3] == b"\x0e\xff\x81" or not data:
        return "beego-file"
    if b"|" in data[:256] or data[:2] == b"a:":
        return "php-files"
    return "beego-file"


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
