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

import click

from ..errors import LlmsizerError
from . import catalog, estimate, measurements, simulate, studies
from .flags import PRECISIONS, QUANT_PRESETS

__all__ = ["main", "PRECISIONS", "QUANT_PRESETS"]


class OneLineErrors(click.Group):
    """Turn user-fixable errors into one clear line and exit status 2, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LlmsizerError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=OneLineErrors)
@click.version_option(package_name="llmsizer")
def main():
    """Predict LLM inference latency, throughput and memory on AI platforms."""


def _register():
    from ..web.command import app

    for command in (catalog.models, catalog.hardware, estimate.memory, estimate.estimate, measurements.predict,
                    measurements.validate, measurements.calibrate, studies.plans, studies.sweep, catalog.usecases,
                    studies.requirements, studies.search, studies.compare, simulate.simulate, app):
        main.add_command(command)


_register()
