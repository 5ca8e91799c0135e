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

import asyncio
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fakes.control import Delivery, Failure, FakeControlMiddleware, WebhookingState, control_router
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
    new_message_id,
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

DEFAULT_GLOBAL_APIKEY = "fake-evolution-global-apikey"
ConnectionState = Literal["open", "connecting", "close"]
_NUMBER = re.compile(r"^\d{8,15}$|^[\w.-]+@(s\.whatsapp\.net|g\.us|lid)$")


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


def _error(status: int, message: Any) -> JSONResponse:
    body = {"status": status, "error": HTTPStatus(status).phrase, "response": {"message": message}}
    return JSONResponse(body, status_code=status)


def _render_failure(failure: Failure) -> tuple[int, Any, dict[str, str]]:
    status = failure.status or 500
    message: Any = "Unauthorized" if status == 401 else [HTTPStatus(status).phrase]
    headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
    return (
        status,
        {"status": status, "error": HTTPStatus(status).phrase, "response": {"message": message}},
        headers,
    )


def _seconds(value: Any) -> float | None:
    """A findMessages bound as Evolution reads it: ``new Date(value)`` (ISO string or ms), in seconds."""
    if isinstance(value, int | float):
        return value / 1000
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _matches(message: dict[str, Any], where: dict[str, Any]) -> bool:
    key, wanted = message["key"], where.get("key") or {}
    for field_ in ("id", "remoteJid"):
        if field_ in wanted and wanted[field_] != key.get(field_):
            return False
    if wanted.get("fromMe") and not key.get("fromMe"):  # a truthy test: false filters nothing (§11)
        return False
    window = where.get("messageTimestamp") or {}
    low, high = _seconds(window.get("gte")), _seconds(window.get("lte"))
    if low is not None and high is not None:
        return bool(low <= message["messageTimestamp"] <= high)
    return True


_BUILDERS = {
    "text": text_message_webhook,
    "image": image_message_webhook,
    "ad_referral": ad_referral_webhook,
    "connection_update": connection_update_webhook,
}


