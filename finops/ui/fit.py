"""Tables that fit the terminal: amounts are never cut, names wrap, and in a narrow terminal the least useful
columns give way first, with a note saying which.

A cut amount reads as another amount (`1,6` for 1,669), so every right-aligned column (and any named in `whole`:
dates, periods) is `no_wrap` with a `min_width` from its widest value and header. Other columns fold. When even
that does not fit, the columns named in `drop` are removed in that order (least useful first) until it does.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from rich.console import Group, RenderableType
from rich.table import Column, Table
from rich.text import Text

FLEX_MIN = 12  # what a folding column is counted at when judging whether a table fits
NAME_MIN = 20  # and the first one, which names the row: it is worth more than a secondary column


def _width(cell: object) -> int:
    text = cell if isinstance(cell, Text) else Text.from_markup(cell) if isinstance(cell, str) else Text(str(cell))
    return max((Text(line).cell_len for line in text.plain.splitlines()), default=0)


def _header_width(column: Column) -> int:
    return _width(column.header)


def _least(table: Table, whole: Collection[str]) -> int:
    """The narrowest the table can be with every whole column intact and the others folded."""
    pad = table.padding[1] + table.padding[3] if len(table.padding) == 4 else 2
    total = 0
    for i, column in enumerate(table.columns):
        if column.no_wrap or column.header in whole:
            total += column.min_width or 0
        else:
            widest = max([_header_width(column)] + [_width(c) for c in column.cells])
            total += max(column.min_width or 0, min(NAME_MIN if i == 0 else FLEX_MIN, widest))
        total += pad
    if table.box is not None:
        total += len(table.columns) - 1 + (2 if table.show_edge else 0)
    return total


def fit_table(table: Table, width: int, *, drop: Sequence[str] = (), whole: Collection[str] = ()) -> RenderableType:
    """Make `table` readable at `width` (see the module docstring). Returns the table, or the table and a note."""
    keep = {str(c.header) for c in table.columns if c.justify == "right"} | set(whole)
    for column in table.columns:
        if str(column.header) in keep:
            column.no_wrap = True
            column.max_width = None
            column.min_width = max([_header_width(column)] + [_width(c) for c in column.cells])
        else:
            column.no_wrap = False
            column.overflow = "fold"
    dropped: list[str] = []
    for name in drop:
        if _least(table, keep) <= width:
            break
        for i, column in enumerate(table.columns):
            if i > 0 and column.header == name:
                del table.columns[i]
                dropped.append(name or "bar")
                break
    if not dropped:
        return table
    note = f"Not shown at {width} columns: {', '.join(dropped)}"
    return Group(table, Text(note, style="dim"))
