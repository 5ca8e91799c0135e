"""Request ids, access log lines and RED metrics per route template, over ASGI with a real bus and Redis."""

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest
import servicekit
import structlog
from eventbus import Bus, Consumer, Envelope, Subscription, add_event_fields, catalog
from eventbus.testing import samples
from eventbus.testing.waiting import eventually
from fastapi import FastAPI
from prometheus_client import REGISTRY
from servicekit import UpstreamUnavailable, telemetry
from servicekit.secretbox import generate_key
from structlog.testing import capture_logs

CH = "lead.qualified"


class Recording(httpx.AsyncBaseTransport):
    """A tiny upstream that answers 200 and keeps each request's headers."""

    def __init__(self) -> None:
        self.headers: list[httpx.Headers] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.headers.append(request.headers)
        return httpx.Response(200, json={"ok": True})


def make_app(bus: Bus, upstream: Recording) -> FastAPI:
    app = FastAPI()
    servicekit.install(app, service="test")
    client = servicekit.http_client(transport=upstream, base_url="http://upstream")

    @app.post("/v1/things/{thing_id}")
    async def publish(thing_id: str) -> dict[str, str]:
        await client.get("/lookup")
        published = await bus.emit(samples.every_channel()[CH], company_id=samples.COMPANY)
        return {"event_id": published.event_id}

    @app.get("/v1/things/{thing_id}")
    async def read(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @app.get("/v1/broken")
    async def broken() -> None:
        raise UpstreamUnavailable("upstream down")

    app.state.client = client
    return app


def count(route: str, status: str, method: str = "GET") -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("http_server_requests_total", labels) or 0.0


async def test_request_id_is_returned_sent_upstream_logged_and_carried_into_the_handled_event(
    bus: Bus,
) -> None:
    upstream = Recording()
    app = make_app(bus, upstream)
    handled: list[Envelope] = []

    async def handle(event: Envelope) -> None:
        structlog.get_logger().info("thing_handled")
        await app.state.client.get("/while-handling")  # an upstream call made for the event
        handled.append(event)

    group = f"g{id(handled)}"
    with capture_logs(processors=[structlog.contextvars.merge_contextvars, add_event_fields]) as logs:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
            Consumer(bus, group, [Subscription(CH, handle)], block=timedelta(milliseconds=100)).running(),
        ):
            answered = await http.post("/v1/things/t-1", headers={"X-Request-ID": "turn-0042"})
            await eventually(lambda: asyncio.sleep(0, handled))
        await app.state.client.aclose()

    assert answered.status_code == 200 and answered.headers["x-request-id"] == "turn-0042"
    [event] = handled
    assert event.id == answered.json()["event_id"] and event.request_id == "turn-0042"
    assert [h["x-request-id"] for h in upstream.headers] == ["turn-0042", "turn-0042"]
    [access] = [line for line in logs if line["event"] == "http_request"]
    assert access["request_id"] == "turn-0042"
    assert (
        access["route"] == "/v1/things/{thing_id}" and access["status"] == 200 and access["method"] == "POST"
    )
    assert "t-1" not in str(access), "the raw path (it may hold ids) is not logged"
    [line] = [line for line in logs if line["event"] == "thing_handled"]
    assert line["request_id"] == "turn-0042" and line["event.id"] == event.id


async def test_the_request_id_survives_the_wire() -> None:
    event = Envelope.new(samples.every_channel()[CH], source="tests", company_id=samples.COMPANY)
    assert b"request_id" not in event.to_wire(), "absent, it is left off the wire (the catalog's envelope)"
    tagged = event.model_copy(update={"request_id": "turn-0042"})
    assert catalog.parse(tagged.to_wire()).request_id == "turn-0042"


@pytest.mark.parametrize("sent", [None, "", "has space", "x" * 65, "<script>", "-leading-dash", "ção"])
async def test_an_absent_or_unacceptable_request_id_is_replaced_by_a_new_one(bus: Bus, sent) -> None:
    app = make_app(bus, Recording())
    headers = {} if sent is None else {"X-Request-ID": sent.encode()}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        answered = await http.get("/v1/things/t-1", headers=headers)
        again = await http.get("/v1/things/t-1", headers=headers)
    assert answered.headers["x-request-id"].startswith("req_") and len(answered.headers["x-request-id"]) == 30
    assert answered.headers["x-request-id"] != again.headers["x-request-id"]


