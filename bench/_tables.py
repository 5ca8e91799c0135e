"""Result tables for the benchmarks: rich on a terminal when it is installed, plain text otherwise, Markdown
for ``bench/results/``."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from importlib import util


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


_NUMBER = re.compile(r"^[≥≤]? ?[-+]?[\d,]+(\.\d+)?(×| ms| h|–[\d,]+)?$")


def _numeric(cell: str) -> bool:
    return bool(_NUMBER.match(cell))


def render(tables: list[Table], *, markdown: bool) -> str:
    if markdown:
        return "\n".join(_markdown(t) for t in tables if t.rows)
    if util.find_spec("rich") is not None:
        return _rich(tables)
    return "\n".join(_plain(t) for t in tables if t.rows)


def _markdown(table: Table) -> str:
    align = [
        "---:" if any(_numeric(row[i]) for row in table.rows) else ":---" for i in range(len(table.columns))
    ]
    lines = [
        f"### {table.title}",
        "",
        "| " + " | ".join(table.columns) + " |",
        "| " + " | ".join(align) + " |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def _plain(table: Table) -> str:
    widths = [max(len(c), *(len(row[i]) for row in table.rows)) for i, c in enumerate(table.columns)]
    right = [any(_numeric(row[i]) for row in table.rows) for i in range(len(table.columns))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([table.title, rule, line(table.columns), rule, *(line(row) for row in table.rows), ""])


def _rich(tables: list[Table]) -> str:
    from rich.console import Console
    from rich.table import Table as RichTable

    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    for table in tables:
        if not table.rows:
            continue
        rich_table = RichTable(title=table.title, title_justify="left")
        for i, column in enumerate(table.columns):
            numeric = any(_numeric(row[i]) for row in table.rows)
            rich_table.add_column(column, justify="right" if numeric else "left")
        for row in table.rows:
            rich_table.add_row(*row)
        console.print(rich_table)
    return out.getvalue()
