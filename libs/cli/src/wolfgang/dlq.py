"""``wolfgang dlq list|show|replay|purge <channel> --group G``: one group's dead letters of one channel."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from eventbus import DeadLetter, DeadLetters
from rich.table import Table

from wolfgang.console import CliError, guard, out, print_json, run
from wolfgang.tail import check_channels
from wolfgang.target import target

app = typer.Typer(
    help="Dead letters: events a group gave up on, with the reason. Replay keeps the event id.",
    no_args_is_help=True,
)

Channel = Annotated[str, typer.Argument(help="Catalog channel, e.g. message.sent.")]
Group = Annotated[str, typer.Option("--group", "-g", help="The consumer group (a service name).")]
DeadId = Annotated[str | None, typer.Option("--id", help="One dead letter's id (from `dlq list`).")]
All = Annotated[bool, typer.Option("--all", help="Every dead letter of the group on this channel.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Force = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replay even events older than the group's processed-id window (their side effects may repeat).",
    ),
]


def _one_of(dead_id: str | None, every: bool) -> None:
    if (dead_id is None) == (not every):
        raise CliError("give exactly one of --id ID or --all")


@app.command("list")
@guard
def list_(
    ctx: typer.Context,
    channel: Channel,
    group: Group,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    after: Annotated[str | None, typer.Option(help="Page on from this dead-letter id.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Oldest first, with the reason each event was given up."""
    check_channels([channel])

    async def work() -> tuple[int, list[DeadLetter]]:
        async with target(ctx).bus() as bus:
            letters = DeadLetters(bus, channel, group)
            return await letters.count(), await letters.list(count=limit, after=after)

    total, letters = run(work())
    if as_json:
        print_json([letter.public() for letter in letters])
        return
    if not letters:
        out.print(f"no dead letters for group {group} on {channel}")
        return
    table = Table(title=f"{channel} · {group}")
    table.add_column("id", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("tries", justify="right")
    table.add_column("reason", overflow="fold")
    for letter in letters:
        table.add_row(letter.id, letter.event_id, str(letter.attempts), f"{letter.reason}: {letter.error}")
    out.print(table)
    if total > len(letters):
        out.print(f"{len(letters)} of {total}; next page: --after {letters[-1].id}")


@app.command()
@guard
def show(
    ctx: typer.Context, channel: Channel, group: Group, dead_id: DeadId = None, as_json: JsonFlag = False
) -> None:
    """One dead letter whole: reason, error, attempts, and the entry as it was."""
    check_channels([channel])
    if dead_id is None:
        raise CliError("give --id ID (see `wolfgang dlq list`)")

    async def work() -> DeadLetter:
        async with target(ctx).bus() as bus:
            return await DeadLetters(bus, channel, group).get(dead_id)

    letter = run(work()).public()
    envelope = letter["entry"].get("e")
    if envelope:
        try:
            letter["envelope"] = json.loads(envelope)
        except ValueError:
            letter["envelope"] = None  # the entry was garbage: that may be why it is here
    if as_json:
        print_json(letter)
        return
    shown: dict[str, Any] = {k: v for k, v in letter.items() if k != "entry"}
    out.print_json(data=shown)


@app.command()
@guard
def replay(
    ctx: typer.Context,
    channel: Channel,
    group: Group,
    dead_id: DeadId = None,
    every: All = False,
    force: Force = False,
    as_json: JsonFlag = False,
) -> None:
    """Put dead letters back on the channel for this group only, with the same event id.

    Refused for events older than the group's processed-id window (8 days by default) unless --force."""
    check_channels([channel])
    _one_of(dead_id, every)

    async def work() -> int:
        async with target(ctx).bus() as bus:
            letters = DeadLetters(bus, channel, group)
            if dead_id is not None:
                await letters.replay(dead_id, force=force)
                return 1
            return await letters.replay_all(force=force)

    replayed = run(work())
    if as_json:
        print_json({"replayed": replayed})
    else:
        out.print(f"replayed {replayed} dead letter(s) of {group} on {channel}")


@app.command()
@guard
def purge(
    ctx: typer.Context,
    channel: Channel,
    group: Group,
    dead_id: DeadId = None,
    every: All = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete dead letters for good (one with --id, or --all)."""
    check_channels([channel])
    _one_of(dead_id, every)

    async def work() -> int:
        async with target(ctx).bus() as bus:
            return await DeadLetters(bus, channel, group).purge(dead_id)

    purged = run(work())
    if dead_id is not None and purged == 0:
        raise CliError(f"no dead letter {dead_id!r} for group {group} on {channel}")
    if as_json:
        print_json({"purged": purged})
    else:
        out.print(f"purged {purged} dead letter(s) of {group} on {channel}")
