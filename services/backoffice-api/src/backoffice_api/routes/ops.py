"""Operations on the bus: consumer groups with lag, pending and dead-letter counts; dead letters listed,
inspected, replayed (one or all) and purged.

Group counts (lag, pending, dead letters) are platform-wide: a group serves every company and its numbers
cannot be split by company, so they need the ``platform:admin`` scope, which only the platform's own
operators' keys hold. Dead letters hold events, so an ``ops:admin`` key sees only its own company's, unless it
also holds ``platform:admin``: then every company's, and those whose envelope cannot be read (no company).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from eventbus import CHANNELS, DeadLetter, DeadLetterNotFound, DeadLetters, InvalidEvent, catalog, group_stats
from fastapi import APIRouter, Path, Query
from servicekit import NotFound

from backoffice_api.apikeys import ApiKey
from backoffice_api.bus_models import (
    DeadLetterPublic,
    DeadLettersPage,
    EventPublic,
    GroupsList,
    GroupStatsPublic,
    Purged,
    Replayed,
)
from backoffice_api.deps import PLATFORM_SCOPE, OpsAdmin, PlatformAdmin, PortsDep, stream_id
from backoffice_api.models import GROUP, STREAM_ID, EventType
from backoffice_api.routes import COMMON_ERRORS, NOT_FOUND
from backoffice_api.routes.events import event_public

router = APIRouter(prefix="/v1/ops", tags=["operations"], responses=COMMON_ERRORS)
Group = Annotated[str, Path(pattern=GROUP)]
DeadId = Annotated[str, Path(pattern=STREAM_ID)]
#: Dead letters read per request at most while filling a page with this company's.
SCAN_BUDGET = 1000


def _event(letter: DeadLetter) -> EventPublic | None:
    raw = letter.entry.get("e")
    if not raw:
        return None
    try:
        return event_public(catalog.parse(raw))
    except InvalidEvent:
        return None


def _company(letter: DeadLetter) -> str | None:
    try:
        value = json.loads(letter.entry.get("e") or "{}").get("company_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _visible(letter: DeadLetter, key: ApiKey) -> bool:
    return PLATFORM_SCOPE in key.scopes or _company(letter) == key.company_id


def letter_public(letter: DeadLetter) -> DeadLetterPublic:
    fields: dict[str, Any] = {k: v for k, v in letter.public().items() if k != "entry"}
    return DeadLetterPublic.model_validate({**fields, "event": _event(letter)})


async def _mine(letters: DeadLetters, key: ApiKey, dead_id: str) -> DeadLetter:
    stream_id("dead_id", dead_id)
    try:
        letter = await letters.get(dead_id)
    except DeadLetterNotFound:
        letter = None
    if letter is None or not _visible(letter, key):
        raise NotFound(f"dead letter {dead_id} not found")
    return letter


async def _all_mine(letters: DeadLetters, key: ApiKey) -> list[DeadLetter]:
    found: list[DeadLetter] = []
    after = None
    while batch := await letters.list(count=200, after=after):
        found.extend(letter for letter in batch if _visible(letter, key))
        after = batch[-1].id
    return found


@router.get(
    "/groups",
    summary="Consumer groups per channel: consumers, pending, lag, dead letters (platform-wide: platform:admin)",
)
async def groups(key: PlatformAdmin, ports: PortsDep) -> GroupsList:
    rows = []
    for channel in CHANNELS:
        for stats in await group_stats(ports.bus, channel):
            rows.append(GroupStatsPublic.model_validate({"channel": channel, **stats.__dict__}))
    return GroupsList(items=rows)


@router.get("/dead-letters/{channel}/{group}", summary="This company's dead letters of a group, oldest first")
async def list_dead_letters(
    channel: EventType,
    group: Group,
    key: OpsAdmin,
    ports: PortsDep,
    after: Annotated[str | None, Query(pattern=STREAM_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeadLettersPage:
    letters = DeadLetters(ports.bus, channel, group)
    items: list[DeadLetterPublic] = []
    scanned, last, exhausted = 0, stream_id("after", after), False
    while len(items) < limit and scanned < SCAN_BUDGET:
        batch = await letters.list(count=100, after=last)
        if not batch:
            exhausted = True
            break
        for letter in batch:
            scanned += 1
            last = letter.id
            if _visible(letter, key):
                items.append(letter_public(letter))
                if len(items) == limit:
                    break
    return DeadLettersPage(items=items, next_after=None if exhausted else last)


@router.get("/dead-letters/{channel}/{group}/{dead_id}", responses=NOT_FOUND, summary="One dead letter")
async def get_dead_letter(
    channel: EventType, group: Group, dead_id: DeadId, key: OpsAdmin, ports: PortsDep
) -> DeadLetterPublic:
    return letter_public(await _mine(DeadLetters(ports.bus, channel, group), key, dead_id))


@router.post(
    "/dead-letters/{channel}/{group}/{dead_id}/replay",
    responses=NOT_FOUND,
    summary="Put one dead letter back on the stream for its group (same event id)",
)
async def replay_dead_letter(
    channel: EventType, group: Group, dead_id: DeadId, key: OpsAdmin, ports: PortsDep
) -> Replayed:
    letters = DeadLetters(ports.bus, channel, group)
    await _mine(letters, key, dead_id)
    try:
        await letters.replay(dead_id)
    except DeadLetterNotFound:  # replayed or purged by someone else meanwhile
        raise NotFound(f"dead letter {dead_id} not found") from None
    return Replayed(replayed=1)


@router.post("/dead-letters/{channel}/{group}/replay", summary="Replay all of this company's dead letters")
async def replay_dead_letters(channel: EventType, group: Group, key: OpsAdmin, ports: PortsDep) -> Replayed:
    letters = DeadLetters(ports.bus, channel, group)
    replayed = 0
    for letter in await _all_mine(letters, key):
        try:
            await letters.replay(letter.id)
        except DeadLetterNotFound:
            continue
        replayed += 1
    return Replayed(replayed=replayed)


@router.delete(
    "/dead-letters/{channel}/{group}/{dead_id}", responses=NOT_FOUND, summary="Purge one dead letter"
)
async def purge_dead_letter(
    channel: EventType, group: Group, dead_id: DeadId, key: OpsAdmin, ports: PortsDep
) -> Purged:
    letters = DeadLetters(ports.bus, channel, group)
    await _mine(letters, key, dead_id)
    return Purged(purged=await letters.purge(dead_id))


@router.delete("/dead-letters/{channel}/{group}", summary="Purge all of this company's dead letters")
async def purge_dead_letters(channel: EventType, group: Group, key: OpsAdmin, ports: PortsDep) -> Purged:
    letters = DeadLetters(ports.bus, channel, group)
    purged = 0
    for letter in await _all_mine(letters, key):
        purged += await letters.purge(letter.id)
    return Purged(purged=purged)
