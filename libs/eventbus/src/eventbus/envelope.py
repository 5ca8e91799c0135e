"""The catalog's envelope: every event on the bus travels in one of these.

Wire form (catalog, "Envelope padrão")::

    {"id": "evt_<ULID>", "type": "message.received", "version": 1,
     "occurred_at": "2025-12-16T12:00:00.000Z", "company_id": "cmp_…", "source": "evolution-manager",
     "correlation_id": "cor_…", "causation_id": null, "payload": {…}}

plus two optional, backward-compatible fields, ``traceparent`` (W3C Trace Context) and ``request_id`` (the
``X-Request-ID`` of the HTTP request that led to the event), left out of the wire form when absent so that the
catalog's own examples stay byte-for-byte valid.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
)

from eventbus import context, ids


def _to_utc_millis(value: datetime) -> datetime:
    # The wire keeps milliseconds only; truncating on the way in makes from_wire(to_wire(e)) == e.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.tzinfo is not UTC:
        value = value.astimezone(UTC)  # also pydantic's own UTC tzinfo from a "Z": one type downstream
    if value.microsecond % 1000:
        value = value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value


def format_timestamp(value: datetime) -> str:
    """ISO 8601, UTC, milliseconds and ``Z``: ``2025-12-16T12:00:00.000Z``."""
    # isoformat (with an aware UTC value: "+00:00" last) is three times faster than strftime.
    return _to_utc_millis(value).isoformat(timespec="milliseconds")[:-6] + "Z"


UtcTimestamp = Annotated[
    datetime,
    AfterValidator(_to_utc_millis),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]
EventId = Annotated[str, Field(pattern=ids.EVENT_ID.pattern, examples=["evt_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"])]
TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
#: What an ``X-Request-ID`` may be: short, printable, no spaces or quotes (it goes into headers and logs).
REQUEST_ID = r"^[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,63}$"


class Payload(BaseModel):
    """Base of every catalog payload. Subclasses name their channel and version.

    Consumers tolerate extra fields (catalog, "Versionamento"): unknown keys are ignored, never an error.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    event_type: ClassVar[str]
    event_version: ClassVar[int]

    def wire_absent(self) -> set[str] | None:
        """The optional fields (by attribute name) this payload leaves off the wire rather than send as null."""
        return None


P = TypeVar("P", bound=Payload)


def now() -> datetime:
    return _to_utc_millis(datetime.now(UTC))


class Envelope(BaseModel, Generic[P]):
    """One event. Immutable; build new ones with :meth:`new`, read wire bytes with the catalog."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: EventId
    type: str = Field(min_length=1)
    version: int = Field(ge=1)
    occurred_at: UtcTimestamp
    company_id: str = Field(min_length=1, max_length=64)
    source: str = Field(min_length=1, max_length=64)
    correlation_id: str = Field(min_length=1, max_length=64)
    causation_id: str | None = Field(default=None, max_length=64)
    payload: P
    traceparent: str | None = Field(default=None, pattern=TRACEPARENT)
    request_id: str | None = Field(default=None, pattern=REQUEST_ID)

    @classmethod
    def new(
        cls,
        payload: P,
        *,
        source: str,
        company_id: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> Envelope[P]:
        """A fresh event carrying ``payload``.

        Inside a handler, ``correlation_id`` and ``causation_id`` default to the handled event's correlation id
        and id (catalog, "rastreabilidade"): replies and follow-ups stay on the conversation's thread without the
        caller passing them. Outside one, a new ``cor_`` id starts a thread. ``request_id`` is the HTTP request's
        being served, else the cause's (``context.current_request_id``).
        """
        cause = context.current_event()
        if correlation_id is None:
            correlation_id = cause.correlation_id if cause is not None else ids.correlation_id()
        if causation_id is None and cause is not None:
            causation_id = cause.id
        if type(payload) not in _typed:  # pydantic caches parametrized models too, but its lookup costs ~8 µs
            _typed[type(payload)] = Envelope[type(payload)]  # type: ignore[misc, assignment]
        request_id = context.current_request_id(causation_id)
        # Passed only when there is one: a field left to its default is not validated (~0.4 µs an event).
        optional = _NO_FIELDS if request_id is None else {"request_id": request_id}
        return _typed[type(payload)](
            id=ids.event_id(),
            type=payload.event_type,
            version=payload.event_version,
            occurred_at=occurred_at or now(),
            company_id=company_id,
            source=source,
            correlation_id=correlation_id,
            causation_id=causation_id,
            payload=payload,
            **optional,
        )

    def to_wire(self) -> bytes:
        """JSON bytes as the catalog writes them (``traceparent`` and ``request_id`` only when set)."""
        return self._wire

    @functools.cached_property
    def _wire(self) -> bytes:
        # Made once per event: a producer that stores an event before publishing it (agent-runtime keeps its
        # answer for replays) would otherwise serialize it twice. The envelope is frozen, so the bytes stay
        # right; only model_copy(update=…) makes a different event, and it drops them (below).
        exclude: set[str] | dict[str, Any] | None = _ABSENT[self.traceparent is None, self.request_id is None]
        absent = self.payload.wire_absent()
        if absent:
            exclude = {**dict.fromkeys(exclude or (), True), "payload": absent}
        return self.model_dump_json(exclude=exclude, by_alias=True).encode()

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        copied.__dict__.pop("_wire", None)  # the copy's fields may differ: its wire form is made afresh
        return copied

    def log_fields(self) -> dict[str, Any]:
        """The fields every log line about this event carries (catalog, "Observabilidade mínima"), and the
        request behind it when there was one."""
        fields = {
            "event.id": self.id,
            "event.type": self.type,
            "event.version": self.version,
            "company_id": self.company_id,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "source": self.source,
        }
        if self.request_id is not None:
            fields["request_id"] = self.request_id
        return fields


_NO_FIELDS: dict[str, Any] = {}
#: The optional fields left off the wire, by (traceparent absent, request_id absent).
_ABSENT: dict[tuple[bool, bool], set[str] | None] = {
    (False, False): None,
    (True, False): {"traceparent"},
    (False, True): {"request_id"},
    (True, True): {"traceparent", "request_id"},
}

#: ``Envelope[MessageReceived]`` and its siblings, by payload class, for :meth:`Envelope.new`.
_typed: dict[type[Payload], type[Envelope[Any]]] = {}
