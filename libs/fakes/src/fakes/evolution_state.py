"""The fake Evolution API's state: its instances, what was sent through it, and webhook delivery."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from fakes.control import Delivery, WebhookingState
from fakes.evolution_webhooks import (
    EvolutionRetryPolicy,
    WebhookOrigin,
    deliver_webhook,
)

DEFAULT_GLOBAL_APIKEY = "fake-evolution-global-apikey"
ConnectionState = Literal["open", "connecting", "close"]
NUMBER = re.compile(r"^\d{8,15}$|^[\w.-]+@(s\.whatsapp\.net|g\.us|lid)$")


@dataclass
class InstanceWebhook:
    url: str
    enabled: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    by_events: bool = False
    base64: bool = False
    events: list[str] = field(default_factory=list)

    def to_row(self, instance_id: str) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, instance_id)),
            "url": self.url,
            "headers": self.headers,
            "enabled": self.enabled,
            "events": self.events,
            "webhookByEvents": self.by_events,
            "webhookBase64": self.base64,
            "instanceId": instance_id,
        }


@dataclass
class EvolutionInstance:
    name: str
    apikey: str
    connection_state: ConnectionState = "open"
    instance_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # None = never logged in: no `ownerJid`, and webhooks carry no `sender` (reference §4).
    owner_number: str | None = "5511912345678"
    profile_name: str = "Loja Exemplo"
    webhook: InstanceWebhook | None = None
    #: QR codes generated in this pairing session (`count` of the connect answer, reference §9).
    qr_count: int = 0

    @property
    def owner_jid(self) -> str | None:
        return None if self.owner_number is None else f"{self.owner_number}@s.whatsapp.net"

    def to_row(self) -> dict[str, Any]:
        """One `fetchInstances` row (reference §8), relations left empty."""
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        return {
            "id": self.instance_id,
            "name": self.name,
            "connectionStatus": self.connection_state,
            "ownerJid": self.owner_jid,
            "profileName": self.profile_name,
            "profilePicUrl": None,
            "integration": "WHATSAPP-BAILEYS",
            "number": self.owner_number,
            "businessId": None,
            "token": self.apikey,
            "clientName": "evolution_exchange",
            "disconnectionReasonCode": None,
            "disconnectionObject": None,
            "disconnectionAt": None,
            "createdAt": now,
            "updatedAt": now,
            "Setting": None,
            "Proxy": None,
            "Chatwoot": None,
            "Rabbitmq": None,
            "Sqs": None,
            "Websocket": None,
            "Nats": None,
            "_count": {"Message": 0, "Contact": 0, "Chat": 0},
        }


@dataclass
class SentMessage:
    instance: str
    request: dict[str, Any]
    response: dict[str, Any]
    #: ``time.monotonic()`` when the send was accepted: CLOCK_MONOTONIC is one clock for every process of the
    #: machine, so a benchmark in another process can time a turn from its webhook to this send.
    received_monotonic: float = field(default_factory=time.monotonic)


@dataclass
class EvolutionState(WebhookingState):
    global_apikey: str = DEFAULT_GLOBAL_APIKEY
    server_url: str = "http://localhost:8080"
    # AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES: the envelope's `apikey` is the token only when true.
    expose_apikey_in_webhooks: bool = False
    instances: dict[str, EvolutionInstance] = field(default_factory=dict)
    sent: list[SentMessage] = field(default_factory=list)
    # Numbers the on-WhatsApp check reports as unknown (→ 400 `exists: false`).
    not_on_whatsapp: set[str] = field(default_factory=set)
    # sendText `delay` blocks the HTTP call for that long; scale it down in tests.
    send_delay_scale: float = 1.0
    # DATABASE_SAVE_DATA_NEW_MESSAGE: findMessages only sees what Evolution stored (§11).
    stores_messages: bool = True
    # Echo API sends as `messages.upsert` (fromMe) instead of `send.message`: evolution-api#1340's report.
    echo_sends_as_upsert: bool = False
    retry_policy: EvolutionRetryPolicy = field(default_factory=EvolutionRetryPolicy)
    #: Instance names `GET /instance/connect/{name}` answered a QR object for, in order.
    connects: list[str] = field(default_factory=list)

    def add_instance(
        self,
        name: str,
        apikey: str,
        connection_state: ConnectionState = "open",
        *,
        owner_number: str | None = "5511912345678",
        webhook: InstanceWebhook | None = None,
    ) -> EvolutionInstance:
        instance = EvolutionInstance(
            name, apikey, connection_state, owner_number=owner_number, webhook=webhook
        )
        self.instances[name] = instance
        return instance

    def reset(self) -> None:
        super().reset()
        self.sent.clear()
        self.connects.clear()

    def origin_for(self, instance: str, destination: str | None = None) -> WebhookOrigin:
        known = self.instances.get(instance)
        hook = known.webhook if known else None
        return WebhookOrigin(
            destination=destination or (hook.url if hook else f"{self.server_url}/webhook"),
            sender=known.owner_jid if known else None,
            server_url=self.server_url,
            apikey=known.apikey if known and self.expose_apikey_in_webhooks else None,
        )

    async def deliver(
        self,
        envelope: dict[str, Any],
        *,
        url: str | None = None,
        headers: dict[str, str] | None = None,
        by_events: bool | None = None,
    ) -> Delivery:
        """Deliver an envelope; URL, headers and `byEvents` default to the instance's webhook config."""
        known = self.instances.get(str(envelope["instance"]))
        hook = known.webhook if known else None
        target = url or (hook.url if hook else None)
        if target is None:
            raise ValueError(f"no webhook url given and instance {envelope['instance']!r} has none")
        delivery = await deliver_webhook(
            target,
            envelope,
            headers=headers if headers is not None else (hook.headers if hook else {}),
            by_events=by_events if by_events is not None else bool(hook and hook.by_events),
            policy=self.retry_policy,
            retry_delay_scale=self.retry_delay_scale,
            transport=self.webhook_transport,
        )
        self.deliveries.append(delivery)
        return delivery
