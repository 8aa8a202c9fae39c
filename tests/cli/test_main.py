"""The top of the command line (sessdiag/cli/__init__.py): version, help, completion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sessdiag import __version__

COMMANDS = ("scan", "inspect", "gc-estimate", "prune", "check", "clients")


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(cli, flag):
    res = cli(flag)
    assert (res.code, res.out, res.err) == (0, f"sessdiag {__version__}\n", "")


@pytest.mark.parametrize("args", [(), ("fixtures",)])
def test_no_arguments_prints_help_without_an_empty_error(cli, args):
    res = cli(*args)
    assert res.code == 2
    assert "Usage: sessdiag" in res.out
    assert "error" not in res.err


def test_config_and_store_appear_in_help(cli):
    assert "--config" in cli("--help").out
    for command in COMMANDS:
        out = cli(command, "--help").out
        assert "--store" in out and "NAME" in out, command


def test_install_completion_installs_the_shell_asked_for(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    cp = subprocess.run([sys.executable, "-m", "sessdiag", "--install-completion", "zsh"],
                        env=env, capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    script = Path(tmp_path, ".zfunc", "_sessdiag")
    assert script.is_file() and "compdef" in script.read_text()
    assert not (tmp_path / ".bash_completions").exists()
    assert "zsh completion installed" in cp.stdout


def test_completion_for_an_unknown_shell_is_a_usage_error(cli):
    res = cli("--show-completion", "tcsh")
    assert res.code == 2 and "not a shell: 'tcsh'" in res.err


def _leaf_commands():  # type: ignore[no-untyped-def]
    import typer

    from sessdiag.cli import _command

    root = _command()
    out = []
    for name, cmd in root.commands.items():
        subs = getattr(cmd, "commands", None)
        if subs:
            out += [(f"{name} {n}", c) for n, c in subs.items()]
        else:
            out.append((name, cmd))
    assert isinstance(root, typer.core.TyperGroup)
    return out


def test_every_option_described_in_one_metavar_style():
    import re

    for name, cmd in _leaf_commands():
        for p in cmd.params:
            if getattr(p, "hidden", False):
                continue
            assert getattr(p, "help", None), f"{name} {p.opts[0]} has no description"
            if getattr(p, "is_flag", False):
                continue
            assert re.fullmatch(r"[A-Z][A-Z_=]*(,…)?", p.metavar or ""), (name, p.metavar)


@pytest.mark.parametrize("command", [*COMMANDS, "fixtures make"])
def test_every_command_help_has_an_example_and_plain_metavars(cli, command):
    from sessdiag.cli import EXAMPLES

    out = cli(*command.split(), "--help").out
    flat = " ".join(out.replace("│", " ").split())
    assert f"Example: {EXAMPLES[command]}" in flat
    for typer_style in ("<str>", "<int>", "<float>", "{target}", "{TARGET}", "{tree}"):
        assert typer_style not in out, (command, typer_style)
    # The example's flags are the command's own.
    options = {o for _n, c in _leaf_commands() if _n == command for p in c.params
               for o in p.opts}
    for word in EXAMPLES[command].split():
        if word.startswith("--"):
            assert word in options, (command, word)
