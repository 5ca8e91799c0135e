"""Fake Evolution API v2 server (WhatsApp gateway, Baileys channel, baseline 2.3.6).

Mimics, per /work/shared/reference/evolution-api.md:
- `apikey` header auth with the global key or the instance token, guard order "unknown instance → 404
  even with a wrong key" (§1);
- `POST /message/sendText/{instance}` → 201 with the prepared sent message (§7, samples 5-6), schema
  errors as nested arrays, "not on WhatsApp" as `[{jid, exists: false, number}]`, `delay` blocking;
- `GET /instance/connectionState/{instance}` and `GET /instance/fetchInstances` (§8); `GET
  /instance/connect/{instance}` (§9: the QR object, `pairingCode` with `?number=`, `close` → `connecting`);
- `POST /webhook/set/{instance}` (wrapped `webhook{...}` body) and `GET /webhook/find/{instance}` (§2);
- `POST /chat/findMessages/{instance}` over the messages sent through the API (§11: `where.key.id|remoteJid`,
  `fromMe` filtering only when true, a `messageTimestamp` window only when both ends are given, `offset` as
  the page size, newest first), unless `stores_messages` is off (`DATABASE_SAVE_DATA_NEW_MESSAGE=false`);
- every error as `{"status", "error", "response": {"message"}}` (§7);
- webhook delivery (envelope, `jwt_key` JWT, retries, `byEvents`) from `fakes.evolution_webhooks`;
- the echo of a send (§10): after sendText, `send.message` with the answer's `key.id` (never `messages.upsert`),
  fired without waiting, so it races the HTTP answer, to an instance whose webhook is enabled and subscribes
  `SEND_MESSAGE` (or lists no events). `echo_sends_as_upsert` reproduces servers reported to echo sends as
  `messages.upsert` with `key.fromMe` (evolution-api#1340). What a person types on the phone is a
  `messages.upsert` with `fromMe: true` (`text_message_webhook(from_me=True)`, or `/_fake/webhooks/send`).

Control routes (not part of the real API): `/_fake/requests`, `/_fake/reset`, `/_fake/fail`,
`/_fake/recover`, `/_fake/deliveries`, `GET|POST /_fake/instances`, `GET /_fake/sent`,
`POST /_fake/webhooks/send`.
"""

from __future__ import annotations

from fastapi import FastAPI

from fakes import evolution_routes
from fakes.control import FakeControlMiddleware, control_router
from fakes.evolution_state import (
    DEFAULT_GLOBAL_APIKEY,
    EvolutionInstance,
    EvolutionState,
    InstanceWebhook,
    SentMessage,
)
from fakes.evolution_webhooks import (
    DEFAULT_INSTANCE_ID,
    EvolutionRetryPolicy,
    WebhookOrigin,
    ad_referral_webhook,
    connection_update_webhook,
    decode_webhook_jwt,
    deliver_webhook,
    event_url_suffix,
    image_message_webhook,
    make_webhook_jwt,
    text_message_webhook,
    webhook_envelope,
)

__all__ = [
    "DEFAULT_GLOBAL_APIKEY",
    "DEFAULT_INSTANCE_ID",
    "EvolutionInstance",
    "EvolutionRetryPolicy",
    "EvolutionState",
    "InstanceWebhook",
    "SentMessage",
    "WebhookOrigin",
    "ad_referral_webhook",
    "connection_update_webhook",
    "create_app",
    "decode_webhook_jwt",
    "deliver_webhook",
    "event_url_suffix",
    "image_message_webhook",
    "make_webhook_jwt",
    "text_message_webhook",
    "webhook_envelope",
]


def create_app(state: EvolutionState | None = None) -> FastAPI:
    fake = state if state is not None else EvolutionState()
    app = FastAPI(title="Fake Evolution API", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fake = fake
    app.add_middleware(FakeControlMiddleware, state=fake, render_error=evolution_routes.render_failure)
    app.include_router(control_router(fake))
    app.include_router(evolution_routes.router)
    app.include_router(evolution_routes.control)
    return app
