"""`sessdiag restore BACKUP TARGET`: flags -> restore_backup -> render -> exit code."""

from __future__ import annotations

from typing import Annotated

import typer

from sessdiag.cli.options import JsonOpt, OutputOpt, PasswordEnvOpt, QuietOpt, emit


def restore(
    backup: Annotated[str, typer.Argument(help="A file written by `prune --backup FILE`.")],
    target: Annotated[str, typer.Argument(help="The Redis to restore into: redis://…")],
    apply: Annotated[bool, typer.Option(
        "--apply", help="Really restore. Without it: a dry run that changes nothing.")] = False,
    password_env: PasswordEnvOpt = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Put back what `prune --backup` removed (never overwriting a key); a dry run unless
    --apply."""
    from sessdiag.core.errors import UsageError
    from sessdiag.render.restore_view import restore_view
    from sessdiag.stores import target_kind
    from sessdiag.stores.redis.prune.restore import restore_backup

    if target_kind(target) != "redis":
        raise UsageError(f"{target}: restore puts keys back into a Redis server (redis://…, "
                         "rediss://…, unix://…)")
    report = restore_backup(backup, target, apply=apply, password_env=password_env)
    emit(report, as_json, output, quiet, restore_view)
    if report["errors"]:
        raise typer.Exit(1)
