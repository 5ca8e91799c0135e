"""The OpenAPI document: exported to contracts/openapi/backoffice-api.json without drift, and honoured by the
app — schemathesis throws generated requests, valid and invalid, at a running server and finds no 5xx and no
answer outside the document."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import eventbus
import httpx
import pytest
import requests
import schemathesis
import uvicorn
from backoffice_api import openapi
from backoffice_api.apikeys import SCOPES, ApiKeys
from backoffice_api.app import create_app
from eventbus.server import free_port
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.openapi.checks import __name__ as _  # noqa: F401 - registers the OpenAPI checks
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXPORTED = Path(__file__).resolve().parents[3] / "contracts" / "openapi" / "backoffice-api.json"
#: Examples per operation: enough to reach every parameter's edges, small enough to keep the suite fast.
EXAMPLES = 10


def test_exported_document_matches_the_app():
    assert EXPORTED.exists(), "run: uv run python -m backoffice_api.openapi"
    assert EXPORTED.read_text(encoding="utf-8") == openapi.render(), (
        "contracts/openapi/backoffice-api.json is stale: run `uv run python -m backoffice_api.openapi`"
    )


def test_document_declares_the_key_and_the_errors_of_every_route():
    doc = openapi.document()
    assert doc["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key (`wolfgang keys create`)",
    }
    for path, item in doc["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in item.items():
            assert {"401", "403", "422", "429"} <= set(operation["responses"]), (method, path)
            assert operation["security"] == [{"APIKeyHeader": []}], (method, path)
    contract = doc["components"]["schemas"]["InstanceUpsert"]["properties"]["webhook_secret"]
    assert "writeOnly" in json.dumps(contract)
    assert "webhook_secret" not in doc["components"]["schemas"]["InstancePublic"]["properties"]


@pytest.fixture
def server(settings, upstreams, redis_url):
    """The app under uvicorn on a free port, in a thread, with a key holding every scope."""
    port = free_port()
    app = create_app(settings, transport=httpx.MockTransport(upstreams.handle))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not runner.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)

    async def key() -> str:
        redis = eventbus.connect(redis_url, decode_responses=True)
        try:
            keys = ApiKeys(redis, app.state.ports.models.ks)
            secret, _ = await keys.create(
                company_id="cmp_A", scopes=set(SCOPES), rate_per_minute=1_000_000, burst=100_000
            )
            return secret
        finally:
            await redis.aclose()

    try:
        yield f"http://127.0.0.1:{port}", asyncio.run(key())
    finally:
        runner.should_exit = True
        thread.join(timeout=15)


def test_generated_requests_get_no_5xx_and_answers_match_the_schema(server):
    base_url, key = server
    schema = schemathesis.openapi.from_dict(openapi.document())
    checks = [
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
        content_type_conformance,
    ]
    tried = 0
    session = requests.Session()  # one connection pool for every call, as a real client would
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/v1/") or operation.path == "/v1/events/stream":
            # /healthz, /readyz, /metrics are servicekit's; the stream is endless by design and
            # test_events_api covers it.
            continue

        modes = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | operation.as_strategy(
            generation_mode=GenerationMode.NEGATIVE
        )

        @given(case=modes)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            response = case.call(base_url=base_url, session=session, headers={"X-API-Key": key})
            case.validate_response(response, checks=checks)

        check()
        tried += 1
    assert tried >= 20


def test_agent_runtime_and_backoffice_api_check_agent_settings_with_one_model():
    # backoffice-api validates what an operator sends, and agent-runtime's answer, with the model agent-runtime
    # keeps them in (servicekit.agent_settings, extra="forbid"): were they two, a field or a rule added to one
    # would turn every GET of the settings into an error, or let through what the owner refuses.
    contracts = EXPORTED.parent
    theirs = json.loads((contracts / "agent-runtime.json").read_text(encoding="utf-8"))["components"][
        "schemas"
    ]
    ours = json.loads(EXPORTED.read_text(encoding="utf-8"))["components"]["schemas"]
    for name in ("AgentSettings", "AgentKnowledge", "AgentOpeningHours", "AgentPrice"):
        assert theirs[name]["properties"] == ours[name]["properties"], name
