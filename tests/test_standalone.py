"""The repository stands alone: nothing in it reads or cites a path outside the checkout.

A fresh `git clone` has nothing beside it, so a test, tour command, docstring or CI line that
points at the sibling `shared` directory works on the maintainer's machine and nowhere else.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Spelled in pieces so that this file does not match itself.
_SHARED = "shar" + "ed"
OUTSIDE = re.compile(
    rf"\.\./+{_SHARED}\b"  # the sibling directory, relative to the checkout
    rf"|\b{_SHARED}/(?:fixtures|docs|seeds|hooks)\b"  # the sibling tree's folders
    rf"|/work/{_SHARED}\b"
    rf"|[\"']\.\.[\"']\s*/\s*[\"']{_SHARED}[\"']"  # the same, built with pathlib
    rf"|SESSDIAG_{_SHARED.upper()}\b"  # the old escape hatch to the sibling tree
)


def tracked_files() -> list[str]:
    """Tracked and not-ignored untracked files: what a commit of this tree would hold."""
    out = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO,
                         capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def references(text: str) -> list[str]:
    return [m.group(0) for m in OUTSIDE.finditer(text)]


def test_no_file_in_the_repository_points_outside_it() -> None:
    files = tracked_files()
    assert "tests/test_standalone.py" in files  # the listing is the real one
    hits = []
    for rel in files:
        path = REPO / rel
        if not path.is_file():
            continue  # deleted in the work tree, not yet committed
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary fixtures (gob, Java serialisation) hold no paths
        for n, line in enumerate(text.splitlines(), start=1):
            hits += [f"{rel}:{n}: {ref}" for ref in references(line)]
    assert not hits, "paths outside the repository:\n" + "\n".join(hits)


# A cited document must be one the reader of a clone can open: any `name.md` mentioned in a
# tracked file is the name of a tracked Markdown file. The sibling tree's notes (the beego
# measurements, the prune benchmarks) are also cited without the extension.
MD_NAME = re.compile(r"(?<![\w/.-])(?:[\w.-]+/)*([\w-]+\.md)\b")
UNCOMMITTED_NOTES = re.compile(r"\b(?:beego-facts|prune-anchors|user-asks)\b")


def test_every_cited_document_is_in_the_repository() -> None:
    files = tracked_files()
    have = {Path(f).name for f in files if f.endswith(".md")}
    assert {"README.md", "report.md", "gc-model.md"} <= have
    hits = []
    for rel in files:
        path = REPO / rel
        if rel == "tests/test_standalone.py" or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for n, line in enumerate(text.splitlines(), start=1):
            hits += [f"{rel}:{n}: {m.group(0)}" for m in MD_NAME.finditer(line)
                     if m.group(1) not in have]
            hits += [f"{rel}:{n}: {m.group(0)}" for m in UNCOMMITTED_NOTES.finditer(line)]
    assert not hits, "documents cited but not in the repository:\n" + "\n".join(hits)


def test_the_pattern_catches_each_spelling() -> None:
    s = _SHARED
    for bad in (f"inspect ../{s}/fixtures/beego-real/tree", f'REPO / ".." / "{s}"',
                f"see {s}/docs/frameworks.md", f"cp /work/{s}/x .",
                f"os.environ.get('SESSDIAG_{s.upper()}')", f"(../{s}/docs/beego-facts.md)"):
        assert references(bad), bad
    for fine in ("shared lock", "a shared/exclusive flock", "fixtures/beego-real/tree",
                 "multiprocessing.shared_memory"):
        assert not references(fine), fine


def test_beego_real_fixtures_are_in_the_repository() -> None:
    """The real beego data the tests and the README tour read is committed with its manifest."""
    root = REPO / "fixtures" / "beego-real"
    files = set(tracked_files())
    assert "fixtures/beego-real/manifest.json" in files
    assert "fixtures/beego-real/README.md" in files
    import json

    manifest = json.loads((root / "manifest.json").read_text())
    assert "beego/session v1.12.3" in manifest["generator"]
    for s in manifest["sessions"]:
        assert s["path"] in {p.removeprefix("fixtures/beego-real/") for p in files}, s["path"]
