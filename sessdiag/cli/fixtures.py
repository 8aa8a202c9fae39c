"""`sessdiag fixtures make TARGET`: materialise a realistic session tree or Redis keyspace."""

from __future__ import annotations

from typing import Annotated

import typer

from sessdiag.cli.options import PasswordEnvOpt, QuietOpt
from sessdiag.core.errors import UsageError


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
    from sessdiag.fixture_redis import RedisFixtureSpec, load_spec, make_redis
    from sessdiag.fixtures import FixtureSpec, make_tree
    from sessdiag.scanning import is_redis_target

    overrides = {"profile": profile, "sessions": sessions, "expired_fraction": expired_fraction,
                 "empty_fraction": empty_fraction, "max_lifetime": max_lifetime,
                 "age_max": age_max, "zero_byte": zero_byte, "undecodable": undecodable,
                 "symlinks": symlinks, "foreign": foreign, "misplaced": misplaced,
                 "fifos": fifos, "php_depth": php_depth, "now": now}
    loaded = load_spec(spec) if spec else None
    if is_redis_target(directory):
        if not isinstance(loaded, RedisFixtureSpec):
            raise UsageError("a Redis fixture needs --spec with 'profile: spring-session' and "
                             "its groups (e.g. fixtures/spring-healthy.yaml)")
        given = [f"--{k.replace('_', '-')}" for k, v in overrides.items() if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)}: for file trees only; a Redis fixture takes "
                             "its groups from --spec (and --seed)")
        if seed is not None:
            loaded.seed = seed
        expected = make_redis(directory, loaded, force=force, password_env=password_env)
        if as_json:
            from sessdiag.render.jsonout import write_stdout

            write_stdout(expected)
        elif not quiet:
            print(f"wrote {expected['sessions']} Spring sessions to {expected['target']} in "
                  f"{len(expected['namespaces'])} namespace(s) "
                  f"({expected['orphans']} never reused, {expected['logged_in']} logged in, "
                  f"{expected['no_ttl']} without TTL)")
        return
    if isinstance(loaded, RedisFixtureSpec):
        raise UsageError(f"{spec} describes a Redis keyspace; give a redis:// or unix:// URL "
                         "as TARGET")
    if force or password_env:
        raise UsageError("--force and --password-env are for Redis targets; a directory must "
                         "be empty or new")
    data: dict = loaded.__dict__.copy() if isinstance(loaded, FixtureSpec) else {}
    overrides["seed"] = seed
    data.update({k: v for k, v in overrides.items() if v is not None})
    if "payloads" in data and data.get("profile") == "php-files" and not spec:
        data.pop("payloads")
    expected = make_tree(directory, FixtureSpec.from_mapping(data, spec or "flags"))
    if as_json:
        from sessdiag.render.jsonout import write_stdout

        write_stdout(expected)
    elif not quiet:
        print(f"wrote {expected['sessions']} {expected['profile']} sessions to {directory} "
              f"({expected['expired']} expired, {expected['empty']} empty)")


