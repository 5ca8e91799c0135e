"""Fixtures: the app over the real Redis (a fresh bus prefix per test), API keys, and stand-ins for the
internal APIs we call, implementing exactly the contracts the service brief writes down:

- autentique-service ``POST /v1/contracts`` (201 created / 200 the deal's existing one; a repeated
  ``Idempotency-Key`` answers the first answer again, or 422 ``idempotency_key_reused`` for another body) and
  ``GET /v1/contracts/{id}``;
- evolution-manager ``PUT /v1/instances/{name}`` (create-if-absent for ``company_id``: 409 when another company
  has it, 422 naming ``api_key`` when it is missing on creation or is not the instance's Evolution token, which
  here is ``Upstreams.tokens[name]``), ``GET /v1/instances?company_id=``, ``GET /v1/instances/{name}``;
- agent-runtime ``PUT/DELETE/GET /v1/leads/{lead_id}/handoff``, ``GET/PUT /v1/companies/{id}/agent-settings``
  and ``POST /v1/leads/{lead_id}/messages`` (an operator's reply: 202 with ids derived from the body's
  ``idempotency_key``, so a repeat answers the same ``event_id``; ``Upstreams.replies`` records each call);
- facebook-capi ``PUT/GET /v1/settings/companies/{id}/capi`` (the access token kept when a PUT leaves it out,
  422 naming it on a first configuration without one; never answered);

all behind ``Authorization: Bearer dev-service-token``; each records what it was sent and can fail on demand.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import eventbus
import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from backoffice_api.apikeys import SCOPES, ApiKeys
from backoffice_api.app import create_app
from backoffice_api.keyspace import Keyspace
from backoffice_api.settings import Settings
from eventbus import Client, Envelope, Keys, Payload
from eventbus.testing.waiting import eventually
from servicekit.testing import ADMIN_TOKEN, asgi, settings_for
from ulid import ULID

COMPANY = "cmp_A"
OTHER = "cmp_B"
TOKEN = ADMIN_TOKEN
COMPANY_SCOPES = tuple(scope for scope in SCOPES if scope != "platform:admin")


class Upstreams:
    """The three internal APIs on their default ports, in memory. ``fail[api] = n`` answers 503 n times."""

    def __init__(self) -> None:
        self.contracts: dict[str, dict[str, Any]] = {}  # by deal id
        self.instances: dict[str, dict[str, Any]] = {}  # by name
        self.secrets: dict[str, dict[str, str]] = {}  # what evolution-manager was given, by name
        # Each instance's own token on the Evolution server, which evolution-manager verifies.
        self.tokens: dict[str, str] = {"loja": "evo-token-of-loja", "loja-centro": "evo-api-key-123"}
        self.handoffs: dict[str, dict[str, Any]] = {}
        self.capi: dict[str, dict[str, Any]] = {}  # company → CAPI settings as facebook-capi stores them
        self.replies: list[dict[str, Any]] = []  # operator replies agent-runtime was asked to publish
        self.agent_settings: dict[str, dict[str, Any]] = {}  # agent-runtime's, by company
        self.requests: list[httpx.Request] = []
        self.fail: dict[str, int] = {"autentique": 0, "evolution": 0, "agent": 0, "capi": 0}
        self.idempotent: dict[str, tuple[bytes, httpx.Response]] = {}  # Idempotency-Key → (body, answer)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        api = {8004: "autentique", 8001: "evolution", 8002: "agent", 8003: "capi"}[request.url.port or 80]
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"error": {"code": "unauthenticated", "message": "bad token"}})
        if self.fail[api]:
            self.fail[api] -= 1
            return httpx.Response(503, json={"error": {"code": "unavailable", "message": "down"}})
        if request.url.path == "/ops/outcomes":  # the owners of side-effect records: none unknown here
            return httpx.Response(200, json=[])
        if request.url.path.startswith("/ops/outcomes/"):
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no such outcome"}})
        return getattr(self, f"_{api}")(request)

    def _autentique(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/v1/contracts":
            key = request.headers.get("idempotency-key")
            if key in self.idempotent:
                first_body, first = self.idempotent[key]
                if first_body != request.content:
                    error = {"code": "idempotency_key_reused", "message": "another body"}
                    return httpx.Response(422, json={"error": error})
                return httpx.Response(first.status_code, content=first.content, headers=first.headers)
            answer = self._new_contract(request)
            if key is not None:
                self.idempotent[key] = (request.content, answer)
            return answer
        if request.method == "GET" and path.startswith("/v1/contracts/"):
            contract_id = path.rsplit("/", 1)[1]
            for contract in self.contracts.values():
                if contract["contract_id"] == contract_id:
                    return httpx.Response(200, json=contract)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no such contract"}})

    def _new_contract(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        existing = self.contracts.get(body["deal_id"])
        if existing is not None and not body.get("reissue"):
            return httpx.Response(200, json=existing)
        contract = {
            "contract_id": f"ctr_{ULID()}",
            "deal_id": body["deal_id"],
            "lead_id": body["lead_id"],
            "company_id": body["company_id"],
            "document_id": f"doc{ULID()}",
            "status": "pending",
            "value": body["value"],
            "currency": body["currency"],
            "signers": [
                {
                    "name": s["name"],
                    "email": s.get("email"),
                    "phone": s.get("phone"),
                    "status": "pending",
                    "signed_at": None,
                    # autentique-service hands a signing link back for signers it does not notify
                    "link": f"https://assina.ae/{ULID()}" if s.get("delivery") == "link" else None,
                }
                for s in body["signers"]
            ],
            "created_at": datetime.now(UTC).isoformat(),
        }
        self.contracts[body["deal_id"]] = contract
        return httpx.Response(201, json=contract)

    def sign(self, contract_id: str, signer: int = 0) -> None:
        for contract in self.contracts.values():
            if contract["contract_id"] == contract_id:
                contract["signers"][signer].update(status="signed", signed_at=datetime.now(UTC).isoformat())

    def _evolution(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if path == "/v1/instances" and method == "GET":
            company = request.url.params.get("company_id")
            return httpx.Response(
                200, json=[i for i in self.instances.values() if i["company_id"] == company]
            )
        name = path.rsplit("/", 1)[1]
        if method == "PUT":
            body = json.loads(request.content)
            current = self.instances.get(name)
            if current is not None and current["company_id"] != body["company_id"]:
                return httpx.Response(409, json={"error": {"code": "conflict", "message": "name taken"}})
            if (current is None or "api_key" in body) and body.get("api_key") != self.tokens.get(name):
                problem = {"field": "api_key", "rule": "value_error", "problem": "not this instance's token"}
                error = {
                    "code": "invalid",
                    "message": "api_key: not this instance's token",
                    "problems": [problem],
                }
                return httpx.Response(422, json={"error": error})
            instance = current or {"instance_id": f"ins_{ULID()}", "name": name, "status": "disconnected"}
            instance |= {"company_id": body["company_id"], "channel": body.get("channel", "whatsapp")}
            self.instances[name] = instance
            self.secrets[name] = {k: body[k] for k in ("webhook_secret", "api_key") if k in body}
            return httpx.Response(200, json=instance)
        if name in self.instances:
            return httpx.Response(200, json=self.instances[name])
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no such instance"}})

    def _capi(self, request: httpx.Request) -> httpx.Response:
        company = request.url.path.split("/")[4]
        if request.method == "PUT":
            body = json.loads(request.content)
            token = body.get("access_token") or self.capi.get(company, {}).get("access_token")
            if token is None:
                problem = {"field": "body.access_token", "problem": "required for a first configuration"}
                error = {"code": "invalid", "message": "access_token: required", "problems": [problem]}
                return httpx.Response(422, json={"error": error})
            self.capi[company] = body | {"access_token": token, "company_id": company, "updated_at": None}
        if company not in self.capi:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no configuration"}})
        return httpx.Response(200, json={k: v for k, v in self.capi[company].items() if k != "access_token"})

    def _agent(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/companies/"):
            return self._agent_settings(request)
        lead_id = request.url.path.split("/")[3]
        if request.url.path.endswith("/messages"):
            body = json.loads(request.content)
            self.replies.append({"lead_id": lead_id, **body})
            derived = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{lead_id}/{body['idempotency_key']}"))
            handed_off = lead_id not in self.handoffs
            self.handoffs.setdefault(
                lead_id, {"lead_id": lead_id, "active": True, "reason": "operator_reply"}
            )
            answer = {
                "event_id": f"evt_{derived}",
                "correlation_id": f"cor_{derived}",
                "handed_off": handed_off,
            }
            return httpx.Response(202, json={**answer, "duplicate": len(self.replies) > 1})
        if request.method == "PUT":
            body = json.loads(request.content)
            self.handoffs[lead_id] = {
                "lead_id": lead_id,
                "active": True,
                "reason": body.get("reason"),
                "updated_at": datetime.now(UTC).isoformat(),
            }
            return httpx.Response(200, json=self.handoffs[lead_id])
        if request.method == "DELETE":
            self.handoffs.pop(lead_id, None)
            return httpx.Response(204)
        if lead_id in self.handoffs:
            return httpx.Response(200, json=self.handoffs[lead_id])
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no handoff"}})

    def _agent_settings(self, request: httpx.Request) -> httpx.Response:
        """agent-runtime's ``GET/PUT /v1/companies/{id}/agent-settings``: what was saved, else the defaults."""
        company_id = request.url.path.split("/")[3]
        if request.method == "PUT":
            body = json.loads(request.content)
            self.agent_settings[company_id] = {
                "company_id": company_id,
                "settings": body["settings"],
                "source": "stored",
                "updated_at": datetime.now(UTC).isoformat(),
                "updated_by": body.get("updated_by"),
            }
        defaults = {"company_id": company_id, "settings": {}, "source": "default"}
        return httpx.Response(200, json=self.agent_settings.get(company_id, defaults))


