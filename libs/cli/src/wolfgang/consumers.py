"""``wolfgang consumers``: every consumer group of every catalog channel, with its backlog."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer
from eventbus import CHANNELS, Bus, group_stats
from rich.table import Table

from wolfgang.console import guard, out, print_json, run
from wolfgang.target import target


async def all_groups(bus: Bus) -> list[dict[str, Any]]:
    rows = []
    for channel in CHANNELS:
        for stats in await group_stats(bus, channel):
            rows.append({"channel": channel, **asdict(stats)})
    return rows


@guard
def consumers(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Per channel and group: consumers, pending (delivered, not yet acknowledged), lag (not yet
    delivered), dead letters, and events dropped unread at the stream's hard ceiling (docs/retention.md)."""

    async def work() -> list[dict[str, Any]]:
        async with target(ctx).bus() as bus:
            return await all_groups(bus)

    rows = run(work())
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no consumer groups yet (they appear when the services start)")
        return
    table = Table(title="consumer groups")
    table.add_column("channel", no_wrap=True)
    table.add_column("group", no_wrap=True)
    for numeric in ("consumers", "pending", "lag", "dead letters", "dropped"):
        table.add_column(numeric, justify="right")
    for row in rows:
        lag = "?" if row["lag"] is None else str(row["lag"])
        dead = row["dead_letters"]
        table.add_row(
            row["channel"],
            row["group"],
            str(row["consumers"]),
            _warn(row["pending"]),
            _warn(None if row["lag"] is None else row["lag"], lag),
            f"[bold red]{dead}[/]" if dead else "0",
            f"[bold red]{row['dropped']}[/]" if row["dropped"] else "0",
        )
    out.print(table)


def _warn(value: int | None, text: str | None = None) -> str:
    shown = text if text is not None else str(value)
    return f"[yellow]{shown}[/]" if value else shown
