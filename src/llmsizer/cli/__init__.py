"""The `llmsizer` command line: one thin command per module group, heavy libraries loaded inside
the commands that need them (numpy, pandas, rich, matplotlib), errors a user can fix as one line.

- catalog: models, hardware, usecases
- estimate: estimate, memory
- measurements: predict, validate, calibrate
- studies: plans, sweep, requirements, search, compare
- simulate: serving under load
- the web app's command lives with the app (web/command.py)
"""

from __future__ import annotations

import sys
from importlib import import_module

import click

from ..errors import LlmsizerError
from .flags import PRECISIONS, QUANT_PRESETS

__all__ = ["main", "PRECISIONS", "QUANT_PRESETS"]

#: each command and where it lives, imported only when it runs (or when --help lists them all),
#: so that one command does not pay for building every other command's options
COMMANDS = {
    "models": "catalog", "hardware": "catalog", "memory": "estimate", "estimate": "estimate",
    "predict": "measurements", "validate": "measurements", "calibrate": "measurements", "plans": "studies",
    "sweep": "studies", "usecases": "catalog", "requirements": "studies", "search": "studies", "compare": "studies",
    "simulate": "simulate", "app": "web",
}


class Commands(click.Group):
    """Commands loaded on demand; user-fixable errors become one clear line and exit status 2,
    never a traceback."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module = "llmsizer.web.command" if COMMANDS[name] == "web" else f"{__name__}.{COMMANDS[name]}"
        return getattr(import_module(module), name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LlmsizerError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=Commands)
@click.version_option(package_name="llmsizer")
def main():
    """Predict LLM inference latency, throughput and memory on AI platforms."""
