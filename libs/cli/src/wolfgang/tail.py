"""The live bus, one readable line per event: ``wolfgang tail`` and the tail ``wolfgang up`` keeps open.

It reads the live Pub/Sub taps, so it is at-most-once: events published while it is not connected, or that
it is too slow to take, are not shown (they are still in the streams: ``wolfgang events`` reads those).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from eventbus import CHANNELS, Bus, Envelope, tap
from rich.text import Text

from wolfgang.console import CliError

COLOURS = {
    "message.received": "cyan",
    "message.sent": "blue",
    "lead.created": "green",
    "lead.qualified": "bold green",
    "contract.created": "magenta",
    "contract.signed": "bold magenta",
    "instance.status": "yellow",
}
# Correlation ids get a stable colour each so that one conversation's events are easy to follow by eye.
_THREAD_COLOURS = ("bright_cyan", "bright_magenta", "bright_yellow", "bright_green", "bright_blue", "orange1")


def check_channels(channels: Iterable[str]) -> tuple[str, ...]:
    names = tuple(channels)
    unknown = [c for c in names if c not in CHANNELS]
    if unknown:
        raise CliError(f"unknown channel {unknown[0]!r}; the catalog has: {', '.join(CHANNELS)}")
    return names


def _clip(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def summary(event: Envelope[Any]) -> str:
    """What a person wants to see of each payload, in one short phrase."""
    p = event.payload
    match event.type:
        case "message.received":
            what = f'"{_clip(p.body)}"' if p.body else (f"[{p.media.precise_kind}]" if p.media else "(empty)")
            ad = " via ad" if p.referral else ""
            return f"{p.lead_external_id} → {p.instance_id}{ad}: {what}"
        case "message.sent":
            more = f" (+{len(p.messages) - 1} more)" if len(p.messages) > 1 else ""
            return f'{p.instance_id} → {p.to}: "{_clip(p.messages[0].text)}"{more}'
        case "lead.created":
            return f"{p.lead_id} {p.channel} source={p.source}"
        case "lead.qualified":
            return f"{p.lead_id} score={p.score:.2f} {','.join(p.criteria)}"
        case "contract.created":
            return f"{p.contract_id} deal={p.deal_id} {p.value:.2f} {p.currency}"
        case "contract.signed":
            return f"{p.contract_id} deal={p.deal_id} {p.value:.2f} {p.currency} signed"
        case "instance.status":
            return f"{p.instance_id} {p.status}"
    return ""


def render(event: Envelope[Any], *, wide: bool = False) -> Text:
    thread = _THREAD_COLOURS[zlib.crc32(event.correlation_id.encode()) % len(_THREAD_COLOURS)]
    line = Text()
    line.append(event.occurred_at.astimezone().strftime("%H:%M:%S.%f")[:-3], style="dim")
    line.append("  ")
    line.append(f"{event.type:<17}", style=COLOURS.get(event.type, "white"))
    line.append(event.correlation_id if wide else f"…{event.correlation_id[-8:]}", style=thread)
    line.append("  ")
    line.append(f"{event.source:<19}", style="dim")
    line.append(summary(event))
    if wide:
        line.append(f"  {event.id} company={event.company_id}", style="dim")
        if event.causation_id:
            line.append(f" cause={event.causation_id}", style="dim")
    return line


async def follow(
    bus: Bus,
    channels: Iterable[str] = (),
    *,
    on_event: Callable[[Envelope[Any]], None],
    pattern: str | None = None,
    company_id: str | None = None,
    count: int | None = None,
    subscribed: asyncio.Event | None = None,
) -> int:
    """Call ``on_event`` for each live event until cancelled or ``count`` were shown; returns how many."""
    shown = 0
    async with tap(bus, *check_channels(channels), pattern=pattern) as events:
        if subscribed is not None:
            subscribed.set()
        async for event in events:
            if company_id is not None and event.company_id != company_id:
                continue
            on_event(event)
            shown += 1
            if count is not None and shown >= count:
                break
    return shown
