"""The fake Autentique API's state: its documents and signers, and the webhooks it sends about them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from fakes.autentique_schema import (
    document_resource,
    signature_resource,
)
from fakes.control import (
    Delivery,
    Failure,
    WebhookingState,
    deliver_with_retries,
)

DEFAULT_API_TOKEN = "fake-autentique-token"  # noqa: S105 - a fake's placeholder, not a secret
GRAPHQL_PATH = "/v2/graphql"
RETRY_DELAYS = (60.0, 120.0, 300.0)


def stamp(moment: datetime | None = None, *, micro: bool = False) -> str:
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + (f"{moment.microsecond:06d}" if micro else "000000") + "Z"


def sign_webhook_body(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@dataclass
class Signer:
    action: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    delivery_method: str | None = None
    public_id: str = field(default_factory=lambda: str(uuid.uuid1(node=secrets.randbits(48))))
    # Every signer has a signing URL; the API only shows it (`link`) for signers nobody notifies.
    short_link: str = field(default_factory=lambda: "https://assina.ae/" + secrets.token_urlsafe(12))
    created_at: str = field(default_factory=stamp)
    viewed_at: str | None = None
    signed_at: str | None = None
    rejected_at: str | None = None
    reject_reason: str | None = None
    is_author: bool = False

    @property
    def link_visible(self) -> bool:
        return self.email is None and self.phone is None


@dataclass
class Document:
    name: str
    signers: list[Signer]
    file_name: str = "document.pdf"
    file_size: int = 0
    file_sha256: str = ""
    message: str | None = None
    refusable: bool = False
    sortable: bool = False
    stop_on_rejected: bool = True
    reminder: str | None = None
    deadline_at: str | None = None
    sandbox: bool = False
    id: str = field(default_factory=lambda: secrets.token_hex(25))
    created_at: str = field(default_factory=stamp)
    updated_at: str = field(default_factory=stamp)
    deleted_at: str | None = None

    @property
    def finished(self) -> bool:
        return all(s.signed_at is not None for s in self.signers if not s.is_author)

    @property
    def signable(self) -> bool:
        # Reference §5: a deadline in the past blocks signing; a delete alone does not (the link still signs).
        if self.deadline_at is None:
            return True
        return datetime.fromisoformat(self.deadline_at.replace("Z", "+00:00")) > datetime.now(UTC)


@dataclass
class WebhookEndpoint:
    url: str
    secret: str
    name: str = "fake-endpoint"
    endpoint_id: int = 4821
    # None = all event types.
    events: set[str] | None = None
    # The docs' `document.updated` example nests the resource in `data.object` (reference §4).
    data_placement: Literal["data", "data.object"] = "data"
    # Autentique may deliver the same event twice (reference §4); receivers must dedupe on event.id.
    duplicate: bool = False


@dataclass
class AutentiqueState(WebhookingState):
    api_token: str = DEFAULT_API_TOKEN
    organization_id: int = 4821
    author_name: str = "Loja Exemplo Ltda"
    author_email: str = "contratos@example.com"
    webhook: WebhookEndpoint | None = None
    documents: dict[str, Document] = field(default_factory=dict)
    # Unconfirmed in the reference whether the author is listed: switch on to test matching by email.
    list_author_signature: bool = False
    create_faults: list[Failure] = field(default_factory=list)
    # Seconds a new document stays out of `documents(...)` listings: how soon a listing shows a document is
    # unconfirmed (reference §7), so clients must not read "not listed" as "not created".
    listing_lag_seconds: float = 0.0
    listed_at: dict[str, float] = field(default_factory=dict)
    #: Every mutation that changed something, in order: (mutation name, document id or signature public id),
    #: so that a test can tell a cancel or a reminder reached Autentique exactly once.
    mutations: list[tuple[str, str]] = field(default_factory=list)
    #: Reference §6/§9: a signature resent less than this many seconds ago is skipped, and
    #: `resendSignatures` fails with `too_many_resent_emails` when every id asked for is cooling down.
    resend_cooldown_seconds: float = 300.0
    resent_at: dict[str, float] = field(default_factory=dict)

    def reset(self) -> None:
        super().reset()
        self.documents.clear()
        self.create_faults.clear()
        self.mutations.clear()
        self.resent_at.clear()

    def resend(self, public_ids: list[str]) -> str | None:
        """`resendSignatures`: the error code, or None when at least one signature was resent."""
        signers = {s.public_id: (d, s) for d in self.documents.values() for s in d.signers}
        if not public_ids or any(p not in signers for p in public_ids):
            return "signature_not_found"
        now = time.monotonic()
        due = [p for p in public_ids if now - self.resent_at.get(p, -1e18) >= self.resend_cooldown_seconds]
        if not due:
            return "too_many_resent_emails"
        for public_id in due:
            self.resent_at[public_id] = now
            self.mutations.append(("resendSignatures", public_id))
        return None

    def timeout_after_create(self, seconds: float | None = None, count: int = 1) -> None:
        """Next `count` createDocument calls store the document, then answer after `seconds` (or, with
        None, cut the connection): the client cannot tell whether it was created."""
        for _ in range(count):
            self.create_faults.append(
                Failure("drop") if seconds is None else Failure("late", seconds=seconds)
            )

    def find_signer(self, document_id: str, signer: int | str) -> tuple[Document, Signer]:
        doc = self.documents[document_id]
        if isinstance(signer, int):
            return doc, [s for s in doc.signers if not s.is_author][signer]
        for candidate in doc.signers:
            if signer in (candidate.email, candidate.public_id, candidate.name, candidate.phone):
                return doc, candidate
        raise KeyError(f"no signer {signer!r} in document {document_id}")

    async def view(self, document_id: str, signer: int | str) -> list[Delivery]:
        doc, who = self.find_signer(document_id, signer)
        who.viewed_at = who.viewed_at or stamp()
        return await self.emit("signature.viewed", signature_resource(doc, who), [])

    async def sign(self, document_id: str, signer: int | str) -> list[Delivery]:
        doc, who = self.find_signer(document_id, signer)
        if who.rejected_at is not None or who.signed_at is not None:
            raise ValueError("document_signed")
        if not doc.signable:
            raise ValueError("document_expired")
        now = stamp()
        who.viewed_at, who.signed_at, doc.updated_at = who.viewed_at or now, now, now
        sent = await self.emit("signature.accepted", signature_resource(doc, who), [])
        if doc.finished:
            signed = sum(1 for s in doc.signers if s.signed_at and not s.is_author)
            resource = document_resource(doc, self.author_name, self.author_email)
            sent += await self.emit("document.finished", resource, {"signed_count": signed - 1})
        return sent

    async def refuse(self, document_id: str, signer: int | str, reason: str = "Recusado") -> list[Delivery]:
        doc, who = self.find_signer(document_id, signer)
        if not doc.refusable:
            raise ValueError("document is not refusable")
        if who.signed_at is not None:
            raise ValueError("document_signed")
        now = stamp()
        who.viewed_at, who.rejected_at, who.reject_reason, doc.updated_at = (
            who.viewed_at or now,
            now,
            reason,
            now,
        )
        return await self.emit("signature.rejected", signature_resource(doc, who), [])

    async def emit(self, event_type: str, resource: dict[str, Any], previous: Any) -> list[Delivery]:
        hook = self.webhook
        if hook is None or (hook.events is not None and event_type not in hook.events):
            return []
        event_id = str(uuid.uuid4())
        envelope = {
            "id": base64.b64encode(f"{hook.endpoint_id}|{event_id}".encode()).decode("ascii"),
            "object": "webhook",
            "name": hook.name,
            "format": "json",
            "url": hook.url,
            "event": {
                "id": event_id,
                "object": "event",
                "organization": self.organization_id,
                "type": event_type,
                "data": {"object": resource} if hook.data_placement == "data.object" else resource,
                "previous_attributes": previous,
                "created_at": stamp(micro=True),
            },
        }
        # Serialize once, sign those bytes, send those bytes (reference §5 "How a fake signs").
        body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "X-Autentique-Signature": sign_webhook_body(body, hook.secret),
        }
        out = []
        for _ in range(2 if hook.duplicate else 1):
            delivery = Delivery(url=hook.url, event=event_type, body=body, headers=headers)
            self.deliveries.append(delivery)
            out.append(
                await deliver_with_retries(
                    delivery,
                    delays=[d * self.retry_delay_scale for d in RETRY_DELAYS],
                    transport=self.webhook_transport,
                )
            )
        return out
