"""Read beego's conf/app.conf for the session lifetime (sessiongcmaxlifetime)."""

from __future__ import annotations

from sessdiag.core.errors import UsageError

LIFETIME_KEYS = ("sessiongcmaxlifetime", "session.gcmaxlifetime")


def lifetime_from_app_conf(path: str) -> int | None:
    """beego's INI-like config: `key = value` lines, [sections], `#`/`;` comments.

    Returns None when the key is absent (casdoor, for one, sets it in code instead).
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise UsageError(f"--app-conf {path}: {exc.strerror}") from exc
    found: int | None = None
    for no, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line[0] in "#;[":
            continue
        key, sep, value = line.partition("=")
        if not sep or key.strip().lower() not in LIFETIME_KEYS:
            continue
        value = value.split("#", 1)[0].strip().strip('"')
        if not value.isdigit():
            raise UsageError(f"{path}:{no}: {key.strip()} = {value!r} is not a number of seconds")
        # The first section-less value wins; later [env] sections override only at run mode.
        if found is None:
            found = int(value)
    return found
