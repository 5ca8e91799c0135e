"""The bus as backoffice-api shows it to operators: events, consumer groups, dead letters, replays and purges
(also reachable as ``backoffice_client.models.Event`` and so on)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backoffice_client.base import EventType, Model


class Event(Model):
    id: str
    type: EventType
    version: int
    occurred_at: datetime
    company_id: str
    source: str
    correlation_id: str
    causation_id: str | None
    payload: dict[str, Any]


class EventsPage(Model):
    items: list[Event]
    next_before: str | None


class GroupStats(Model):
    channel: EventType
    group: str
    consumers: int
    pending: int
    lag: int | None
    last_delivered_id: str
    dead_letters: int


class GroupsList(Model):
    items: list[GroupStats]


class DeadLetter(Model):
    id: str
    channel: str
    group: str
    reason: str
    error: str
    event_id: str
    entry_id: str
    consumer: str
    attempts: int
    published_at: str
    dead_lettered_at: str
    event: Event | None


class DeadLettersPage(Model):
    items: list[DeadLetter]
    next_after: str | None


class Replayed(Model):
    replayed: int


class Purged(Model):
    purged: int