async def test_red_metrics_are_labelled_by_route_template_and_count_errors(bus: Bus) -> None:
    app = make_app(bus, Recording())
    before = {
        "ok": count("/v1/things/{thing_id}", "200"),
        "bad": count("/v1/broken", "502"),
        "lost": count("unmatched", "404"),
    }
    durations = "http_server_request_duration_seconds_count"
    timed = REGISTRY.get_sample_value(durations, {"method": "GET", "route": "/v1/things/{thing_id}"}) or 0.0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        for thing in ("a-1", "b-2", "c-3"):
            assert (await http.get(f"/v1/things/{thing}")).status_code == 200
        assert (await http.get("/v1/broken")).status_code == 502
        assert (await http.get("/no/such/path")).status_code == 404
        scraped = (await http.get("/metrics")).text
    assert count("/v1/things/{thing_id}", "200") - before["ok"] == 3
    assert count("/v1/broken", "502") - before["bad"] == 1
    assert count("unmatched", "404") - before["lost"] == 1
    assert (
        REGISTRY.get_sample_value(durations, {"method": "GET", "route": "/v1/things/{thing_id}"}) == timed + 3
    )
    assert 'route="/v1/things/{thing_id}"' in scraped
    assert "a-1" not in scraped and "/no/such/path" not in scraped, "one series per route, not per path"


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x", "OTEL_RESOURCE_ATTRIBUTES": "a=b"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, False),
    ],
)
def test_tracing_is_requested_only_by_the_standard_variables(environ, wanted) -> None:
    assert telemetry.requested(environ) is wanted


def test_without_the_variables_start_installs_nothing() -> None:
    from opentelemetry import trace

    before = trace.get_tracer_provider()
    telemetry.start("test", {})
    assert trace.get_tracer_provider() is before


@pytest.mark.parametrize(
    ("environ", "exporter"),
    [
        ({}, "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        ),
        ({"OTEL_TRACES_EXPORTER": "console"}, "opentelemetry.sdk.trace.export"),
    ],
)
def test_exporters_are_the_sdks_by_their_standard_names(environ, exporter) -> None:
    [made] = list(telemetry._exporters(environ))
    try:
        assert type(made).__module__ == exporter
    finally:
        made.shutdown()


def run_service_process(environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Build evolution-manager's app and start telemetry as ``serve`` does, in a fresh process (the global
    tracer provider can be set once per process), with exactly ``environ``'s OTEL_* variables."""
    script = """
import json, sys
from evolution_manager.app import create_app
from evolution_manager.settings import Settings
from opentelemetry import trace
from servicekit import telemetry
app = create_app(Settings(api_key="x"))
on = telemetry.start("evolution-manager")
with trace.get_tracer("probe").start_as_current_span("probe-span"):
    pass
provider = trace.get_tracer_provider()
getattr(provider, "force_flush", lambda: None)()
prefixes = ("opentelemetry.sdk.trace", "opentelemetry.instrumentation.", "opentelemetry.exporter.")
loaded = sorted({".".join(m.split(".")[1:3]) for m in sys.modules if m.startswith(prefixes)})
print(json.dumps({"on": on, "provider": type(provider).__name__, "loaded": loaded,
                  "instrumented": getattr(app, "_is_instrumented_by_opentelemetry", False)}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | environ
    env["SECRETS_KEYS"] = generate_key()  # the app seals the secrets it stores
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)


def test_without_otel_variables_a_service_starts_no_sdk_and_loads_no_instrumentation() -> None:
    result = run_service_process({})
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state == {"on": False, "provider": "ProxyTracerProvider", "loaded": [], "instrumented": False}


def test_the_standard_variables_start_the_sdk_with_the_services_name_and_instrument_the_app() -> None:
    result = run_service_process(
        {"OTEL_TRACES_EXPORTER": "console", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test"}
    )
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state["on"] is True and state["provider"] == "TracerProvider"
    assert state["instrumented"] is True
    assert {"instrumentation.fastapi", "instrumentation.redis", "sdk.trace"} <= set(state["loaded"])
    printed = result.stdout  # the console exporter writes each span as JSON
    assert '"name": "probe-span"' in printed
    assert '"service.name": "evolution-manager"' in printed and '"deployment.environment": "test"' in printed
    renamed = run_service_process({"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "em-eu-1"})
    assert '"service.name": "em-eu-1"' in renamed.stdout, "OTEL_SERVICE_NAME wins over the default"
