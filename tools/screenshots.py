#!/usr/bin/env python3
"""Render the README's terminal screenshots as SVG with rich's recording console.

    .venv/bin/python tools/screenshots.py docs/img

Each picture is the real output of a sessdiag command on a fixture tree materialised here
(seeded, so the pictures only change when the output does — except gc-estimate's, which
shows what its probe measured on the machine that rendered it).
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
        live = os.path.join(tmp, "live")
        capture(["fixtures", "make", live, "--spec", str(REPO / "fixtures/casdoor-incident.yaml"),
                 "--quiet"])
        shots = {
            "scan.svg": ("sessdiag scan ./tmp --max-lifetime 30d",
                         ["scan", tree, "--max-lifetime", "30d", "--now", str(NOW),
                          "--seed", "1"]),
            "check.svg": ("sessdiag check ./tmp --policy beego-production.yaml",
                          ["check", tree, "--policy",
                           str(REPO / "fixtures/policies/beego-production.yaml"),
                           "--max-lifetime", "30d", "--now", str(NOW)]),
            "gc-estimate.svg": ("sessdiag gc-estimate ./tmp --max-lifetime 30d "
                                "--assume-latency 5ms",
                                ["gc-estimate", tree, "--max-lifetime", "30d",
                                 "--assume-latency", "5ms", "--now", str(NOW)]),
            "prune.svg": ("sessdiag prune ./tmp --max-age 30d",
                          # prune judges age by the filesystem's clock: a tree made now
                          ["prune", live, "--max-age", "30d"]),
            "clients.svg": ("sessdiag clients --access-log fixtures/logs/php/access.log",
                            ["clients", "--access-log",
                             str(REPO / "fixtures/logs/php/access.log")]),
        }
        for name, (title, argv) in shots.items():
            text = capture(argv).replace(tree, "./tmp").replace(live, "./tmp")
            save(text, out / name, title)
            print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
