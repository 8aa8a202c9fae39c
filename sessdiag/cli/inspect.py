"""`sessdiag inspect TARGET [SID]`: decode one session and show its keys, types and values."""

from __future__ import annotations

from typing import Annotated

import typer

from sessdiag.cli.options import JsonOpt, OutputOpt, PasswordEnvOpt, ProfileOpt, emit
from sessdiag.core.errors import UsageError


def inspect(
    target: Annotated[str, typer.Argument(help="A session file, or a store directory.")],
    sid: Annotated[str | None, typer.Argument(help="Session id, when TARGET is a store.")] = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    profile: ProfileOpt = None,
    password_env: PasswordEnvOpt = None,
) -> None:
    """Decode one session and show its keys, types and values."""
    from sessdiag.render.terminal import inspect_view
    from sessdiag.scanning import is_redis_target

    if is_redis_target(target):
        if sid is None:
            raise UsageError("give the session's key (or id) too: sessdiag inspect "
                             "redis://HOST:PORT/DB KEY")
        from sessdiag.stores.redis.inspect import inspect_redis

        report = inspect_redis(target, sid, password_env=password_env, profile=profile)
    else:
        from sessdiag.inspect import inspect_file

        report = inspect_file(target, sid, profile=profile)
    emit(report, as_json, output, False, inspect_view)
