"""Routes: Evolution webhooks in, and the internal admin API of the instance registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import structlog
from eventbus import Bus, BusUnavailable
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from servicekit import NotFound, RateLimited
from servicekit.upstream import Breakers

from evolution_manager import authentication, metrics, registration, statuses, webhooks
from evolution_manager.clients.evolution import EvolutionClient
from evolution_manager.echoes import SentIds
from evolution_manager.errors import MalformedWebhook, UnknownInstance
from evolution_manager.ratelimits import InstanceRateLimits
from evolution_manager.registry import NAME_PATTERN, Instance, InstanceConfig, Registry
from evolution_manager.settings import Settings

log = structlog.get_logger("evolution_manager.api")

# Metric labels come from this list only: an event name is whatever a sender writes.
_KNOWN_EVENTS = frozenset(
    [
        "application.startup",
        "call",
        "chats.delete",
        "chats.set",
        "chats.update",
        "chats.upsert",
        "connection.update",
        "contacts.set",
        "contacts.update",
        "contacts.upsert",
        "group-participants.update",
        "groups.update",
        "groups.upsert",
        "instance.create",
        "instance.delete",
        "labels.association",
        "labels.edit",
        "logout.instance",
        "messages.delete",
        "messages.edited",
        "messages.set",
        "messages.update",
        "messages.upsert",
        "presence.update",
        "qrcode.updated",
        "remove.instance",
        "send.message",
        "send.message.update",
        "status.instance",
        "typebot.change-status",
        "typebot.start",
    ]
)


@dataclass(frozen=True)
class Ports:
    bus: Bus
    registry: Registry
    evolution: EvolutionClient
    settings: Settings
    rules: webhooks.SkipRules
    limits: InstanceRateLimits
    sent_ids: SentIds
    #: One circuit per instance, shared by the reply handler's sends.
    breakers: Breakers


# async: FastAPI runs plain `def` dependencies in a thread pool, a hop that costs more than the lookup.
async def get_ports(request: Request) -> Ports:
    ports: Ports = request.app.state.ports
    return ports


PortsDep = Annotated[Ports, Depends(get_ports)]


async def require_admin(request: Request, ports: PortsDep) -> authentication.Caller:
    return authentication.admin_caller(
        request.headers.get("authorization"),
        admin=ports.settings.admin_token,
        operator=ports.settings.operator_token,
    )


CallerDep = Annotated[authentication.Caller, Depends(require_admin)]


router = APIRouter()
admin = APIRouter(prefix="/v1/instances", tags=["instances"], dependencies=[Depends(require_admin)])


# -- webhooks in ------------------------------------------------------------------------------------------


class WebhookAnswer(BaseModel):
    status: Literal["published", "duplicate", "skipped", "ignored", "unchanged"]
    event_id: str | None = None
    reason: str | None = None


def _invalid(exc: ValidationError, *prefix: str | int) -> RequestValidationError:
    """pydantic's errors as FastAPI's, so servicekit's one 422 handler names the field (``data.key.id``)."""
    errors = [{**e, "loc": ("body", *prefix, *e["loc"])} for e in exc.errors(include_url=False)]
    return RequestValidationError(errors)


@asynccontextmanager
async def _counted(event: str) -> AsyncIterator[None]:
    label = event if event in _KNOWN_EVENTS else "other"
    try:
        yield
    except (MalformedWebhook, RequestValidationError):
        metrics.WEBHOOKS.labels(label, "invalid").inc()
        raise
    except authentication.WebhookRefused as exc:
        # One answer for every refusal (names must not be enumerable); the metric and the log say which.
        outcome = "unknown_instance" if isinstance(exc.__cause__, NotFound) else "unauthorized"
        metrics.WEBHOOKS.labels(label, outcome).inc()
        log.info("webhook_refused", webhook_event=label, reason=exc.reason)
        raise
    except RateLimited:
        metrics.WEBHOOKS.labels(label, "rate_limited").inc()
        raise
    except BusUnavailable:
        metrics.WEBHOOKS.labels(label, "unavailable").inc()
        raise


