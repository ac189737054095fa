"""What every command prints with: rich tables sized for the terminal or a pipe, and JSON."""

from __future__ import annotations

import json

import click


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
    """Print `data` as indented JSON."""
    click.echo(json.dumps(data, indent=2, **options))
