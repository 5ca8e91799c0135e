"""The fake Evolution API's routes (``fakes.evolution``'s docstring lists them) and its own control routes
under ``/_fake``; the state they act on is ``request.app.state.fake``."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fakes.control import Failure, state_of
from fakes.evolution_state import NUMBER, EvolutionInstance, EvolutionState, InstanceWebhook, SentMessage
from fakes.evolution_webhooks import (
    ad_referral_webhook,
    connection_update_webhook,
    image_message_webhook,
    new_message_id,
    text_message_webhook,
    webhook_envelope,
)

router = APIRouter()
#: Not part of the real API: seeding instances, reading what was sent, sending webhooks on demand.
control = APIRouter()


def _error(status: int, message: Any) -> JSONResponse:
    body = {"status": status, "error": HTTPStatus(status).phrase, "response": {"message": message}}
    return JSONResponse(body, status_code=status)


def render_failure(failure: Failure) -> tuple[int, Any, dict[str, str]]:
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


def _authorized(request: Request, instance: EvolutionInstance | None) -> bool:
    fake = state_of(request, EvolutionState)
    key = request.headers.get("apikey")
    return key is not None and (
        key == fake.global_apikey or (instance is not None and key == instance.apikey)
    )


def _guard(request: Request, name: str) -> EvolutionInstance | JSONResponse:
    instance = state_of(request, EvolutionState).instances.get(name)
    if instance is None:
        return _error(404, [f'The "{name}" instance does not exist'])
    if not _authorized(request, instance):
        return _error(401, "Unauthorized")
    return instance


async def _guard_with_body(request: Request, name: str) -> tuple[EvolutionInstance, Any] | JSONResponse:
    """:func:`_guard`, then the body as JSON (None when it is not JSON at all)."""
    instance = _guard(request, name)
    if isinstance(instance, JSONResponse):
        return instance
    try:
        return instance, await request.json()
    except ValueError:
        return instance, None


@router.post("/message/sendText/{name}", status_code=201, response_model=None)
async def send_text(name: str, request: Request) -> JSONResponse | dict[str, Any]:
    fake = state_of(request, EvolutionState)
    guarded = await _guard_with_body(request, name)
    if isinstance(guarded, JSONResponse):
        return guarded
    instance, body = guarded
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
    if not NUMBER.match(number) or digits in fake.not_on_whatsapp:
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
    _echo(fake, instance, response)
    return response


def _echo(fake: EvolutionState, instance: EvolutionInstance, response: dict[str, Any]) -> None:
    """§10: the send's webhook, fired and not awaited just before the HTTP answer."""
    hook = instance.webhook
    event = "messages.upsert" if fake.echo_sends_as_upsert else "send.message"
    wanted = event.upper().replace(".", "_")
    if hook is None or not hook.enabled or (hook.events and wanted not in hook.events):
        return
    envelope = webhook_envelope(event, instance.name, dict(response), origin=fake.origin_for(instance.name))
    fake.spawn(fake.deliver(envelope))


@router.post("/chat/findMessages/{name}", response_model=None)
async def find_messages(name: str, request: Request) -> JSONResponse | dict[str, Any]:
    fake = state_of(request, EvolutionState)
    guarded = await _guard_with_body(request, name)
    if isinstance(guarded, JSONResponse):
        return guarded
    body = guarded[1] if isinstance(guarded[1], dict) else {}
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


@router.get("/instance/connectionState/{name}", response_model=None)
async def connection_state(name: str, request: Request) -> JSONResponse | dict[str, Any]:
    instance = _guard(request, name)
    if isinstance(instance, JSONResponse):
        return instance
    return {"instance": {"instanceName": instance.name, "state": instance.connection_state}}


@router.get("/instance/connect/{name}", response_model=None)
async def connect(name: str, request: Request, number: str | None = None) -> JSONResponse | dict[str, Any]:
    """Reference §9: `open` answers the connectionState body; `close` starts pairing (→ `connecting`) and
    answers the QR object; `connecting` answers the current one. `pairingCode` only with `?number=`."""
    fake = state_of(request, EvolutionState)
    instance = _guard(request, name)
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


@router.get("/instance/fetchInstances", response_model=None)
async def fetch_instances(request: Request, instanceName: str | None = None) -> Any:
    fake = state_of(request, EvolutionState)
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


@router.post("/webhook/set/{name}", status_code=201, response_model=None)
async def set_webhook(name: str, request: Request) -> JSONResponse | dict[str, Any]:
    instance = _guard(request, name)
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


@router.get("/webhook/find/{name}", response_model=None)
async def find_webhook(name: str, request: Request) -> Any:
    instance = _guard(request, name)
    if isinstance(instance, JSONResponse):
        return instance
    return instance.webhook.to_row(instance.instance_id) if instance.webhook else None


@control.get("/_fake/instances")
async def list_instances(request: Request) -> list[dict[str, Any]]:
    fake = state_of(request, EvolutionState)
    return [i.to_row() for i in fake.instances.values()]


@control.post("/_fake/instances")
async def add_instance(request: Request) -> dict[str, Any]:
    fake = state_of(request, EvolutionState)
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


@control.get("/_fake/sent")
async def list_sent(request: Request, offset: int = 0) -> list[dict[str, Any]]:
    """What was sent, oldest first; ``offset`` skips that many (a long benchmark reads only what is new)."""
    fake = state_of(request, EvolutionState)
    return [
        {
            "instance": s.instance,
            "request": s.request,
            "response": s.response,
            "received_monotonic": s.received_monotonic,
        }
        for s in fake.sent[max(0, offset) :]
    ]


@control.post("/_fake/webhooks/send", response_model=None)
async def send_webhook(request: Request) -> JSONResponse | dict[str, Any]:
    """`{instance, event, data}` or `{instance, template: text|image|ad_referral|connection_update,
    params: {...}}`, plus optional `url`, `headers` (may hold `jwt_key`), `by_events`, `wait`."""
    fake = state_of(request, EvolutionState)
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
