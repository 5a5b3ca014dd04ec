"""Terminal output: rich tables for people, JSON for scripts.

Data printed for people passes :func:`printable` first: a title, a payload or a detail
from the outside must not move the cursor, recolour the terminal or set its title.
JSON escapes control characters by itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from infra.settings import Settings

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # messages stay whole lines


def settings_of(ctx: typer.Context) -> Settings:
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters (escape sequences among them) shown as ``\\xNN``;
    tabs and newlines are kept."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


_C1 = re.compile(r"[\x7f-\x9f]")


def json_line(data: object) -> str:
    """``data`` as one line of JSON, non-ASCII text kept but C1 controls escaped (JSON
    itself escapes only the C0 ones)."""
    text = json.dumps(data, default=str, ensure_ascii=False)
    return _C1.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text("" if cell is None else printable(str(cell))) for cell in row))
    console.print(table)
