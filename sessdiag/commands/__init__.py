"""Commands that live in their own module register themselves on the Typer app here."""

from __future__ import annotations

import importlib

import typer

# Each module exposes `register(app: typer.Typer) -> None`.
COMMAND_MODULES = (
    "sessdiag.commands.gc_estimate",
    "sessdiag.commands.prune",
    "sessdiag.commands.check",
    "sessdiag.commands.clients",
)


def register_all(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # command not built yet
        module.register(app)