@pytest.fixture
def upstreams() -> Upstreams:
    return Upstreams()


@pytest.fixture
def settings(service_redis_url, bus_settings) -> Settings:
    return settings_for(
        Settings,
        "backoffice-api",
        service_redis_url=service_redis_url,
        bus_settings=bus_settings,
        consumer_name="tests",
        metrics_cache_seconds=0,
        # Its credential for each service it calls; the stand-ins below accept TOKEN.
        autentique_token=TOKEN,
        evolution_token=TOKEN,
        agent_token=TOKEN,
        capi_token=TOKEN,
    )


@pytest_asyncio.fixture
async def redis(redis_url) -> AsyncIterator[Client]:
    client = eventbus.connect(redis_url, decode_responses=True)  # one server or a cluster, as the app does
    yield client
    await client.aclose()


@pytest.fixture
def keyspace(bus_settings) -> Keyspace:
    return Keyspace(Keys(bus_settings.prefix, bus_settings.live_prefix))


@pytest.fixture
def make_app(settings, upstreams):
    def build(**overrides):
        return create_app(
            settings.model_copy(update=overrides), transport=httpx.MockTransport(upstreams.handle)
        )

    return build


@pytest_asyncio.fixture
async def app(make_app):
    app = make_app()
    async with LifespanManager(app):
        yield app


