"""Run sessdiag in a subprocess that changes the store at an exact point of its run.

A Python audit hook (`sys.addaudithook`, inherited by forked workers) performs the actions
synchronously when sessdiag is about to open a directory or a file of a given name (`open`
event with or without O_DIRECTORY) or to create a given file (`open` with O_CREAT: prune's
journal, written just before its act pass). No timing is involved: the change happens
between two system calls of sessdiag's own. Used by the symlink-swap and hard-link race tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DRIVER = r"""
import json, os, sys
spec = json.loads(sys.argv[1])
state = {"done": False, "busy": False}

def act():
    state["busy"] = True
    try:
        for action in spec["actions"]:
            if action[0] == "swap":  # swap DIR AWAY: move DIR to AWAY, symlink DIR -> AWAY
                if os.path.islink(action[1]):
                    return  # another forked worker swapped it already
                os.rename(action[1], action[2])
                os.symlink(action[2], action[1])
            elif action[0] == "link":  # link SRC DST: a second hard link to SRC
                os.link(action[1], action[2])
            elif action[0] == "relink":  # relink TARGET PATH: PATH becomes a symlink to TARGET
                os.unlink(action[2])
                os.symlink(action[1], action[2])
        with open(spec["log"], "a") as f:
            f.write("acted\n")
    except OSError as exc:
        with open(spec["log"], "a") as f:
            f.write(f"error {exc}\n")
    finally:
        state["done"] = True
        state["busy"] = False

def hook(event, args):
    if state["done"] or state["busy"] or event != "open":
        return
    path, _mode, flags = args
    if not isinstance(path, str) or not flags:
        return
    if spec["on"] == "open-dir" and os.path.basename(path) == spec["name"] \
            and flags & os.O_DIRECTORY:
        act()
    elif spec["on"] == "create" and path == spec["path"] and flags & os.O_CREAT:
        act()
    elif spec["on"] == "open-file" and os.path.basename(path) == spec["name"] \
            and not flags & os.O_DIRECTORY:
        act()

sys.addaudithook(hook)
from sessdiag.cli import main
main(sys.argv[2:])
"""


def run_hooked(when: dict[str, str], actions: list[list[str]], log: Path,
               *args: str) -> subprocess.CompletedProcess[str]:
    """`sessdiag ARGS` with ACTIONS done once at WHEN; asserts that they were done."""
    spec = {**when, "actions": actions, "log": str(log)}
    cp = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(spec), *args],
                        capture_output=True, text=True, timeout=300)
    assert log.is_file() and log.read_text() == "acted\n", (
        log.read_text() if log.is_file() else "never acted", cp.stderr[-2000:])
    return cp
