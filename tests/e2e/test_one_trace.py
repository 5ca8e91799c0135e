"""One WhatsApp turn is one trace: webhook → evolution-manager → bus → agent-runtime → message.sent →
evolution-manager → sendText, with the two services in-process over ASGI, the fake Evolution API behind
evolution-manager's real client, and a real Redis. The webhook's X-Request-ID reaches the sendText call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import agent_runtime.app
import evolution_manager.app
import httpx
import pytest
from agent_runtime.settings import Settings as AgentSettings
from asgi_lifespan import LifespanManager
from eventbus import BusSettings, tracing
from eventbus.testing.waiting import eventually
from evolution_manager.settings import Settings as EvolutionSettings
from fakes import evolution as fake_evolution
from fakes.evolution_webhooks import text_message_webhook
from opentelemetry import trace
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from servicekit.secretbox import generate_key
from servicekit.telemetry import InsideTraces

COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
INSTANCE = "vendas-01"
ADMIN = "e2e-trace-admin-credential"  # backoffice-api's credential for evolution-manager here
SECRET = "s3cr3t-webhook-secret-of-vendas-01-32b"


class Recording(httpx.AsyncBaseTransport):
    """The real fake app behind an ASGI transport; keeps the headers of each request made through it."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.headers: list[tuple[str, httpx.Headers]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.headers.append((request.url.path, request.headers))
        return await self.inner.handle_async_request(request)


@pytest.fixture
def spans() -> AsyncIterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the global provider is set once per process
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.refresh()
    RedisInstrumentor().instrument(tracer_provider=InsideTraces(provider))
    try:
        yield exporter
    finally:
        RedisInstrumentor().uninstrument()
        exporter.shutdown()  # later tests' spans are not kept


async def test_one_webhook_is_one_trace_across_both_services_the_bus_and_send_text(
    spans: InMemorySpanExporter, redis_url: str, bus_settings: BusSettings
) -> None:
    common: dict[str, Any] = {
        "redis_url": redis_url,
        "bus_prefix": bus_settings.prefix,
        "bus_live_prefix": bus_settings.live_prefix,
        "consumer_block_seconds": 0.1,
    }
    fake = fake_evolution.EvolutionState()
    fake.add_instance(INSTANCE, "fake-instance-apikey-vendas-01")
    upstream = Recording(fake_evolution.create_app(fake))
    evolution = evolution_manager.app.create_app(
        EvolutionSettings(
            **common,
            consumer_name="em",
            refresh_on_start=False,
            admin_token=ADMIN,
            secrets_keys=generate_key(),
        ),
        transport=upstream,
    )
    agent = agent_runtime.app.create_app(AgentSettings(**common, consumer_name="ar"))
    async with (
        LifespanManager(evolution),
        LifespanManager(agent),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=evolution), base_url="http://em") as http,
    ):
        registered = await http.put(
            f"/v1/instances/{INSTANCE}",
            json={
                "company_id": COMPANY,
                "webhook_secret": SECRET,
                "api_key": "fake-instance-apikey-vendas-01",
            },
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert registered.status_code in (200, 201), registered.text
        webhook = text_message_webhook(instance=INSTANCE, from_number="5511987654321", text="Oi, boa tarde")
        answered = await http.post(
            "/webhooks/evolution",
            json=webhook,
            headers={"x-shared-secret": SECRET, "X-Request-ID": "turn-0001"},
        )
        assert answered.status_code == 200, answered.text
        assert answered.headers["x-request-id"] == "turn-0001"
        await eventually(lambda: _sent(upstream), timeout=15)

    [(_, sent)] = [(path, headers) for path, headers in upstream.headers if "/message/sendText/" in path]
    assert sent["x-request-id"] == "turn-0001", "the webhook's request id reaches the reply's upstream call"
    finished = spans.get_finished_spans()
    [server] = [
        s for s in finished if s.name == "POST /webhooks/evolution" and s.kind is trace.SpanKind.SERVER
    ]
    turn = server.context.trace_id
    in_turn = [s for s in finished if s.context.trace_id == turn]
    names = {s.name for s in in_turn}
    assert {
        "publish message.received",
        "handle message.received",
        "publish message.sent",
        "handle message.sent",
    } <= names, names
    [handled] = [s for s in in_turn if s.name == "handle message.received"]
    assert handled.attributes["messaging.consumer.group.name"] == "agent-runtime"
    [delivered] = [s for s in in_turn if s.name == "handle message.sent"]
    assert delivered.attributes["messaging.consumer.group.name"] == "evolution-manager"
    [send_text] = [
        s for s in in_turn if s.kind is trace.SpanKind.CLIENT and _url(s).count("/message/sendText/")
    ]
    assert send_text.parent is not None and send_text.parent.span_id == delivered.context.span_id
    assert sent["traceparent"].split("-")[1] == f"{turn:032x}", "the trace goes upstream in traceparent"
    assert any(s.attributes.get("db.system") == "redis" for s in in_turn), "Redis commands are in the turn"
    # The consumers' idle reads are no traces of their own: every Redis span has a parent.
    assert all(s.parent is not None for s in finished if s.attributes.get("db.system") == "redis")


async def _sent(upstream: Recording) -> bool:
    return any("/message/sendText/" in path for path, _ in upstream.headers)


def _url(span: ReadableSpan) -> str:
    attributes = span.attributes or {}
    return str(attributes.get("url.full") or attributes.get("http.url") or "")
