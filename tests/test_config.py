"""sessdiag.yaml: named stores expand into each command's own flags; the command line wins."""

from __future__ import annotations

import pytest

from sessdiag.fixtures import FixtureSpec, make_tree

NOW = 1_790_000_000


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "tmp"
    exp = make_tree(str(root), FixtureSpec.from_mapping(dict(sessions=200, seed=1, now=NOW,
                                                             max_lifetime="30d",
                                                             expired_fraction=0.5)))
    (tmp_path / "policy.yaml").write_text("rules:\n  max_sessions: 100\n")
    (tmp_path / "sessdiag.yaml").write_text(
        "defaults:\n  jobs: 1\n"
        f"stores:\n  app:\n    target: {root}\n    max_lifetime: 30d\n"
        "    cookie_name: beegosessionID\n"
        f"    check: {{policy: {tmp_path / 'policy.yaml'}}}\n"
        "  short:\n"
        f"    target: {root}\n    max_lifetime: 1h\n")
    monkeypatch.chdir(tmp_path)
    return root, exp


def test_store_gives_target_and_lifetime(cli, project):
    root, exp = project
    r = cli("scan", "--store", "app", "--json", "--now", NOW).json()
    assert r["target"]["location"] == str(root)
    assert r["max_lifetime_s"] == 2592000
    assert r["expired"] == exp["expired"]


def test_command_line_wins(cli, project):
    r = cli("scan", "--store", "app", "--max-lifetime", "1h", "--json", "--now", NOW).json()
    assert r["max_lifetime_s"] == 3600


def test_per_command_section(cli, project):
    res = cli("check", "--store", "app", "--json", "--now", NOW)
    assert res.code == 1
    assert res.json()["targets"][0]["results"][0]["rule"] == "max_sessions"


def test_unknown_store_and_bad_section(cli, project, tmp_path):
    res = cli("scan", "--store", "nope")
    assert res.code == 2 and "no store 'nope'" in res.err and "app, short" in res.err
    (tmp_path / "bad.yaml").write_text(f"stores:\n  x:\n    target: {tmp_path}\n"
                                       "    scan: {colour: red}\n")
    res = cli("scan", "--store", "x", "--config", tmp_path / "bad.yaml")
    assert res.code == 2 and "scan.colour is not an option" in res.err


def test_store_without_config_file(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = cli("scan", "--store", "app")
    assert res.code == 2 and "no sessdiag.yaml" in res.err


@pytest.mark.parametrize("target", ["redis://127.0.0.1:1/0", "rediss://cache.example:6380/0",
                                    "unix:///run/redis/redis.sock?db=2"])
def test_password_in_config_refused_for_every_redis_scheme(cli, tmp_path, monkeypatch, target):
    """unix:// used to slip past a startswith("redis") check, and the password was dropped
    silently instead of refused."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sessdiag.yaml").write_text(
        f"stores:\n  r:\n    target: {target}\n    password: hunter2-Secret\n")
    res = cli("scan", "--store", "r")
    assert res.code == 2 and "keep passwords out of config files" in res.err
    assert "hunter2-Secret" not in res.err + res.out


K8S_MANIFEST = """apiVersion: v1
kind: ConfigMap
metadata:
  name: sessdiag
data:
  sessdiag.yaml: |
    stores: {}
"""


def test_a_foreign_sessdiag_yaml_here_is_ignored(cli, tmp_path, monkeypatch):
    store = tmp_path / "store"
    make_tree(str(store), FixtureSpec.from_mapping(dict(sessions=10, seed=1, now=NOW)))
    (tmp_path / "sessdiag.yaml").write_text(K8S_MANIFEST)
    monkeypatch.chdir(tmp_path)
    res = cli("scan", store, "--json", "--now", NOW)
    assert res.code == 0, res.err
    assert res.json()["sessions"] == 10
    # ...but asking for a store from it says why there is none.
    res = cli("scan", "--store", "app")
    assert res.code == 2
    assert "sessdiag.yaml is not a sessdiag config" in res.err and "--config" in res.err


def test_an_undecodable_sessdiag_yaml_here_is_ignored(cli, tmp_path, monkeypatch):
    store = tmp_path / "store"
    make_tree(str(store), FixtureSpec.from_mapping(dict(sessions=10, seed=1, now=NOW)))
    (tmp_path / "sessdiag.yaml").write_bytes(b"stores:\n  caf\xe9: {target: /x}\n")
    monkeypatch.chdir(tmp_path)
    assert cli("scan", store, "--json", "--now", NOW).code == 0


def test_an_explicit_foreign_or_undecodable_config_is_bad_input(cli, tmp_path):
    store = tmp_path / "store"
    make_tree(str(store), FixtureSpec.from_mapping(dict(sessions=10, seed=1, now=NOW)))
    k8s = tmp_path / "k8s.yaml"
    k8s.write_text(K8S_MANIFEST)
    res = cli("scan", store, "--config", k8s)
    assert res.code == 2 and "unknown top-level key(s) apiVersion" in res.err
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"defaults:\n  jobs: 1\n# caf\xe9\n")
    res = cli("scan", store, "--config", latin1)
    assert res.code == 2, res.err
    assert res.err.count("\n") == 1
    assert f"--config {latin1}:3: not UTF-8" in res.err
