"""JUnit XML for CI systems: one testsuite per target, one testcase per rule."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from sessdiag.core.textsafe import terminal_safe
from sessdiag.render.jsonout import write_atomic


def junit_xml(suites: list[dict]) -> str:
    """suites: [{"name": target, "results": [RuleResult.to_dict(), ...], "time": s}]."""
    # XML 1.0 cannot hold control characters or undecodable bytes at all.
    suites = terminal_safe(suites)
    root = ET.Element("testsuites", name="sessdiag check")
    total = failures = skipped = 0
    for s in suites:
        results = s["results"]
        fails = sum(r["status"] == "fail" for r in results)
        skips = sum(r["status"] == "skipped" for r in results)
        suite = ET.SubElement(root, "testsuite", {
            "name": s["name"], "tests": str(len(results)), "failures": str(fails),
            "errors": "0", "skipped": str(skips), "time": f"{s.get('time', 0):.3f}",
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "hostname": "localhost", "id": str(len(root)), "package": "sessdiag",
        })
        ET.SubElement(suite, "properties")
        for r in results:
            case = ET.SubElement(suite, "testcase", {"name": r["rule"], "classname": s["name"],
                                                    "time": "0"})
            if r["status"] == "fail":
                fail = ET.SubElement(case, "failure", {"message": r["message"], "type": "policy"})
                fail.text = f"measured {r['measured']!r}, allowed {r['allowed']!r}"
            elif r["status"] == "skipped":
                ET.SubElement(case, "skipped", {"message": r["message"]})
        ET.SubElement(suite, "system-out").text = ""
        ET.SubElement(suite, "system-err").text = ""
        total += len(results)
        failures += fails
        skipped += skips
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("skipped", str(skipped))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: str, suites: list[dict]) -> None:
    write_atomic(path, junit_xml(suites))
