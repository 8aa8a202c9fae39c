"""sessdiag.yaml: named stores and per-command defaults, so cron lines stay short.

    defaults:                    # every command, every store
      jobs: 4
    stores:
      casdoor:
        target: /srv/casdoor/tmp
        profile: beego-file
        max_lifetime: 30d
        cookie_name: casdoor_session_id
        access_log: [/var/log/nginx/casdoor.log]
        prune: {max_age: 30d, grace: 5m, rate: 500}   # only for `sessdiag prune`
        check: {policy: /etc/sessdiag/casdoor-policy.yaml}

`sessdiag prune --store casdoor --apply` becomes `sessdiag prune /srv/casdoor/tmp
--profile beego-file … --max-age 30d --grace 5m --rate 500 --apply`: the store's settings
turn into the command's own flags before parsing, and flags given on the command line win.
Settings a command does not take are left out for that command (a store's `cookie_name`
means nothing to `prune`); a per-command key the command does not know is an error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from sessdiag.core.errors import UsageError

DEFAULT_NAMES = ("sessdiag.yaml", "sessdiag.yml")
COMMAND_SECTIONS = ("scan", "prune", "check", "gc_estimate", "inspect", "clients")


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _pull_option(args: list[str], flag: str, missing: str) -> tuple[str | None, list[str]]:
    """Take `FLAG VALUE` / `FLAG=VALUE` out of args: (the last value or None, the rest)."""
    rest: list[str] = []
    value: str | None = None
    i = 0
    while i < len(args):
        a = args[i]
        if a == flag:
            if i + 1 >= len(args):
                raise UsageError(missing)
            value = args[i + 1]
            i += 2
            continue
        if a.startswith(flag + "="):
            value = a.split("=", 1)[1]
        else:
            rest.append(a)
        i += 1
    return value, rest


def _find_config(argv: list[str]) -> tuple[str | None, bool, list[str]]:
    """Pull --config FILE out of argv; else ./sessdiag.yaml when present.

    Returns (path, explicit: given with --config, the rest of argv).
    """
    path, out = _pull_option(argv, "--config", "--config needs a file")
    if path is not None:
        return path, True, out
    for name in DEFAULT_NAMES:
        if os.path.isfile(name):
            return name, False, out
    return None, False, out


class NotOurs(UsageError):
    """An implicit ./sessdiag.yaml that is not a sessdiag config (e.g. a Kubernetes manifest)."""


def load_config(path: str, *, implicit: bool = False) -> dict[str, Any]:
    """Parse and validate a config file.

    `implicit` (found in the current directory, not named by --config): a file that is not
    recognisably sessdiag's — not UTF-8, not YAML, not a mapping with 'stores' or 'defaults'
    — raises NotOurs, which the caller ignores unless the user asked for a --store.
    """
    import yaml  # only when there is a config file: 25 ms of every run otherwise

    from sessdiag.core.textfile import read_text

    try:
        text = read_text(path, "" if implicit else "--config ")
    except UsageError as exc:
        raise (NotOurs(str(exc)) if implicit else exc) from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise (NotOurs if implicit else UsageError)(f"{path}{where}: not valid YAML") from exc
    if implicit and not (isinstance(data, dict) and {"stores", "defaults"} & set(data)):
        raise NotOurs(f"{path} is not a sessdiag config (it has no 'stores' or 'defaults')")
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a config file is a mapping with 'stores' and 'defaults'")
    unknown = set(data) - {"stores", "defaults"}
    if unknown:
        raise UsageError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))} "
                         "(expected 'stores' and 'defaults')")
    stores = data.get("stores") or {}
    if not isinstance(stores, dict) or not all(isinstance(v, dict) for v in stores.values()):
        raise UsageError(f"{path}: 'stores' maps store names to their settings")
    for name, store in stores.items():
        if "target" not in store:
            raise UsageError(f"{path}: store {name!r} has no 'target' (a path or redis:// URL)")
    if not isinstance(data.get("defaults") or {}, dict):
        raise UsageError(f"{path}: 'defaults' must be a mapping")
    return data


CommandResolver = Callable[[list[str]], tuple[list[str], set[str] | None]]


def expand_argv(argv: list[str], resolve: CommandResolver) -> list[str]:
    """Rewrite `CMD --store NAME …` into `CMD TARGET <store flags> …`.

    resolve(argv) -> (the leading words naming the command, its option names), options
    None when argv names no command (then argv goes to the parser unchanged, to reject).
    """
    path, explicit, argv = _find_config(argv)
    wants_store = "--store" in argv or any(a.startswith("--store=") for a in argv)
    if not wants_store and path is None:
        return argv
    words, options = resolve(argv)
    store_name, rest = _pull_option(argv[len(words):], "--store", "--store needs a store name")
    if options is None:
        return argv
    cfg = None
    if path:
        try:
            cfg = load_config(path, implicit=not explicit)
        except NotOurs as exc:
            # Another tool's file of the same name must not break every command; it only
            # matters when the user asked for a store from it.
            if store_name is not None:
                raise UsageError(f"--store {store_name}: {exc}; pass --config FILE") from None
            path = None
    if store_name is not None and cfg is None:
        raise UsageError(f"--store {store_name}: no sessdiag.yaml here; pass --config FILE")
    store: dict[str, Any] = {}
    if store_name is not None:
        stores = cfg.get("stores") or {}
        if store_name not in stores:
            known = ", ".join(sorted(stores)) or "none"
            raise UsageError(f"no store {store_name!r} in {path} (known: {known})")
        store = stores[store_name]
    command = "_".join(words[-1:]).replace("-", "_")
    given = {a.split("=", 1)[0] for a in rest if a.startswith("--")}
    settings: dict[str, Any] = {}
    for source in ((cfg or {}).get("defaults") or {}, store):
        for key, value in source.items():
            if key in COMMAND_SECTIONS or key == "target":
                continue
            settings[key] = value
    section = store.get(command) or ((cfg or {}).get("defaults") or {}).get(command) or {}
    if not isinstance(section, dict):
        raise UsageError(f"{path}: {command} settings must be a mapping")
    for key in section:
        if _flag(key) not in options:
            raise UsageError(f"{path}: {command}.{key} is not an option of "
                             f"'sessdiag {' '.join(words)}'")
    settings.update(section)
    extra: list[str] = []
    for key, value in settings.items():
        flag = _flag(key)
        if flag not in options or flag in given:
            continue
        if value is True:
            extra.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, list):
            for v in value:
                extra += [flag, str(v)]
        else:
            extra += [flag, str(value)]
    positional: list[str] = []
    if store_name is not None:
        from sessdiag.stores import target_kind  # the one table of backends

        target = str(store["target"])
        if (target_kind(target) == "redis" and "--password-env" not in extra
                and "password" in store):
            raise UsageError(f"{path}: store {store_name!r}: keep passwords out of config files; "
                             "use password_env: VAR")
        positional = [target]
    return [*words, *positional, *extra, *rest]
