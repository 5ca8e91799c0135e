"""Autentique webhooks, pure: is this body signed by the endpoint's secret, and what does it say?

Reference §4: `X-Autentique-Signature` is the lower-case hex HMAC-SHA256 of the raw body under the endpoint's
secret, with no timestamp (so replays are ours to handle, by event id). The envelope is
`{"event": {"id", "type", "data", "created_at"}}`; the resource is `event.data`, or `event.data.object` in
some examples: we read `data.object` when it is an object.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from servicekit import Malformed

SIGNATURE_HEADER = "X-Autentique-Signature"
SIGNATURE_EVENTS = {
    "signature.accepted": "signed",
    "signature.rejected": "rejected",
    "signature.viewed": "viewed",
}
DOCUMENT_FINISHED = "document.finished"


class MalformedWebhook(Malformed, ValueError):
    """The body is signed but is not an Autentique event we can read; the message says where."""


def signature_matches(body: bytes, header: str | None, secret: str) -> bool:
    if not header:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.strip().lower().encode(), expected.encode())


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=100)
    data: dict[str, Any]


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event: _Event


class _SignatureResource(BaseModel):
    model_config = ConfigDict(extra="ignore")

    public_id: str = Field(min_length=1)
    document: str = Field(min_length=1)
    viewed: AwareDatetime | None = None
    signed: AwareDatetime | None = None
    rejected: AwareDatetime | None = None


class _FinishedSignature(BaseModel):
    model_config = ConfigDict(extra="ignore")

    public_id: str = Field(min_length=1)
    signed: AwareDatetime | None = None


class _DocumentResource(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    signatures: list[_FinishedSignature] = Field(default_factory=list)
    updated_at: AwareDatetime | None = None


@dataclass(frozen=True)
class SignatureChanged:
    """One signer viewed, signed or refused (`what`), at `at` (Autentique's timestamp)."""

    event_id: str
    document_id: str
    public_id: str
    what: str
    at: datetime


@dataclass(frozen=True)
class DocumentFinished:
    """Every signer signed. `signed` maps public ids to their signing times."""

    event_id: str
    document_id: str
    signed: dict[str, datetime]
    at: datetime | None


@dataclass(frozen=True)
class Ignored:
    """An event type that changes nothing here (document.created, member.*, …)."""

    event_id: str
    type: str


Update = SignatureChanged | DocumentFinished | Ignored


def parse(body: bytes) -> Update:
    """Raise :class:`MalformedWebhook` with the offending field for anything unreadable."""
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedWebhook(f"body is not JSON: {exc}") from None
    envelope = _validate(_Envelope, raw, "")
    event = envelope.event
    data = event.data
    resource = data["object"] if isinstance(data.get("object"), dict) else data
    if event.type in SIGNATURE_EVENTS:
        what = SIGNATURE_EVENTS[event.type]
        signature = _validate(_SignatureResource, resource, "event.data.")
        at = getattr(signature, what)
        if at is None:
            raise MalformedWebhook(f"event.data.{what}: required for {event.type}")
        return SignatureChanged(event.id, signature.document, signature.public_id, what, at)
    if event.type == DOCUMENT_FINISHED:
        document = _validate(_DocumentResource, resource, "event.data.")
        signed = {s.public_id: s.signed for s in document.signatures if s.signed is not None}
        return DocumentFinished(event.id, document.id, signed, document.updated_at)
    return Ignored(event.id, event.type)


def _validate(model: type[Any], raw: Any, where: str) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        path = ".".join(str(p) for p in error["loc"])
        raise MalformedWebhook(f"{where}{path}: {error['msg']}" if path else error["msg"]) from None