@pytest_asyncio.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=asgi(app), base_url="http://test") as http:
        yield http


@pytest.fixture
def api_keys(redis, keyspace) -> ApiKeys:
    return ApiKeys(redis, keyspace)


@pytest.fixture
def make_key(api_keys) -> Callable[..., Awaitable[str]]:
    """An API key in clear; every scope of a company (all but `platform:admin`) and a roomy rate limit unless
    told otherwise."""

    async def make(company: str = COMPANY, scopes=COMPANY_SCOPES, **options) -> str:
        options.setdefault("rate_per_minute", 100_000)
        options.setdefault("burst", 10_000)
        secret, _ = await api_keys.create(company_id=company, scopes=set(scopes), **options)
        return secret

    return make


@pytest_asyncio.fixture
async def headers(make_key) -> dict[str, str]:
    return {"X-API-Key": await make_key(COMPANY)}


@pytest_asyncio.fixture
async def other_headers(make_key) -> dict[str, str]:
    return {"X-API-Key": await make_key(OTHER)}


@pytest.fixture
def publish(bus):
    """Publish an envelope (or a payload, wrapped for ``company``) as its producer would."""

    async def emit(item: Envelope[Any] | Payload, *, company: str = COMPANY, **fields) -> Envelope[Any]:
        event = (
            item
            if isinstance(item, Envelope)
            else Envelope.new(item, source="tests", company_id=company, **fields)
        )
        await bus.publish(event)
        return event

    return emit


@pytest.fixture
def until():
    """``await until(lambda: client.get(...), lambda r: …)``: poll an endpoint until the answer satisfies."""

    async def wait(request, condition, timeout: float = 10.0):
        async def check():
            response = await request()
            return response if condition(response) else None

        return await eventually(check, timeout=timeout)

    return wait


async def dump_views(redis: Client, keyspace: Keyspace) -> dict[str, Any]:
    """Every read-model key with its value, key names relative to the view prefix (tests only: SCAN)."""
    prefix = keyspace.views()[:-1]
    out: dict[str, Any] = {}
    async for key in redis.scan_iter(match=keyspace.views(), count=1000):
        kind = await redis.type(key)
        if kind == "hash":
            value: Any = await redis.hgetall(key)
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            value = sorted(await redis.smembers(key))
        else:
            value = await redis.get(key)
        out[key.removeprefix(prefix)] = value
    return out


@pytest.fixture
def snapshot(redis):
    async def take(keyspace: Keyspace) -> dict[str, Any]:
        return await dump_views(redis, keyspace)

    return take
