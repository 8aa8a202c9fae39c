"""deploy/kubernetes: the manifests are valid against the Kubernetes API's own schemas (as
kubernetes-validate bundles them: no cluster, no download), and the commands their pods run
do what docs/fleet.md says when a shell runs them as the kubelet would, pod by pod, with
JOB_COMPLETION_INDEX set and each volume's mount path pointing at a directory here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from sessdiag.fixtures import FixtureSpec, make_tree

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
MANIFESTS = sorted(DEPLOY.glob("*.yaml"))
BIN = Path(sys.executable).parent
# The oldest Kubernetes the manifests are written for (docs/fleet.md), and the newest schema
# the installed kubernetes-validate knows.
VERSIONS = ("1.28.0", kubernetes_validate.latest_version())


def _load(name: str) -> dict[str, Any]:
    (doc,) = yaml.safe_load_all((DEPLOY / name).read_text())
    return doc


def _job_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]


def test_there_are_manifests() -> None:
    assert {m.name for m in MANIFESTS} == {"scan-job.yaml", "merge-check-job.yaml",
                                          "prune-cronjob.yaml"}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_valid_kubernetes(path: Path, version: str) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("name", ["scan-job.yaml", "merge-check-job.yaml",
                                  "prune-cronjob.yaml"])
def test_parts_agree_with_the_number_of_pods(name: str) -> None:
    spec = _job_spec(_load(name))
    (container,) = spec["template"]["spec"]["containers"]
    parts = int({e["name"]: e["value"] for e in container["env"]}["PARTS"])
    if name != "merge-check-job.yaml":
        assert spec["completionMode"] == "Indexed"
        assert spec["completions"] == spec["parallelism"] == parts
    assert parts == int({e["name"]: e["value"] for e in _load("scan-job.yaml")["spec"][
        "template"]["spec"]["containers"][0]["env"]}["PARTS"])


def _run_pod(name: str, mounts: dict[str, Path], index: int | None,
             ) -> subprocess.CompletedProcess[str]:
    """The pod's container command, run by /bin/sh here: each volume's mount path replaced
    by a directory of this test, sessdiag from this venv, the env of the manifest."""
    spec = _job_spec(_load(name))
    (container,) = spec["template"]["spec"]["containers"]
    script = container["args"][0]
    for mount in container["volumeMounts"]:
        path = mount["mountPath"]
        if path == "/tmp":
            continue
        # a mount path as a whole path component: /policy, not the /policy of policy.yaml
        script = re.sub(rf"(?<![\w.-]){re.escape(path)}(?=[/\s\"]|$)",
                        str(mounts[path]), script)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           **{e["name"]: e["value"] for e in container["env"]}}
    if index is not None:
        env["JOB_COMPLETION_INDEX"] = str(index)
    assert container["command"] == ["/bin/sh", "-c"]
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True,
                          env=env, timeout=300, check=False)


@pytest.fixture
def volumes(tmp_path: Path) -> dict[str, Path]:
    mounts = {p: tmp_path / p.strip("/") for p in ("/sessions", "/reports", "/policy",
                                                   "/locks")}
    for d in mounts.values():
        d.mkdir()
    make_tree(str(mounts["/sessions"]), FixtureSpec.from_mapping({
        "sessions": 300, "seed": 7, "max_lifetime": "30d", "expired_fraction": 0.4,
        "empty_fraction": 0.5, "foreign": 2, "symlinks": 1}))
    return mounts


def test_the_indexed_scan_then_the_merge_check(volumes: dict[str, Path]) -> None:
    parts = _job_spec(_load("scan-job.yaml"))["completions"]
    for index in range(parts):
        res = _run_pod("scan-job.yaml", volumes, index)
        assert res.returncode == 0, res.stderr
    reports = sorted(p.name for p in volumes["/reports"].iterdir())
    assert reports == [f"part-{k}.json" for k in range(1, parts + 1)]
    for k in range(1, parts + 1):
        target = json.loads((volumes["/reports"] / f"part-{k}.json").read_text())["target"]
        assert target["partition"]["index"] == k and target["partition"]["count"] == parts

    (volumes["/policy"] / "policy.yaml").write_text(yaml.safe_dump(
        {"rules": {"max_sessions": 300}}))
    res = _run_pod("merge-check-job.yaml", volumes, None)
    assert res.returncode == 0, res.stdout + res.stderr
    fleet = json.loads((volumes["/reports"] / "fleet.json").read_text())
    assert fleet["sessions"] == 300 and len(fleet["target"]["parts"]) == parts
    assert json.loads((volumes["/reports"] / "check.json").read_text())["ok"] is True

    (volumes["/policy"] / "policy.yaml").write_text(yaml.safe_dump(
        {"rules": {"max_sessions": 299}}))
    assert _run_pod("merge-check-job.yaml", volumes, None).returncode == 1


def test_the_indexed_prune_deletes_every_expired_session(volumes: dict[str, Path]) -> None:
    spec = _job_spec(_load("prune-cronjob.yaml"))
    store = volumes["/sessions"]
    before = {p.name for p in store.rglob("*")}
    for index in range(spec["completions"]):
        res = _run_pod("prune-cronjob.yaml", volumes, index)
        assert res.returncode == 0, res.stderr
    left = {p.name for p in store.rglob("*")}
    assert len(before - left) == 120  # 40 % of 300 sessions, all of them and nothing else
    assert (volumes["/locks"] / "prune.lock").is_file()
    assert not any(p.name.startswith("prune.lock") for p in store.iterdir())
