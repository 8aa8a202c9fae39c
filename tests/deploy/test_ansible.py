"""deploy/ansible/site.yml run by ansible-core itself: two inventory hosts (connection local)
with two trees are scanned, their reports fetched and merged, and the policy checked once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sessdiag.fixtures import FixtureSpec, make_tree

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "deploy" / "ansible" / "site.yml"
BIN = Path(sys.executable).parent
# ansible-core refuses to start unless the locale's encoding is UTF-8 (a CI shell with
# LC_ALL=C would fail it); C.UTF-8 is built into glibc and present on every Debian.
UTF8 = {"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}


@pytest.fixture
def fleet(tmp_path: Path):  # type: ignore[no-untyped-def]
    trees = {}
    for name, sessions, seed in (("web1", 120, 1), ("web2", 80, 2)):
        root = tmp_path / name
        make_tree(str(root), FixtureSpec.from_mapping({"sessions": sessions, "seed": seed,
                                                       "empty_fraction": 0.5}))
        trees[name] = root
    out = tmp_path / "fleet"
    out.mkdir()

    def run(policy: dict, stores: dict[str, Path] | None = None,
            ) -> subprocess.CompletedProcess[str]:
        # sessdiag is found through the inventory's sessdiag_bin only (not on PATH), and
        # the implicit localhost of the merge play takes it from the `all` group.
        inventory = tmp_path / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"all": {
            "vars": {"sessdiag_bin": str(BIN / "sessdiag"), "sessdiag_max_lifetime": "2h"},
            "children": {"sessdiag": {"hosts": {
                name: {"sessdiag_store": str(root), "ansible_connection": "local",
                       "ansible_python_interpreter": sys.executable,
                       "sessdiag_remote_report": str(tmp_path / f"remote-{name}.json")}
                for name, root in (stores or trees).items()}}}}}))
        pol = tmp_path / "policy.yaml"
        pol.write_text(yaml.safe_dump({"rules": policy}))
        env = {**os.environ, **UTF8, "ANSIBLE_HOME": str(tmp_path / "ansible"),
               "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"), "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
               "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}
        return subprocess.run(
            [str(BIN / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOK),
             "-e", f"sessdiag_policy={pol}", "-e", f"sessdiag_fleet_dir={out}"],
            capture_output=True, text=True, timeout=300, env=env, check=False)

    return run, out, trees


def test_the_playbook_scans_every_host_merges_and_checks_once(fleet, tmp_path: Path) -> None:
    run, out, _trees = fleet
    res = run({"max_sessions": 200, "max_empty_fraction": 0.6})
    assert res.returncode == 0, res.stdout + res.stderr
    merged = json.loads((out / "fleet.json").read_text())
    assert merged["target"]["kind"] == "merged"
    assert sorted(Path(p["report"]).name for p in merged["target"]["parts"]) == [
        "web1.json", "web2.json"]
    assert merged["sessions"] == 200
    # The inventory's per-host settings are the ones used, not the playbook's defaults.
    assert merged["max_lifetime_s"] == 7200
    assert (tmp_path / "remote-web1.json").is_file() and (tmp_path / "remote-web2.json").is_file()
    assert json.loads((out / "check.json").read_text())["ok"] is True

    res = run({"max_sessions": 199})
    assert res.returncode != 0
    assert "max_sessions" in res.stdout and "The verdict" in res.stdout
    assert json.loads((out / "check.json").read_text())["violations"] == 1


def test_a_host_that_cannot_be_scanned_stops_the_run_before_any_verdict(
        fleet, tmp_path: Path) -> None:
    """No merge of the hosts that did answer, nor of a report an earlier run left behind."""
    run, out, trees = fleet
    assert run({"max_sessions": 200}).returncode == 0
    (out / "fleet.json").unlink()
    (out / "check.json").unlink()
    res = run({"max_sessions": 200}, stores={**trees, "web2": tmp_path / "no-such-store"})
    assert res.returncode != 0
    assert "TASK [Merge]" not in res.stdout
    assert not (out / "fleet.json").exists() and not (out / "check.json").exists()


def test_the_example_inventory_targets_its_four_hosts(tmp_path: Path) -> None:
    env = {**os.environ, **UTF8, "ANSIBLE_HOME": str(tmp_path / "ansible"),
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")}
    res = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(PLAYBOOK.with_name("inventory.example.yml")),
         str(PLAYBOOK), "--list-hosts"],
        capture_output=True, text=True, timeout=300, env=env, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    for host in ("web1", "web2", "nfs-a", "nfs-b"):
        assert f"{host}.example.internal" in res.stdout
