"""`sessdiag fixtures make TARGET`: materialise a realistic session tree or Redis keyspace."""

from __future__ import annotations

from typing import Annotated

import typer

from sessdiag.cli.options import PasswordEnvOpt, QuietOpt


def fixtures_make(
    directory: Annotated[str, typer.Argument(
        metavar="TARGET",
        help="Empty (or new) directory to fill, or redis:// / unix:// URL of an empty "
             "Redis database (with a Spring Session --spec).")],
    spec: Annotated[str | None, typer.Option("--spec", help="YAML spec (fixtures/*.yaml).")] = None,
    profile: Annotated[str | None, typer.Option("--profile")] = None,
    sessions: Annotated[int | None, typer.Option("--sessions")] = None,
    expired_fraction: Annotated[float | None, typer.Option("--expired-fraction")] = None,
    empty_fraction: Annotated[float | None, typer.Option("--empty-fraction")] = None,
    max_lifetime: Annotated[str | None, typer.Option("--max-lifetime")] = None,
    age_max: Annotated[str | None, typer.Option("--age-max")] = None,
    zero_byte: Annotated[int | None, typer.Option("--zero-byte")] = None,
    undecodable: Annotated[int | None, typer.Option("--undecodable")] = None,
    symlinks: Annotated[int | None, typer.Option("--symlinks")] = None,
    foreign: Annotated[int | None, typer.Option("--foreign")] = None,
    misplaced: Annotated[int | None, typer.Option("--misplaced")] = None,
    fifos: Annotated[int | None, typer.Option("--fifos")] = None,
    php_depth: Annotated[int | None, typer.Option("--php-depth")] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    now: Annotated[int | None, typer.Option("--now", help="Epoch seconds ages count from.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Redis: empty the target database first (FLUSHDB of that database "
                        "only) instead of refusing a non-empty one.")] = False,
    password_env: PasswordEnvOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the expected report.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a realistic session tree or Redis keyspace (flags override the spec) and its
    expected counts."""
    from sessdiag.fixture_make import make_fixture
    from sessdiag.stores import target_kind

    overrides = {"profile": profile, "sessions": sessions, "expired_fraction": expired_fraction,
                 "empty_fraction": empty_fraction, "max_lifetime": max_lifetime,
                 "age_max": age_max, "zero_byte": zero_byte, "undecodable": undecodable,
                 "symlinks": symlinks, "foreign": foreign, "misplaced": misplaced,
                 "fifos": fifos, "php_depth": php_depth, "now": now}
    expected = make_fixture(directory, spec, overrides, seed=seed, force=force,
                            password_env=password_env)
    if as_json:
        from sessdiag.render.jsonout import write_stdout

        write_stdout(expected)
    elif quiet:
        pass
    elif target_kind(directory) == "redis":
        print(f"wrote {expected['sessions']} Spring sessions to {expected['target']} in "
              f"{len(expected['namespaces'])} namespace(s) "
              f"({expected['orphans']} never reused, {expected['logged_in']} logged in, "
              f"{expected['no_ttl']} without TTL)")
    else:
        print(f"wrote {expected['sessions']} {expected['profile']} sessions to {directory} "
              f"({expected['expired']} expired, {expected['empty']} empty)")