async def _authenticated(request: Request, ports: Ports, name: str | None) -> Instance:
    """The instance a webhook names, proven by its headers alone (nothing past the head is read yet)."""
    if name is None:
        raise authentication.WebhookRefused("no instance name at the start of the body")
    try:
        instance = await ports.registry.cached(name)
    except UnknownInstance as exc:
        raise authentication.WebhookRefused("unknown instance") from exc
    authentication.verify_webhook(
        request.headers,
        instance.webhook_secret,
        header=ports.settings.webhook_secret_header,
        leeway=ports.settings.jwt_leeway_seconds,
    )
    return instance


async def _ingest(request: Request, ports: Ports, suffix: str | None) -> WebhookAnswer:
    # The body is read in two steps: its head names the instance, whose secret (headers only) is checked
    # and rate is counted before the rest of a body of up to EVOLUTION_MAX_BODY_BYTES is read and parsed.
    chunks = aiter(request.stream())
    body, head = b"", webhooks.head(b"")
    async for chunk in chunks:
        body += chunk
        head = webhooks.head(body)
        if head.instance is not None or len(body) >= webhooks.HEAD_BYTES:
            break
    async with _counted(head.event):
        instance = await _authenticated(request, ports, head.instance)
        ports.limits.take(instance.name)
        rest = [chunk async for chunk in chunks]
        try:
            webhook = webhooks.parse(body + b"".join(rest))
        except ValidationError as exc:
            raise _invalid(exc) from None
    async with _counted(webhook.event):
        if webhook.instance != instance.name:
            # A second "instance" key later in the body: JSON keeps the last one, the head saw the first.
            raise authentication.WebhookRefused("the body names another instance than its head")
        if suffix is not None and suffix != webhooks.url_suffix(webhook.event):
            raise RequestValidationError(
                [{"loc": ("body", "event"), "msg": f"URL says {suffix!r}, body says {webhook.event!r}"}]
            )
        if webhook.event == webhooks.MESSAGES_UPSERT:
            answer = await _receive_message(webhook, instance, ports)
        elif webhook.event == webhooks.CONNECTION_UPDATE:
            answer = await _update_connection(webhook, instance, ports)
        else:
            # Answered 200: anything else would make Evolution retry an event we will never use.
            answer = WebhookAnswer(status="ignored")
    outcome = f"skipped_{answer.reason}" if answer.status == "skipped" else answer.status
    metrics.WEBHOOKS.labels(webhook.event if webhook.event in _KNOWN_EVENTS else "other", outcome).inc()
    return answer


async def _receive_message(
    webhook: webhooks.EvolutionWebhook, instance: Instance, ports: Ports
) -> WebhookAnswer:
    try:
        upsert = webhooks.MessageUpsert.model_validate(webhook.data)
        payload = webhooks.to_message(webhook, upsert, instance_id=instance.instance_id, rules=ports.rules)
        when = None if isinstance(payload, webhooks.Skip) else webhooks.occurred_at(upsert)
    except ValidationError as exc:
        # Authenticated garbage is the sender's to fix: 422 naming the field, never a 500 that Evolution
        # would retry ten times.
        raise _invalid(exc, "data") from None
    if isinstance(payload, webhooks.Skip):
        return WebhookAnswer(status="skipped", reason=payload.reason)
    # the chat as a send names it (handlers.recipient): the number, or the JID of a lead known by its @lid
    chat = payload.from_ or f"{payload.lead_external_id.removeprefix('wa:lid:')}@lid"
    if payload.from_me and await ports.sent_ids.echo(instance.instance_id, upsert.key.id, chat, payload.body):
        # Our own sendText coming back (the agent's or an operator's reply): already in the conversation.
        return WebhookAnswer(status="skipped", reason="echo")
    published = await ports.bus.emit(
        payload,
        company_id=instance.company_id,
        dedupe_key=webhooks.message_key(instance.instance_id, upsert, payload),
        occurred_at=when,
    )
    return WebhookAnswer(
        status="duplicate" if published.duplicate else "published", event_id=published.event_id
    )


