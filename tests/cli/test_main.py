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
