"""JUnit XML for CI: valid XML whatever the store's name holds."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from sessdiag.fixtures import FixtureSpec, make_tree
from sessdiag.render.junit import junit_xml


def test_undecodable_and_control_characters_make_valid_xml():
    name = os.fsdecode(b"/srv/\xff\xfe") + "\x1b[2J"
    xml = junit_xml([{"name": name, "time": 0.1, "results": [
        {"rule": "max_sessions", "status": "fail", "message": f"{name} has 3 > 1",
         "measured": 3, "allowed": 1}]}])
    root = ET.fromstring(xml.encode("utf-8"))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "/srv/\\xff\\xfe\\x1b[2J"


def test_check_junit_for_a_store_with_an_undecodable_name(cli, tmp_path):
    store = tmp_path / os.fsdecode(b"st\xffore")
    make_tree(str(store), FixtureSpec.from_mapping(dict(sessions=10, seed=1)))
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  max_sessions: 5\n")
    junit = tmp_path / "j.xml"
    res = cli("check", store, "--policy", policy, "--junit", junit, "--max-lifetime", "1d")
    assert res.code == 1, res.err
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and "st\\xffore" in (suite.get("name") or "")
    assert "st\\xffore" in res.out  # the terminal verdict too
