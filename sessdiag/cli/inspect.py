"""`sessdiag inspect TARGET [SID]`: decode one session and show its keys, types and values."""

from __future__ import annotations

from typing import Annotated

import typer

from sessdiag.cli.options import JsonOpt, OutputOpt, PasswordEnvOpt, ProfileOpt, StoreOpt, emit


def inspect(
    target: Annotated[str, typer.Argument(help="A session file, or a store directory.")],
    sid: Annotated[str | None, typer.Argument(help="Session id, when TARGET is a store.")] = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    profile: ProfileOpt = None,
    password_env: PasswordEnvOpt = None,
    show_secrets: Annotated[bool, typer.Option(
        "--show-secrets", help="Show values that look like credentials (passwords, tokens, "
        "secrets, keys, JWTs); redacted by default.")] = False,
    store_name: StoreOpt = None,
) -> None:
    """Decode one session and show its keys, types and values."""
    del store_name  # expand_argv already turned it into TARGET and flags
    from sessdiag.render.terminal import inspect_view
    from sessdiag.stores import open_store

    store = open_store(target, password_env=password_env)
    try:
        report = store.inspect(sid, profile)
    finally:
        store.close()
    if not show_secrets:
        from sessdiag.render.redact import redact_inspect

        report = redact_inspect(report)
    emit(report, as_json, output, False, inspect_view)