async def _update_connection(
    webhook: webhooks.EvolutionWebhook, instance: Instance, ports: Ports
) -> WebhookAnswer:
    try:
        update = webhooks.ConnectionUpdate.model_validate(webhook.data)
    except ValidationError as exc:
        raise _invalid(exc, "data") from None
    mapped = webhooks.to_status(update.state, update.status_reason)
    if mapped is None:
        return WebhookAnswer(status="unchanged")
    event_id = await statuses.record(ports.bus, ports.registry, instance, *mapped, source="webhook")
    return WebhookAnswer(status="published" if event_id else "unchanged", event_id=event_id)


def _answer(answer: WebhookAnswer) -> Response:
    return Response(answer.model_dump_json(), media_type="application/json")


# The hot path skips FastAPI's dependency solving and response-model round trip (a third of a request's CPU,
# bench/evolution_webhooks.py): it reads the ports itself and answers with bytes already serialized.
@router.post("/webhooks/evolution", tags=["webhooks"], response_model=WebhookAnswer)
async def receive_webhook(request: Request) -> Response:
    """Evolution API v2 webhook (reference §4); 200 once the event is durably in Redis."""
    return _answer(await _ingest(request, request.app.state.ports, suffix=None))


@router.post("/webhooks/evolution/{event}", tags=["webhooks"], response_model=WebhookAnswer)
async def receive_webhook_by_event(event: str, request: Request) -> Response:
    """The same, for instances configured with ``byEvents`` (``…/messages-upsert``, reference §2)."""
    return _answer(await _ingest(request, request.app.state.ports, suffix=event))


# -- the instance registry (internal admin API) ----------------------------------------------------------

Name = Annotated[str, Path(pattern=NAME_PATTERN)]


class InstancePublic(BaseModel):
    instance_id: str
    name: str
    company_id: str
    channel: str
    status: str


class InstanceRefreshed(InstancePublic):
    state: str
    changed: bool
    event_id: str | None


def _public(instance: Instance) -> InstancePublic:
    return InstancePublic(**instance.public())


@admin.put(
    "/{name}",
    responses={
        403: {"description": "`managed` set with the service token"},
        409: {"description": "The name is registered to another company"},
        422: {"description": "`api_key` missing on creation, or not accepted by Evolution for this instance"},
    },
)
async def put_instance(
    name: Name, body: InstanceConfig, response: Response, ports: PortsDep, caller: CallerDep
) -> InstancePublic:
    """Register (create-if-absent) or update a company's instance; 201 when created. With the service token
    the company proves the instance's own Evolution token; with the operator token an instance may be
    registered without one (``managed``) or moved to another company. Secrets are write-only."""
    instance, created = await registration.register(
        name,
        body,
        caller=caller,
        registry=ports.registry,
        evolution=ports.evolution,
        global_key=ports.settings.api_key,
    )
    response.status_code = 201 if created else 200
    return _public(instance)


@admin.get("")
async def list_instances(ports: PortsDep, company_id: str | None = None) -> list[InstancePublic]:
    return [_public(i) for i in await ports.registry.list(company_id)]


@admin.get("/{name}")
async def get_instance(name: Name, ports: PortsDep) -> InstancePublic:
    return _public(await ports.registry.get(name))


@admin.post("/{name}/refresh")
async def refresh_instance(name: Name, ports: PortsDep) -> InstanceRefreshed:
    """Ask Evolution for the connection state now; ``instance.status`` is published if it changed."""
    refreshed = await statuses.refresh(
        await ports.registry.get(name),
        bus=ports.bus,
        registry=ports.registry,
        evolution=ports.evolution,
        default_api_key=ports.settings.api_key,
    )
    fields: dict[str, Any] = refreshed.instance.public()
    return InstanceRefreshed(
        **fields, state=refreshed.state, changed=refreshed.event_id is not None, event_id=refreshed.event_id
    )


router.include_router(admin)
