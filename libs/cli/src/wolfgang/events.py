"""The channels' retained streams: ``publish`` an event, read ``events`` back, ``replay`` history to a group."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import typer
from eventbus import Bus, Envelope, InvalidEvent, catalog, group_stats, replay_since
from eventbus.operations import forget_processed

from wolfgang import tail
from wolfgang.console import CliError, out, print_json, run
from wolfgang.since import parse_since, stream_id
from wolfgang.target import target

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@dataclass(frozen=True)
class Entry:
    """One stream entry: the envelope, or why it could not be read (garbage is shown, not hidden)."""

    entry_id: str
    event: Envelope[Any] | None
    problem: str | None = None
    raw: str = ""

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(int(self.entry_id.split("-")[0]) / 1000).astimezone()

    def public(self) -> dict[str, Any]:
        if self.event is not None:
            return {"entry_id": self.entry_id, "event": json.loads(self.event.to_wire())}
        return {"entry_id": self.entry_id, "event": None, "problem": self.problem, "raw": self.raw}


def _entry(entry_id: bytes, fields: dict[bytes, bytes]) -> Entry:
    eid = entry_id.decode()
    raw = fields.get(b"e", b"")
    try:
        version = int(fields.get(b"v", b"0"))
        event = catalog.parse(raw, event_type=fields.get(b"t", b"").decode() or None, version=version or None)
    except (InvalidEvent, ValueError) as exc:
        return Entry(eid, None, str(exc), raw.decode(errors="replace"))
    return Entry(eid, event)


async def history(
    bus: Bus, event_type: str, since: datetime, *, limit: int, oldest_first: bool = False
) -> list[Entry]:
    """Up to ``limit`` entries of the channel from ``since``, in publish order: the newest ones
    (``XREVRANGE``) unless ``oldest_first`` (``XRANGE``). Stream ids begin with the append time in ms."""
    catalog.channel(event_type)
    stream, start = bus.keys.stream(event_type), stream_id(since)
    rows: list[tuple[bytes, dict[bytes, bytes]]]
    if oldest_first:
        rows = await bus.redis.xrange(stream, start, "+", count=limit) or []  # type: ignore[assignment]
    else:
        newest = await bus.redis.xrevrange(stream, "+", start, count=limit) or []
        rows = list(reversed(newest))  # type: ignore[arg-type]
    return [_entry(i, f) for i, f in rows]


def publish(
    ctx: typer.Context,
    event_type: Annotated[str, typer.Argument(help="Catalog type, e.g. lead.created.")],
    payload: Annotated[str, typer.Option("--payload", "-p", help="The payload as a JSON object.")],
    company_id: Annotated[str, typer.Option("--company-id", "-c", help="The envelope's company_id.")],
    dedupe_key: Annotated[
        str | None, typer.Option(help="Producer idempotency key: a repeat publishes nothing.")
    ] = None,
    correlation_id: Annotated[
        str | None, typer.Option(help="Continue a thread (default: a new one).")
    ] = None,
    version: Annotated[int | None, typer.Option(help="Payload version (default: the latest).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Publish one event, validated against the catalog; prints its event id."""
    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise CliError(f"--payload is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise CliError("--payload must be a JSON object")

    async def work() -> Any:
        event = catalog.build(
            event_type,
            body,
            version=version,
            source="wolfgang",
            company_id=company_id,
            correlation_id=correlation_id,
        )
        async with target(ctx).bus() as bus:
            return await bus.publish(event, dedupe_key=dedupe_key)

    published = run(work())
    if as_json:
        print_json(
            {
                "event_id": published.event_id,
                "entry_id": published.entry_id,
                "duplicate": published.duplicate,
            }
        )
    else:
        out.print(published.event_id)
        if published.duplicate:
            out.print("[yellow]duplicate:[/] that dedupe key was seen; nothing published", markup=True)


def events(
    ctx: typer.Context,
    event_type: Annotated[str, typer.Argument(help="Catalog type, e.g. message.received.")],
    since: Annotated[str, typer.Option(help="An age (10m, 1h, 2d) or an ISO 8601 time.")] = "10m",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    oldest: Annotated[
        bool, typer.Option("--oldest", help="The first LIMIT after --since, not the last.")
    ] = False,
    wide: Annotated[bool, typer.Option("--wide", help="Full ids and the company.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Recent events of one channel, read from its retained stream (not live: see `tail`)."""
    moment = parse_since(since)

    async def work() -> list[Entry]:
        async with target(ctx).bus() as bus:
            return await history(bus, event_type, moment, limit=limit, oldest_first=oldest)

    entries = run(work())
    if as_json:
        print_json([e.public() for e in entries])
        return
    if not entries:
        out.print(f"no {event_type} events since {moment:%Y-%m-%d %H:%M:%S %Z}")
        return
    for entry in entries:
        if entry.event is not None:
            out.print(tail.render(entry.event, wide=wide))
        else:
            out.print(f"[red]{entry.entry_id} unreadable:[/] {entry.problem}", markup=True)


def replay(
    ctx: typer.Context,
    channel: Annotated[str, typer.Argument(help="Catalog channel, e.g. lead.created.")],
    group: Annotated[str, typer.Option("--group", "-g", help="The consumer group (a service name).")],
    since: Annotated[str, typer.Option(help="An age (1h, 2d) or an ISO 8601 time.")] = "1h",
    rebuild: Annotated[
        bool,
        typer.Option("--rebuild", help="Forget what the group processed first, so every handler runs again."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replay even from before the group's processed-id window (side effects may repeat).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Deliver a channel's retained history from --since to one group again.

    Events the group already processed are skipped (side effects stay once) unless --rebuild. A --since
    before the group's processed-id window (8 days by default) is refused unless --force (or --rebuild,
    which asks for every handler to run again anyway).
    """
    moment = parse_since(since)
    tail.check_channels([channel])

    async def work() -> None:
        async with target(ctx).bus() as bus:
            if group not in {s.group for s in await group_stats(bus, channel)}:
                raise CliError(
                    f"channel {channel} has no consumer group {group!r} (see `wolfgang consumers`)"
                )
            if rebuild:
                await forget_processed(bus, channel, group)
            await replay_since(bus, channel, group, moment, force=force or rebuild)

    run(work())
    if as_json:
        print_json({"channel": channel, "group": group, "since": moment.isoformat(), "rebuild": rebuild})
    else:
        out.print(
            f"group [bold]{group}[/] of [bold]{channel}[/] will receive the events since "
            f"{moment.astimezone():%Y-%m-%d %H:%M:%S %Z} again"
            + (" (processed ids forgotten: handlers run again)" if rebuild else ""),
            markup=True,
        )
