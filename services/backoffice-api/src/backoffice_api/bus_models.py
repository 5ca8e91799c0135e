"""The event bus as the API shows it: retained events, consumer groups and dead letters (/v1/events, /v1/ops);
derived from eventbus's own types where it has them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventbus import DeadLetter, GroupStats
from pydantic import BaseModel
from servicekit.schemas import fields_of

from backoffice_api.models import EventType


class EventPublic(BaseModel):
    id: str
    type: EventType
    version: int
    occurred_at: datetime
    company_id: str
    source: str
    correlation_id: str
    causation_id: str | None
    payload: dict[str, Any]


class EventsPage(BaseModel):
    items: list[EventPublic]
    #: Pass as ``before`` for older events; null when the retained stream is exhausted.
    next_before: str | None


class GroupStatsPublic(BaseModel):
    """eventbus's GroupStats of one channel (its drop counters are not part of this answer)."""

    __annotations__ = {"channel": EventType, **fields_of(GroupStats, omit=("dropped", "dropped_at"))}


class GroupsList(BaseModel):
    items: list[GroupStatsPublic]


class DeadLetterPublic(BaseModel):
    """eventbus's DeadLetter with its event parsed: the raw stream ``entry`` is never answered."""

    __annotations__ = {**fields_of(DeadLetter, omit=("entry",)), "event": EventPublic | None}


class DeadLettersPage(BaseModel):
    items: list[DeadLetterPublic]
    next_after: str | None


class Replayed(BaseModel):
    replayed: int


class Purged(BaseModel):
    purged: int
