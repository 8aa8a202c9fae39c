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
    spec: Annotated[str | None, typer.Option(
        "--spec", help="YAML spec (fixtures/*.yaml).")] = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="beego-file (default) or php-files; Redis: from the spec.")] = None,
    sessions: Annotated[int | None, typer.Option(
        "--sessions", help="Number of sessions to write.")] = None,
    expired_fraction: Annotated[float | None, typer.Option(
        "--expired-fraction", help="Share of sessions older than --max-lifetime (0..1).")] = None,
    empty_fraction: Annotated[float | None, typer.Option(
        "--empty-fraction", help="Share of sessions with no attributes (0..1).")] = None,
    max_lifetime: Annotated[str | None, typer.Option(
        "--max-lifetime", help="Lifetime the expired share is measured by (e.g. 30d).")] = None,
    age_max: Annotated[str | None, typer.Option(
        "--age-max", help="Oldest session age (e.g. 90d; default twice --max-lifetime).")] = None,
    zero_byte: Annotated[int | None, typer.Option(
        "--zero-byte", help="Sessions of 0 bytes (created, never written).")] = None,
    undecodable: Annotated[int | None, typer.Option(
        "--undecodable", help="Sessions with a corrupt payload.")] = None,
    symlinks: Annotated[int | None, typer.Option(
        "--symlinks", help="Symlinks among the sessions (never to be followed).")] = None,
    foreign: Annotated[int | None, typer.Option(
        "--foreign", help="Files whose name is not a session id.")] = None,
    misplaced: Annotated[int | None, typer.Option(
        "--misplaced", help="Valid session ids in the wrong shard directory.")] = None,
    fifos: Annotated[int | None, typer.Option(
        "--fifos", help="Named pipes in the tree (must never be opened).")] = None,
    php_depth: Annotated[int | None, typer.Option(
        "--php-depth", help="PHP save_path 'N;/path' depth of the tree.")] = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", help="Seed: the same flags and seed make the same tree.")] = None,
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
