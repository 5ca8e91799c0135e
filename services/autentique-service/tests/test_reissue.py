"""Re-issues: an `Idempotency-Key` makes a retried or concurrent request answer the first one's result, the
replaced contract's document is cancelled at Autentique, and its late webhooks never make `contract.signed`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import httpx
import pytest
import uvicorn
from autentique_service.app import create_app
from eventbus.server import free_port
from fakes import autentique
from fakes.autentique import WebhookEndpoint
from fakes.autentique_schema import signature_resource

KEY = {"Idempotency-Key": "reissue-deal_1-after-ctr_first"}


@pytest.fixture
async def served(fake, settings) -> AsyncIterator[str]:
    """The service under uvicorn on a free port, in the test's loop: a client that gives up does not cancel
    the request it sent (in-process ASGI would), as with backoffice-api in production."""
    port = free_port()
    app = create_app(settings, transport=httpx.ASGITransport(app=autentique.create_app(fake)))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    url = f"http://127.0.0.1:{port}"
    fake.webhook_transport = None
    fake.webhook = WebhookEndpoint(
        url=f"{url}/webhooks/autentique", secret=settings.webhook_secret.get_secret_value()
    )
    try:
        yield url
    finally:
        server.should_exit = True
        await task


async def test_a_reissue_retried_after_a_client_timeout_makes_one_document_and_answers_the_first_result(
    service, served, fake
) -> None:
    async with httpx.AsyncClient(base_url=served, headers=service.auth, timeout=10) as http:
        first = (await http.post("/v1/contracts", json=service.request())).json()
        fake.timeout_after_create(seconds=1.5)  # Autentique creates the document, then answers late
        reissue = service.request(reissue=True)

        with pytest.raises(httpx.ReadTimeout):
            await http.post("/v1/contracts", json=reissue, headers=KEY, timeout=0.3)
        retried = await http.post("/v1/contracts", json=reissue, headers=KEY)
        again = await http.post("/v1/contracts", json=reissue, headers=KEY)

    assert retried.status_code == 201, retried.text
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.json()["contract_id"] != first["contract_id"]
    assert retried.json()["document_id"] is not None
    assert again.status_code == 201 and again.json()["contract_id"] == retried.json()["contract_id"]
    assert len(fake.documents) == 2  # the first contract's and one re-issue
    assert [e.payload.contract_id for e in await service.events("contract.created")] == [
        first["contract_id"],
        retried.json()["contract_id"],
    ]


async def test_the_same_key_with_another_body_is_422_and_issues_nothing(service) -> None:
    await service.create()
    headers = {**service.auth, **KEY}
    await service.http.post("/v1/contracts", json=service.request(reissue=True), headers=headers)

    other = await service.http.post(
        "/v1/contracts", json=service.request(reissue=True, value=99), headers=headers
    )

    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(service.fake.documents) == 2


async def test_the_replaced_contracts_document_is_cancelled_at_autentique(service) -> None:
    first = (await service.create()).json()

    again = await service.create(service.request(reissue=True))

    assert again.status_code == 201
    old = service.fake.documents[first["document_id"]]
    assert old.deleted_at is not None
    assert old.deadline_at is not None and not old.signable  # a link already sent can no longer sign
    with pytest.raises(ValueError, match="document_expired"):
        await service.fake.sign(first["document_id"], 0)
    assert service.fake.documents[again.json()["document_id"]].deleted_at is None


async def test_a_late_signature_of_the_replaced_document_is_recorded_and_never_signs(service) -> None:
    first = (await service.create()).json()
    await service.create(service.request(reissue=True))
    old = service.fake.documents[first["document_id"]]

    # Signatures made before the cancellation whose deliveries Autentique retries afterwards (reference §4).
    answers = []
    for signer in old.signers:
        signer.signed_at = signer.viewed_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        body = service.webhook_body(
            "signature.accepted", signature_resource(old, signer), event_id=str(uuid4())
        )
        answers.append(await service.post_webhook(body))

    assert [a.json() for a in answers] == [{"status": "superseded"}] * 2
    assert await service.events("contract.signed") == []
    recorded = (await service.get(first["contract_id"])).json()
    assert [s["status"] for s in recorded["signers"]] == ["signed", "signed"]
    assert recorded["status"] == "sent"


async def test_a_signed_contract_cannot_be_reissued(service) -> None:
    first = (await service.create()).json()
    for index in range(2):
        await service.fake.sign(first["document_id"], index)

    again = await service.create(service.request(reissue=True))

    assert again.status_code == 409
    assert len(service.fake.documents) == 1
    assert len(await service.events("contract.signed")) == 1


async def test_a_cancellation_autentique_refused_is_tried_again_on_the_next_request_for_the_deal(
    service,
) -> None:
    first = (await service.create()).json()
    token = service.fake.api_token
    service.fake.timeout_after_create(seconds=0.3)
    reissue = asyncio.create_task(service.create(service.request(reissue=True)))
    # Once the new document exists (its answer still on the way), Autentique stops taking our token: the
    # cancellation that follows fails.
    deadline = time.monotonic() + 5
    while len(service.fake.documents) < 2:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    service.fake.api_token = "revoked"
    reissued = await reissue
    old = service.fake.documents[first["document_id"]]
    assert reissued.status_code == 201 and old.deleted_at is None and old.signable

    service.fake.api_token = token
    again = await service.create(service.request())

    assert again.json()["contract_id"] == reissued.json()["contract_id"]
    assert old.deleted_at is not None and not old.signable


async def test_a_concurrent_duplicate_that_outwaits_its_wait_gets_409_in_progress_then_the_first_result(
    make_service, settings
) -> None:
    async with make_service(settings.model_copy(update={"idempotency_wait_seconds": 0.1})) as service:
        await service.create()
        headers = {**service.auth, **KEY}
        service.fake.timeout_after_create(seconds=1.0)
        body = service.request(reissue=True)
        first = asyncio.create_task(service.http.post("/v1/contracts", json=body, headers=headers))
        deadline = time.monotonic() + 5
        while len(service.fake.documents) < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)

        concurrent = await service.http.post("/v1/contracts", json=body, headers=headers)
        answered = await first
        after = await service.http.post("/v1/contracts", json=body, headers=headers)

    assert concurrent.status_code == 409 and concurrent.json()["error"]["code"] == "in_progress"
    assert answered.status_code == after.status_code == 201
    assert after.json()["contract_id"] == answered.json()["contract_id"]
    assert len(service.fake.documents) == 2


async def test_a_repeat_whose_cause_changed_meanwhile_is_still_the_same_request(service) -> None:
    await service.create()
    headers = {**service.auth, **KEY}
    body = service.request(reissue=True, correlation_id="cor_lead", causation_id="evt_lead_created")
    first = await service.http.post("/v1/contracts", json=body, headers=headers)

    # The lead was qualified between the request and its repeat: the caller now names another cause.
    again = await service.http.post(
        "/v1/contracts", json=body | {"causation_id": "evt_qualified"}, headers=headers
    )

    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["contract_id"] == first.json()["contract_id"]
    assert len(service.fake.documents) == 2


async def test_a_deal_whose_contract_is_gone_gets_a_new_one_and_no_stray_record(service) -> None:
    first = (await service.create()).json()
    gone = str(service.bus.keys.service("autentique-service", f"{{{first['contract_id']}}}", "contract"))
    await service.bus.redis.delete(gone)

    again = await service.create()

    assert again.status_code == 201 and again.json()["contract_id"] != first["contract_id"]
    assert not await service.bus.redis.exists(gone)


async def test_a_reissue_loses_to_a_signature_that_is_being_published(service) -> None:
    first = (await service.create()).json()
    # The last signer's webhook fixed signed_at and is about to publish contract.signed (tracking.py): the
    # re-issue, checked just before, saw no signed event yet.
    key = str(service.bus.keys.service("autentique-service", f"{{{first['contract_id']}}}", "contract"))
    await service.bus.redis.hset(key, "signed_at", "2026-03-14T12:00:00.000Z")

    again = await service.create(service.request(reissue=True))

    assert again.status_code == 409
    assert len(service.fake.documents) == 1
    assert service.fake.documents[first["document_id"]].deleted_at is None
    assert (await service.create()).json()["contract_id"] == first["contract_id"]
