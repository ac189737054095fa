"""What every command prints with (rich tables sized for the terminal or a pipe, valid JSON) and
the parameter types that refuse bad values before any work starts (non-finite numbers, output
files that cannot be written)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import click


class FiniteRange(click.FloatRange):
    """A float range that also refuses nan and inf."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class OutputFile(click.Path):
    """A file to write: its folder must exist and be writable, its extension one of `suffixes`."""

    def __init__(self, suffixes: tuple[str, ...] = ()):
        super().__init__(dir_okay=False, writable=True)
        self.suffixes = suffixes

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        path = Path(value)
        if self.suffixes and path.suffix.lower() not in self.suffixes:
            self.fail(f"{value!r} must end in {', '.join(self.suffixes)}", param, ctx)
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            self.fail(f"{value!r}: the folder {str(folder)!r} does not exist", param, ctx)
        if not os.access(folder, os.W_OK):
            self.fail(f"{value!r}: the folder {str(folder)!r} is not writable", param, ctx)
        return value


#: where a plot may be drawn
PLOT_FILE = OutputFile((".png", ".svg"))


def console():
    """A console for tables: the terminal's width, or 160 columns when output goes to a pipe or file."""
    from rich.console import Console

    found = Console()
    return found if found.is_terminal else Console(width=160)


def table(title: str, columns: list[str], rows: list[list], justify_right: bool = True):
    """A borderless table, the first column left-aligned and the others right-aligned."""
    from rich.table import Table

    out = Table(title=title, title_justify="left", show_edge=False)
    for i, col in enumerate(columns):
        out.add_column(col, justify="right" if justify_right and i else "left")
    for row in rows:
        out.add_row(*[str(x) for x in row])
    return out


def echo_json(data, **options) -> None:
    """Print `data` as indented JSON; a number that is not finite (no value) is written as null,
    so the output is always valid JSON."""
    click.echo(json.dumps(_finite(data), indent=2, allow_nan=False, **options))


def _finite(data):
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(value) for value in data]
    return data