def create_app(state: EvolutionState | None = None) -> FastAPI:
    fake = state if state is not None else EvolutionState()
    app = FastAPI(title="Fake Evolution API", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fake = fake
    app.add_middleware(FakeControlMiddleware, state=fake, render_error=_render_failure)
    app.include_router(control_router(fake))

    def authorized(request: Request, instance: EvolutionInstance | None) -> bool:
        key = request.headers.get("apikey")
        return key is not None and (
            key == fake.global_apikey or (instance is not None and key == instance.apikey)
        )

    def guard(request: Request, name: str) -> EvolutionInstance | JSONResponse:
        instance = fake.instances.get(name)
        if instance is None:
            return _error(404, [f'The "{name}" instance does not exist'])
        if not authorized(request, instance):
            return _error(401, "Unauthorized")
        return instance

    @app.post("/message/sendText/{name}", status_code=201, response_model=None)
    async def send_text(name: str, request: Request) -> JSONResponse | dict[str, Any]:
        instance = guard(request, name)
        if isinstance(instance, JSONResponse):
            return instance
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(400, [["instance is not of a type(s) object"]])
        problems = [f'instance requires property "{p}"' for p in ("number", "text") if p not in body]
        problems += [
            f"instance.{p} is not of a type(s) string"
            for p in ("number", "text")
            if p in body and not isinstance(body[p], str)
        ]
        if problems:
            return _error(400, [problems])
        number, text = body["number"], body["text"]
        if not text.strip():
            return _error(400, ["Text is required"])
        digits = number.split("@")[0]
        if not _NUMBER.match(number) or digits in fake.not_on_whatsapp:
            jid = number if "@" in number else f"{number}@s.whatsapp.net"
            return _error(400, [{"jid": jid, "exists": False, "number": digits}])
        if instance.connection_state != "open":
            return _error(400, ["Error: Connection Closed"])
        delay = body.get("delay")
        if isinstance(delay, int) and delay > 0:
            await asyncio.sleep(delay / 1000 * fake.send_delay_scale)
        response = {
            "key": {
                "remoteJid": number if "@" in number else f"{number}@s.whatsapp.net",
                "fromMe": True,
                "id": new_message_id("web"),
            },
            "pushName": "Você",
            "status": "PENDING",
            "message": {"conversation": text},
            "messageType": "conversation",
            "messageTimestamp": int(time.time()),
            "instanceId": instance.instance_id,
            "source": "web",
        }
        fake.sent.append(SentMessage(name, body, response))
        _echo(instance, response)
        return response

    def _echo(instance: EvolutionInstance, response: dict[str, Any]) -> None:
        """§10: the send's webhook, fired and not awaited just before the HTTP answer."""
        hook = instance.webhook
        event = "messages.upsert" if fake.echo_sends_as_upsert else "send.message"
        wanted = event.upper().replace(".", "_")
        if hook is None or not hook.enabled or (hook.events and wanted not in hook.events):
            return
        envelope = webhook_envelope(
            event, instance.name, dict(response), origin=fake.origin_for(instance.name)
        )
        fake.spawn(fake.deliver(envelope))

    @app.post("/chat/findMessages/{name}", response_model=None)
    async def find_messages(name: str, request: Request) -> JSONResponse | dict[str, Any]:
        instance = guard(request, name)
        if isinstance(instance, JSONResponse):
            return instance
        try:
            body = await request.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        stored = [s.response for s in fake.sent if s.instance == name] if fake.stores_messages else []
        found = [m for m in stored if _matches(m, body.get("where") or {})]
        found.sort(key=lambda m: m["messageTimestamp"], reverse=True)
        size = int(body.get("offset") or 50)
        page = max(1, int(body.get("page") or 1))
        records = [
            {"id": f"cm{m['key']['id'].lower()}", **m, "contextInfo": None, "MessageUpdate": []}
            for m in found[(page - 1) * size : page * size]
        ]
        pages = -(-len(found) // size)
        return {"messages": {"total": len(found), "pages": pages, "currentPage": page, "records": records}}

    @app.get("/instance/connectionState/{name}", response_model=None)
    async def connection_state(name: str, request: Request) -> JSONResponse | dict[str, Any]:
        instance = guard(request, name)
        if isinstance(instance, JSONResponse):
            return instance
        return {"instance": {"instanceName": instance.name, "state": instance.connection_state}}

    @app.get("/instance/connect/{name}", response_model=None)
    async def connect(
        name: str, request: Request, number: str | None = None
    ) -> JSONResponse | dict[str, Any]:
        """Reference §9: `open` answers the connectionState body; `close` starts pairing (→ `connecting`) and
        answers the QR object; `connecting` answers the current one. `pairingCode` only with `?number=`."""
        instance = guard(request, name)
        if isinstance(instance, JSONResponse):
            return instance
        if instance.connection_state == "open":
            return {"instance": {"instanceName": instance.name, "state": "open"}}
        if instance.connection_state == "close":
            instance.connection_state = "connecting"
            instance.qr_count += 1
        fake.connects.append(name)
        # A 1x1 PNG stands in for the QR image; `code` is the raw QR text Baileys renders (`2@…`).
        png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgAB4iG8MwAAAABJRU5ErkJggg=="
        return {
            "pairingCode": f"WZYE{instance.qr_count:04d}" if number else None,
            "code": f"2@{instance.name}-{instance.qr_count}",
            "base64": f"data:image/png;base64,{png}",
            "count": instance.qr_count,
        }

    @app.get("/instance/fetchInstances", response_model=None)
    async def fetch_instances(request: Request, instanceName: str | None = None) -> Any:
        key = request.headers.get("apikey")
        owned = [i for i in fake.instances.values() if i.apikey == key]
        if key != fake.global_apikey and not owned:
            return _error(401, "Unauthorized")
        visible = list(fake.instances.values()) if key == fake.global_apikey else owned
        if instanceName is not None:
            visible = [i for i in visible if i.name == instanceName]
            if not visible and key != fake.global_apikey:
                # An instance token asking for another instance (or one that does not exist): 401, §9.
                return _error(401, "Unauthorized")
            if not visible:
                return _error(404, [f'Instance "{instanceName}" not found'])
        return [i.to_row() for i in visible]

    @app.post("/webhook/set/{name}", status_code=201, response_model=None)
    async def set_webhook(name: str, request: Request) -> JSONResponse | dict[str, Any]:
        instance = guard(request, name)
        if isinstance(instance, JSONResponse):
            return instance
        body = await request.json()
        hook = body.get("webhook") if isinstance(body, dict) else None
        if not isinstance(hook, dict) or "enabled" not in hook or "url" not in hook:
            return _error(400, [['instance requires property "webhook"']])
        instance.webhook = InstanceWebhook(
            url=hook["url"],
            enabled=bool(hook["enabled"]),
            headers=dict(hook.get("headers") or {}),
            by_events=bool(hook.get("byEvents", False)),
            base64=bool(hook.get("base64", False)),
            events=list(hook.get("events") or []) if hook["enabled"] else [],
        )
        return instance.webhook.to_row(instance.instance_id)

    @app.get("/webhook/find/{name}", response_model=None)
    async def find_webhook(name: str, request: Request) -> Any:
        instance = guard(request, name)
        if isinstance(instance, JSONResponse):
            return instance
        return instance.webhook.to_row(instance.instance_id) if instance.webhook else None

    @app.get("/_fake/instances")
    async def list_instances() -> list[dict[str, Any]]:
        return [i.to_row() for i in fake.instances.values()]

    @app.post("/_fake/instances")
    async def add_instance(request: Request) -> dict[str, Any]:
        body = await request.json()
        instance = fake.add_instance(
            body["name"],
            body["apikey"],
            body.get("connection_state", "open"),
            owner_number=body.get("owner_number", "5511912345678"),
        )
        if isinstance(body.get("webhook"), dict):
            instance.webhook = InstanceWebhook(**body["webhook"])
        return instance.to_row()

    @app.get("/_fake/sent")
    async def list_sent() -> list[dict[str, Any]]:
        return [{"instance": s.instance, "request": s.request, "response": s.response} for s in fake.sent]

    @app.post("/_fake/webhooks/send", response_model=None)
    async def send_webhook(request: Request) -> JSONResponse | dict[str, Any]:
        """`{instance, event, data}` or `{instance, template: text|image|ad_referral|connection_update,
        params: {...}}`, plus optional `url`, `headers` (may hold `jwt_key`), `by_events`, `wait`."""
        body = await request.json()
        instance = body["instance"]
        origin = fake.origin_for(instance, body.get("url"))
        if "template" in body:
            builder: Any = _BUILDERS.get(body["template"])
            if builder is None:
                return JSONResponse({"error": f"unknown template, use one of {sorted(_BUILDERS)}"}, 422)
            envelope = builder(instance=instance, origin=origin, **body.get("params", {}))
        else:
            envelope = webhook_envelope(body["event"], instance, body.get("data", {}), origin=origin)
        known = fake.instances.get(instance)
        if not body.get("url") and not (known and known.webhook):
            return JSONResponse({"error": f"no url given and instance {instance!r} has no webhook"}, 422)
        job = fake.deliver(
            envelope, url=body.get("url"), headers=body.get("headers"), by_events=body.get("by_events")
        )
        if not body.get("wait", True):
            fake.spawn(job)
            return JSONResponse({"queued": True, "envelope": envelope}, status_code=202)
        delivery = await job
        return {"envelope": envelope, "delivery": delivery.to_dict()}

    return app
