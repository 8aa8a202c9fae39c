"""`sessdiag fixtures make`: one entry for both kinds of fixture, chosen by the target."""

from __future__ import annotations

from sessdiag.core.errors import UsageError
from sessdiag.fixture_redis import RedisFixtureSpec, load_spec, make_redis
from sessdiag.fixtures import FixtureSpec, make_tree
from sessdiag.stores import target_kind


def make_fixture(target: str, spec_path: str | None, overrides: dict, *, seed: int | None = None,
                 force: bool = False, password_env: str | None = None) -> dict:
    """`sessdiag fixtures make`: a session tree (directory) or a Redis keyspace (URL) from a
    spec file, flags in `overrides` (None: not given) winning over it; the expected report.

    Refuses (exit 2) what does not fit the target: file-tree flags for Redis, a Redis spec for
    a directory, --force/--password-env for a directory.
    """
    loaded = load_spec(spec_path) if spec_path else None
    if target_kind(target) == "redis":
        if not isinstance(loaded, RedisFixtureSpec):
            raise UsageError("a Redis fixture needs --spec with 'profile: spring-session' and "
                             "its groups (e.g. fixtures/spring-healthy.yaml)")
        given = [f"--{k.replace('_', '-')}" for k, v in overrides.items() if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)}: for file trees only; a Redis fixture takes "
                             "its groups from --spec (and --seed)")
        if seed is not None:
            loaded.seed = seed
        return make_redis(target, loaded, force=force, password_env=password_env)
    if isinstance(loaded, RedisFixtureSpec):
        raise UsageError(f"{spec_path} describes a Redis keyspace; give a redis:// or unix:// "
                         "URL as TARGET")
    if force or password_env:
        raise UsageError("--force and --password-env are for Redis targets; a directory must "
                         "be empty or new")
    data: dict = loaded.__dict__.copy() if isinstance(loaded, FixtureSpec) else {}
    data.update({k: v for k, v in {**overrides, "seed": seed}.items() if v is not None})
    if "payloads" in data and data.get("profile") == "php-files" and not spec_path:
        data.pop("payloads")
    return make_tree(target, FixtureSpec.from_mapping(data, spec_path or "flags"))
