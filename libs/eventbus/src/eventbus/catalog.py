"""The closed catalog: the seed's seven channels plus documented additions (``ADDED_CHANNELS``), their payload
models by version, producers, consumers and keys.

Publishing or reading an unknown type or version raises :class:`~eventbus.errors.UnknownEventType` or
:class:`~eventbus.errors.UnsupportedVersion`; the catalog (``shared/seeds/001``) is the contract and grows only
by documented additions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import ValidationError

from eventbus import additions
from eventbus.envelope import Envelope, Payload
from eventbus.errors import MalformedEntry, UnknownEventType, UnsupportedVersion
from eventbus.payloads import (
    ContractCreated,
    ContractSigned,
    ConversionReported,
    InstanceStatus,
    LeadCreated,
    LeadQualified,
    MessageReceived,
    MessageSent,
)


@dataclass(frozen=True)
class ChannelSpec:
    """What the catalog says of one channel."""

    name: str
    description: str
    producer: str
    consumers: tuple[str, ...]
    versions: dict[int, type[Payload]]
    idempotency_key: str

    @property
    def latest(self) -> int:
        return max(self.versions)


CHANNELS: dict[str, ChannelSpec] = {
    spec.name: spec
    for spec in (
        ChannelSpec(
            "message.received",
            "A new message arrived on a channel (WhatsApp through Evolution API).",
            "evolution-manager",
            ("agent-runtime", "backoffice-api"),
            {1: MessageReceived},
            "instance_id + raw.message_id, else sha256(body + timestamp + from)",
        ),
        ChannelSpec(
            "message.sent",
            "The agent's answer, possibly split into several messages.",
            "agent-runtime",
            ("evolution-manager", "backoffice-api"),
            {1: MessageSent},
            "correlation_id + message index",
        ),
        ChannelSpec(
            "lead.created",
            "A lead was created in the core.",
            "agent-runtime",
            ("facebook-capi", "backoffice-api"),
            {1: LeadCreated},
            "company_id + lead_external_id (one lead per contact)",
        ),
        ChannelSpec(
            "lead.qualified",
            "A lead met the qualification criteria (score and/or rules).",
            "agent-runtime",
            ("backoffice-api", "facebook-capi"),
            {1: LeadQualified},
            "lead_id + qualified_at (truncated); only the first qualification is kept",
        ),
        ChannelSpec(
            "contract.created",
            "A contract was generated and sent for signature.",
            "autentique-service",
            ("backoffice-api",),
            {1: ContractCreated},
            "deal_id (one contract per deal unless re-issued)",
        ),
        ChannelSpec(
            "contract.signed",
            "A contract became signed (Autentique webhook).",
            "autentique-service",
            ("facebook-capi", "backoffice-api"),
            {1: ContractSigned},
            "contract_id",
        ),
        ChannelSpec(
            "instance.status",
            "A channel instance changed state (connected/disconnected).",
            "evolution-manager",
            ("backoffice-api",),
            {1: InstanceStatus},
            "instance_id + status (published only on change)",
        ),
        ChannelSpec(
            "conversion.reported",
            "What facebook-capi did with a lead or a sale it reports to Meta: sent, failed, skipped or unknown "
            "(an addition, docs/catalog.md).",
            "facebook-capi",
            ("backoffice-api",),
            {1: ConversionReported},
            "source_event_id + outcome",
        ),
    )
}


#: Channels added after the seed catalog (``shared/seeds/001``), each listed with why in ``eventbus.additions``.
ADDED_CHANNELS = additions.ADDED_CHANNELS


def channel(event_type: str) -> ChannelSpec:
    try:
        return CHANNELS[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None


def payload_model(event_type: str, version: int) -> type[Payload]:
    spec = channel(event_type)
    try:
        return spec.versions[version]
    except (KeyError, TypeError):
        raise UnsupportedVersion(event_type, version) from None


@cache
def envelope_model(event_type: str, version: int) -> type[Envelope[Any]]:
    """``Envelope[Payload]`` for one (type, version), built once."""
    model: type[Envelope[Any]] = Envelope[payload_model(event_type, version)]  # type: ignore[misc, assignment]
    return model


def check(event: Envelope[Any]) -> None:
    """Raise if ``event`` names a type or version outside the catalog, or its payload is not that model."""
    model = payload_model(event.type, event.version)
    if not isinstance(event.payload, model):
        raise MalformedEntry(f"payload of {event.type} v{event.version} must be {model.__name__}")


def parse(data: bytes | str, *, event_type: str | None = None, version: int | None = None) -> Envelope[Any]:
    """Read wire bytes into a typed envelope.

    ``event_type`` and ``version`` are hints stored beside the envelope in the stream; with them the bytes are
    validated once, by the right model. Without them the JSON is decoded first to find the model.
    """
    if event_type is not None and version is not None:
        return parser(event_type, version)(data)
    try:
        head = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEntry(f"not JSON: {exc}") from None
    if not isinstance(head, dict):
        raise MalformedEntry("not an envelope: a JSON object is required")
    event_type, version = head.get("type"), head.get("version")
    if not isinstance(event_type, str):
        raise MalformedEntry("not an envelope: 'type' must be a string")
    if not isinstance(version, int) or isinstance(version, bool):
        raise (
            UnsupportedVersion(event_type, version)
            if event_type in CHANNELS
            else UnknownEventType(event_type)
        )
    model = envelope_model(event_type, version)
    try:
        event = model.model_validate(head)
    except ValidationError as exc:
        raise MalformedEntry(_describe(exc)) from None
    _check_hints(event, event_type, version)
    return event


@cache
def parser(event_type: str, version: int) -> Callable[[bytes | str], Envelope[Any]]:
    """:func:`parse` with these hints, the model resolved once: a consumer's hot path keeps the function."""
    # The model's validator itself: model_validate_json only passes its keyword arguments on to it (~0.3 µs).
    validate = envelope_model(event_type, version).__pydantic_validator__.validate_json

    def parse_hinted(data: bytes | str) -> Envelope[Any]:
        try:
            event: Envelope[Any] = validate(data)
        except ValidationError as exc:
            raise MalformedEntry(_describe(exc)) from None
        _check_hints(event, event_type, version)
        return event

    return parse_hinted


def _check_hints(event: Envelope[Any], event_type: str, version: int) -> None:
    if event.type != event_type or event.version != version:
        raise MalformedEntry(
            f"envelope says {event.type} v{event.version}, stream says {event_type} v{version}"
        )


def build(
    event_type: str, payload: dict[str, Any], *, version: int | None = None, **envelope: Any
) -> Envelope[Any]:
    """An envelope from a plain payload dict (CLI, HTTP ingest); validated against the catalog."""
    spec = channel(event_type)
    model = payload_model(event_type, version or spec.latest)
    try:
        typed = model.model_validate(payload)
    except ValidationError as exc:
        raise MalformedEntry(_describe(exc)) from None
    return Envelope.new(typed, **envelope)


def _describe(exc: ValidationError) -> str:
    """Short, precise reasons: ``payload.from: String should match pattern …``, at most five of them."""
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "envelope"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
