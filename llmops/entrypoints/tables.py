"""Aligned text tables with a header row, for the CLI's list commands (rendered by rich)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table


def text_table(headers: Sequence[str], rows: Sequence[Sequence[object]], width: int = 160) -> str:
    """`rows` under `headers`, columns aligned, no colour: the same on a terminal and in a pipe."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, highlight=False)
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, markup=False).print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()).strip("\n")
