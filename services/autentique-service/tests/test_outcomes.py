"""Ambiguous createDocument outcomes, over real HTTP to the fake Autentique: one document per contract, or one
plus an unknown outcome an operator resolves — never a second (billed) document.

The fake lists a new document after ``listing_lag_seconds`` (how soon Autentique lists one is unconfirmed,
reference §7): without lag the document is found by its name and adopted; with it, nothing proves either
way, so the request answers 502 and the outcome waits for an operator.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from autentique_service.app import create_app
from autentique_service.settings import Settings
from eventbus import Bus
from fakes import autentique
from fakes.autentique import AutentiqueState
from fakes.serving import served
from prometheus_client import REGISTRY
from servicekit.outcomes import list_unknown

AUTH = {"Authorization": "Bearer svc-token"}  # the conftest's (test modules cannot import it)
BODY: dict[str, Any] = {
    "deal_id": "deal_1",
    "company_id": "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C",
    "value": 15000,
    "currency": "BRL",
    "event": {"type": "Casamento", "date": "2026-03-14", "guests": 120, "location": "Espaço Jardim"},
    "signers": [{"name": "Maria Souza", "email": "maria.souza@example.com", "delivery": "email"}],
}

FAULTS: dict[str, Callable[[AutentiqueState], None]] = {
    "read_timeout_after_create": lambda fake: fake.timeout_after_create(seconds=1.5),
    "reset_after_write": lambda fake: fake.timeout_after_create(seconds=None),
    "html_2xx": lambda fake: fake.garble_next(),
    "500_after_processing": lambda fake: fake.fail_after_next(500),
}


def unknown_count() -> float:
    labels = {"service": "autentique-service", "effect": "create_document", "outcome": "unknown"}
    return REGISTRY.get_sample_value("side_effect_outcomes_total", labels) or 0.0


@pytest.fixture
def over_http(fake: AutentiqueState, settings: Settings, bus: Bus) -> Callable[..., Any]:
    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        async with served(autentique.create_app(fake)) as url:
            changes = {"api_url": f"{url}/v2/graphql", "request_timeout": 0.5}
            app = create_app(settings.model_copy(update=changes | overrides))
            async with (
                LifespanManager(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc.test") as http,
            ):
                yield http

    return start


async def _create(http: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await http.post("/v1/contracts", json=body, headers=AUTH)


@pytest.fixture
def body() -> dict[str, Any]:
    return dict(BODY)


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_an_ambiguous_create_is_looked_up_and_adopted(over_http, fake, body, fault: str) -> None:
    async with over_http() as http:
        FAULTS[fault](fake)
        created = await _create(http, body)
    assert created.status_code == 201, created.text
    [document] = fake.documents
    assert created.json()["document_id"] == document
    creates = [r for r in fake.requests if b"createDocument" in r.body]
    assert len(creates) == 1


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_an_ambiguous_create_not_found_is_unknown_and_never_created_again(
    over_http, fake, body, bus: Bus, settings: Settings, fault: str
) -> None:
    fake.listing_lag_seconds = 60.0
    before = unknown_count()
    async with over_http() as http:
        FAULTS[fault](fake)
        first = await _create(http, body)
        assert first.status_code == 502
        assert "outcome_unknown" in first.json()["error"]["message"]
        again = await _create(http, body)  # the caller retries: looked up again, not created again
        assert again.status_code == 502
    assert len(fake.documents) == 1
    assert len([r for r in fake.requests if b"createDocument" in r.body]) == 1
    assert unknown_count() >= before + 1
    index = bus.keys.service("autentique-service", "outcomes", "unknown")
    [listed] = await list_unknown(bus.redis, index)
    assert listed.effect == "create_document" and listed.id == _contract_id(first)


async def test_a_claim_a_crashed_request_left_is_looked_up_before_anything_is_created(
    over_http, fake, body, bus: Bus
) -> None:
    fake.listing_lag_seconds = 60.0
    async with over_http() as http:
        fake.timeout_after_create(seconds=1.5)
        first = await _create(http, body)
        assert first.status_code == 502
        contract_id = _contract_id(first)
        # What a SIGKILL between the call and the mark leaves: the claim, in flight.
        key = bus.keys.service("autentique-service", f"{{{contract_id}}}", "document-outcome")
        await bus.redis.set(key, "sending:1:" + contract_id)
        fake.listing_lag_seconds = 0.0
        adopted = await _create(http, body)
    assert adopted.status_code == 201
    assert list(fake.documents) == [adopted.json()["document_id"]]
    assert len([r for r in fake.requests if b"createDocument" in r.body]) == 1


async def test_a_503_created_nothing_and_is_retried(over_http, fake, body) -> None:
    async with over_http() as http:
        fake.fail_next(503, count=2)  # not processed: retried within the request
        created = await _create(http, body)
    assert created.status_code == 201
    assert len(fake.documents) == 1


def _contract_id(answer: httpx.Response) -> str:
    found = re.search(r"ctr_[0-9A-Z]+", answer.json()["error"]["message"])
    assert found is not None
    return found.group(0)


async def test_an_unknown_create_is_listed_and_resolved_over_ops_outcomes(over_http, fake, body) -> None:
    # What backoffice-api's /v1/ops/outcomes reads (with its credential) and an operator's decision: "resend"
    # releases the record, and the caller's next request creates the document once.
    fake.listing_lag_seconds = 60.0
    async with over_http() as http:
        fake.fail_after_next(500)
        first = await _create(http, body)
        assert first.status_code == 502
        contract_id = _contract_id(first)
        assert (await http.get("/ops/outcomes")).status_code == 401  # behind the service credential
        [listed] = (await http.get("/ops/outcomes", headers=AUTH)).json()
        assert (listed["effect"], listed["id"]) == ("create_document", contract_id)
        fake.documents.clear()  # the operator checked Autentique: the document is not there
        decided = await http.post(
            f"/ops/outcomes/create_document/{contract_id}/resolve",
            json={"decision": "resend", "operator": "ana@vendas"},
            headers=AUTH,
        )
        assert decided.status_code == 200, decided.text
        assert (await http.get("/ops/outcomes", headers=AUTH)).json() == []
        again = await _create(http, body)
    assert again.status_code == 201, again.text
    assert len(fake.documents) == 1
