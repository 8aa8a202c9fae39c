#!/usr/bin/env python3
"""Render the README's terminal screenshots as SVG with rich's recording console.

    .venv/bin/python tools/screenshots.py docs/img

Each picture is the real output of a sessdiag command on a fixture tree materialised here
(seeded, so the pictures only change when the output does).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

from rich.console import Console

REPO = Path(__file__).resolve().parents[1]
NOW = 1_795_000_000  # a fixed "now" keeps ages, and so the pictures, stable


def capture(argv: list[str]) -> str:
    from sessdiag.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):
        main(argv)
    return buf.getvalue()


def save(text: str, path: Path, title: str) -> None:
    console = Console(record=True, width=100, file=io.StringIO(), force_terminal=True)
    from rich.text import Text

    console.print(Text.from_ansi(text))
    console.save_svg(str(path), title=title)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs" / "img")
    out.mkdir(parents=True, exist_ok=True)
    os.environ["COLUMNS"] = "100"
    os.environ["FORCE_COLOR"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "tmp")
        capture(["fixtures", "make", tree, "--spec", str(REPO / "fixtures/casdoor-incident.yaml"),
                 "--now", str(NOW), "--quiet"])
        shots = {
            "scan.svg": ("sessdiag scan ./tmp --max-lifetime 30d",
                         ["scan", tree, "--max-lifetime", "30d", "--now", str(NOW),
                          "--seed", "1"]),
            "check.svg": ("sessdiag check ./tmp --policy beego-production.yaml",
                          ["check", tree, "--policy",
                           str(REPO / "fixtures/policies/beego-production.yaml"),
                           "--max-lifetime", "30d", "--now", str(NOW)]),
        }
        for name, (title, argv) in shots.items():
            text = capture(argv).replace(tree, "./tmp")
            save(text, out / name, title)
            print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
