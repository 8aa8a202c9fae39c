"""The command line: parse flags, call, render, map errors to exit codes.

Each command lives in its own module of this package and only wires: its flags (the shared
ones come from `options`), one call into the library, one renderer, an exit code. `main`
is the console entry point (`sessdiag = "sessdiag.cli:main"`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from sessdiag.core.errors import SessdiagError

SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def _version(value: bool) -> None:
    if value:
        from sessdiag import __version__

        typer.echo(f"sessdiag {__version__}")
        raise typer.Exit(0)


def _install_completion(shell: str | None) -> None:
    if shell is None:
        return
    from typer._completion_shared import install

    if shell not in SHELLS:
        raise typer.BadParameter(f"not a shell: {shell!r} (one of {', '.join(SHELLS)})",
                                 param_hint="--install-completion")
    done, path = install(shell=shell, prog_name="sessdiag", complete_var="_SESSDIAG_COMPLETE")
    typer.echo(f"{done} completion installed in {path} (takes effect in a new shell)")
    raise typer.Exit(0)


def _show_completion(shell: str | None) -> None:
    if shell is None:
        return
    from typer._completion_shared import get_completion_script

    if shell not in SHELLS:
        raise typer.BadParameter(f"not a shell: {shell!r} (one of {', '.join(SHELLS)})",
                                 param_hint="--show-completion")
    typer.echo(get_completion_script(prog_name="sessdiag", complete_var="_SESSDIAG_COMPLETE",
                                     shell=shell))
    raise typer.Exit(0)


def _root(
    version: Annotated[bool, typer.Option(
        "--version", "-V", is_eager=True, callback=_version,
        help="Print the version and exit.")] = False,
    config: Annotated[str | None, typer.Option(
        "--config", metavar="FILE",
        help="Config file of named stores and defaults (default: ./sessdiag.yaml when it "
             "is one); with a command's --store NAME.")] = None,
    install_completion: Annotated[str | None, typer.Option(
        "--install-completion", metavar="SHELL", callback=_install_completion,
        help="Install completion for SHELL: bash, zsh, fish or powershell.")] = None,
    show_completion: Annotated[str | None, typer.Option(
        "--show-completion", metavar="SHELL", callback=_show_completion,
        help="Print the completion script for SHELL.")] = None,
) -> None:
    """Session-store forensics: size, age, expiry, orphans and GC stalls."""
    # --config is taken out of argv before parsing (sessdiag.config.expand_argv); it is
    # declared here so that --help shows it.
    del version, config, install_completion, show_completion


# One example per command, at the end of its --help.
EXAMPLES = {
    "scan": "sessdiag scan /srv/app/tmp --max-lifetime 30d --output scan.json",
    "inspect": "sessdiag inspect /srv/app/tmp 2853d5c5fbe53ea4c9729910ca7755b0",
    "fixtures make": "sessdiag fixtures make /tmp/demo --spec fixtures/casdoor-incident.yaml",
    "gc-estimate": "sessdiag gc-estimate /srv/app/tmp --max-lifetime 30d --assume-latency 5ms",
    "prune": "sessdiag prune /srv/app/tmp --max-age 30d --apply --rate 500 --quiet",
    "restore": "sessdiag restore /var/backups/prune.bak redis://127.0.0.1:6379/0 --apply",
    "check": "sessdiag check /srv/app/tmp --policy policy.yaml --max-lifetime 30d "
             "--prom /var/lib/node_exporter/textfile/sessdiag.prom --quiet",
    "clients": "sessdiag clients /srv/app/tmp --access-log /var/log/nginx/access.log",
    "merge": "sessdiag merge part1.json part2.json part3.json --output fleet.json",
}


def _epilog(name: str) -> str:
    return f"Example: {EXAMPLES[name]}"


# Each command's function, imported only when that command is built: `sessdiag scan`
# imports and builds the scan command alone (typer turning all ten signatures into click
# commands, and importing their modules, cost a run ~40 ms of CPU).


def _scan() -> Callable[..., Any]:
    from sessdiag.cli import scan

    return scan.scan


def _inspect() -> Callable[..., Any]:
    from sessdiag.cli import inspect

    return inspect.inspect


def _fixtures_make() -> Callable[..., Any]:
    from sessdiag.cli import fixtures

    return fixtures.fixtures_make


def _gc_estimate() -> Callable[..., Any]:
    from sessdiag.cli import gc_estimate

    return gc_estimate.gc_estimate


def _prune() -> Callable[..., Any]:
    from sessdiag.cli import prune

    return prune.prune


def _restore() -> Callable[..., Any]:
    from sessdiag.cli import restore

    return restore.restore


def _check() -> Callable[..., Any]:
    from sessdiag.cli import check

    return check.check


def _clients() -> Callable[..., Any]:
    from sessdiag.cli import clients

    return clients.clients


def _merge() -> Callable[..., Any]:
    from sessdiag.cli import merge

    return merge.merge


# The order here is the order of `sessdiag --help`; a group maps its own commands.
Loader = Callable[[], Callable[..., Any]]
COMMANDS: dict[str, Loader | dict[str, Loader]] = {
    "scan": _scan,
    "inspect": _inspect,
    "fixtures": {"make": _fixtures_make},
    "gc-estimate": _gc_estimate,
    "prune": _prune,
    "restore": _restore,
    "check": _check,
    "clients": _clients,
    "merge": _merge,
}
GROUP_HELP = {"fixtures": "Materialise realistic session trees and Redis keyspaces."}


def build_app(only: str | None = None) -> typer.Typer:
    """The typer app: every command, or only the one named `only` (a run of that command)."""
    app = typer.Typer(
        name="sessdiag",
        help="Session-store forensics: size, age, expiry, orphans and GC stalls.",
        no_args_is_help=True,
        # Our own --install-completion SHELL: typer's auto-detecting flag took `zsh` as a
        # stray argument and installed completion for the shell it detected (bash) instead.
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback(epilog="Example: sessdiag scan /srv/app/tmp --max-lifetime 30d")(_root)
    for name, load in COMMANDS.items():
        if only is not None and name != only:
            continue
        if isinstance(load, dict):
            group = typer.Typer(help=GROUP_HELP[name], no_args_is_help=True)
            for sub, sub_load in load.items():
                group.command(sub, epilog=_epilog(f"{name} {sub}"))(sub_load())
            app.add_typer(group, name=name)
        else:
            app.command(name, epilog=_epilog(name))(load())
    return app

# One metavar style: UPPERCASE words naming what a value is. Values whose options do not
# declare a metavar get it here (typer would print <str>, <int>, {target}).
METAVARS = {
    "target": "TARGET", "tree": "TREE", "backup": "BACKUP", "sid": "SID", "directory": "TARGET",
    "--max-lifetime": "DUR", "--age-max": "DUR", "--gc-interval": "DUR",
    "--race-window": "DUR", "--buckets": "DUR,…", "--app-conf": "FILE", "--policy": "FILE",
    "--spec": "FILE", "--access-log": "FILE", "--profile": "PROFILE", "--workers": "MODEL",
    "--sid-pattern": "REGEX", "--pattern": "GLOB", "--log-format": "FORMAT",
    "--log-field": "NAME=FIELD,…", "--cookie-name": "NAME", "--client-key": "KEY",
    "--ionice": "CLASS", "--now": "EPOCH",
}
_TYPE_METAVARS = {"int": "N", "integer": "N", "float": "NUM"}


def _normalise_metavars(cmd: typer.core.TyperCommand | typer.core.TyperGroup) -> None:
    for sub in getattr(cmd, "commands", {}).values():
        _normalise_metavars(sub)
    for p in getattr(cmd, "params", []):
        if isinstance(p, typer.core.TyperArgument):
            _plain_argument(p, p.metavar or METAVARS.get(p.name or "") or
                            (p.name or "arg").upper())
            continue
        if p.metavar is not None or getattr(p, "is_flag", False):
            continue
        p.metavar = METAVARS.get(p.opts[0]) or _TYPE_METAVARS.get(p.type.name) or (
            (p.name or "value").upper())


def _plain_argument(p: typer.core.TyperArgument, name: str) -> None:
    """Usage shows TARGET and [SID] (typer: {target}), and no <str> type column."""
    p.metavar = name

    def make_metavar(ctx: object, *, usage: bool = False) -> str:
        return f"[{name}]" if usage and not p.required else name

    p.make_metavar = make_metavar  # type: ignore[method-assign]
    p.type = _UNTYPED


class _Untyped(typer._click.types.StringParamType):  # type: ignore[name-defined]
    def get_metavar(self, param: object, ctx: object) -> str:  # type: ignore[override]
        return ""


_UNTYPED = _Untyped()


def _command(argv: list[str] | None = None) -> typer.core.TyperGroup:
    """The click command of the whole CLI; with argv naming a command first, of that command
    alone (what parsing and running it needs; help, errors and exit codes are the same)."""
    only = argv[0] if argv and argv[0] in COMMANDS else None
    cmd = typer.main.get_command(build_app(only))
    _normalise_metavars(cmd)
    return cmd  # type: ignore[return-value]

try:  # typer >= 0.24 vendors click; older releases use click itself
    from typer._click.exceptions import ClickException as _ParseError
    from typer._click.exceptions import NoArgsIsHelpError as _NoArgsIsHelp
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import ClickException as _ParseError  # type: ignore[assignment]
    from click.exceptions import NoArgsIsHelpError as _NoArgsIsHelp  # type: ignore


def main(argv: list[str] | None = None) -> None:
    """Entry point: every failure is one line on stderr and a contract exit code."""
    try:
        from sessdiag.config import expand_argv

        args = expand_argv(list(sys.argv[1:] if argv is None else argv), _resolve_command)
        rv = _command(args)(args=args, prog_name="sessdiag", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except _NoArgsIsHelp as exc:
        # `sessdiag` or `sessdiag fixtures` alone: the help (rich printed it already, plain
        # click returns it), then exit 2 as for any incomplete command line.
        text = exc.format_message()
        if text.strip():
            sys.stdout.write(text + "\n")
        sys.exit(2)
    except _ParseError as exc:
        _fail(exc.format_message(), 2)
    except SessdiagError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); quiet exit like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except RecursionError:
        _fail("input nested too deeply", 2)
    except Exception as exc:  # an unexpected bug: still one line, and a way to see more
        if os.environ.get("SESSDIAG_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (set SESSDIAG_DEBUG=1 for details)",
              70)
    sys.exit(rv if isinstance(rv, int) else 0)


def _resolve_command(argv: list[str]) -> tuple[list[str], set[str] | None]:
    """The words of argv that name a command, and that command's option names."""
    cmd: Any = _command(argv)
    words: list[str] = []
    for token in argv:
        children = getattr(cmd, "commands", None)
        if children is None or token not in children:
            break
        cmd = children[token]
        words.append(token)
    if not words or hasattr(cmd, "commands"):
        return words, None
    return words, {o for p in cmd.params for o in getattr(p, "opts", []) if o.startswith("--")}


def _fail(message: str, code: int) -> None:
    from sessdiag.core.textsafe import escape_unprintable

    line = escape_unprintable(" ".join(str(message).split()))
    sys.stderr.write(f"sessdiag: error: {line}\n")
    sys.exit(code)
