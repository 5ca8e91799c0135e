"""Autentique webhooks in: signature first, progress recorded once, contract.signed exactly once."""

import asyncio
import json

import httpx
import pytest
from fakes.autentique import WebhookEndpoint
from prometheus_client import REGISTRY
from pydantic import SecretStr


def counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("autentique_webhooks_total", {"outcome": outcome}) or 0.0


async def created_contract(service) -> dict:
    response = await service.create()
    assert response.status_code == 201
    return response.json()


async def test_both_signers_signing_publishes_one_contract_signed_with_autentiques_time(service) -> None:
    contract = await created_contract(service)
    document_id = contract["document_id"]

    first = await service.fake.sign(document_id, "maria.souza@example.com")
    halfway = (await service.get(contract["contract_id"])).json()
    second = await service.fake.sign(document_id, "Ana Lima")

    assert all(d.delivered for d in first + second)
    assert halfway["status"] == "sent"
    assert [s["status"] for s in halfway["signers"]] == ["signed", "pending"]
    assert await service.events("contract.signed") != []
    [event] = await service.events("contract.signed")
    signer_times = [s.signed_at for s in service.fake.documents[document_id].signers]
    assert event.payload.signed_at.strftime("%Y-%m-%dT%H:%M:%S") == max(signer_times)[:19]
    assert event.payload.model_dump(exclude={"signed_at"}) == {
        "contract_id": contract["contract_id"],
        "deal_id": "deal_1",
        "company_id": service.company,
        "value": 15000.0,
        "currency": "BRL",
        "lead_id": "lead_01J8Z0P2",
        "document_id": document_id,
    }
    final = (await service.get(contract["contract_id"])).json()
    assert final["status"] == "signed"
    assert [s["status"] for s in final["signers"]] == ["signed", "signed"]
    assert all(s["signed_at"] for s in final["signers"])


async def test_every_webhook_delivered_twice_still_publishes_one_contract_signed(service) -> None:
    contract = await created_contract(service)
    service.fake.webhook.duplicate = True
    replayed_before = counted("replayed")

    await service.fake.sign(contract["document_id"], 0)
    await service.fake.sign(contract["document_id"], 1)

    assert len(await service.events("contract.signed")) == 1
    # signature.accepted ×2 for each signer, document.finished ×2: one of each pair is a replay.
    assert counted("replayed") - replayed_before == 3


async def test_webhooks_arriving_out_of_order_publish_one_contract_signed(service) -> None:
    contract = await created_contract(service)
    held: list[httpx.Request] = []
    service.fake.webhook_transport = httpx.MockTransport(lambda r: held.append(r) or httpx.Response(200))
    await service.fake.sign(contract["document_id"], 0)
    await service.fake.sign(contract["document_id"], 1)
    assert [json.loads(r.content)["event"]["type"] for r in held] == [
        "signature.accepted",
        "signature.accepted",
        "document.finished",
    ]

    answers = []
    for request in reversed(held):  # document.finished first, then the signatures
        answers.append(
            await service.http.post(
                "/webhooks/autentique", content=request.content, headers=dict(request.headers)
            )
        )

    assert [a.json()["status"] for a in answers] == ["applied", "applied", "applied"]
    [event] = await service.events("contract.signed")
    signer_times = [s.signed_at for s in service.fake.documents[contract["document_id"]].signers]
    assert event.payload.signed_at.strftime("%Y-%m-%dT%H:%M:%S") == max(signer_times)[:19]
    final = (await service.get(contract["contract_id"])).json()
    assert [s["status"] for s in final["signers"]] == ["signed", "signed"]


async def test_two_signers_webhooks_handled_at_the_same_time_publish_one_contract_signed(service) -> None:
    contract = await created_contract(service)
    held: list[httpx.Request] = []
    service.fake.webhook_transport = httpx.MockTransport(lambda r: held.append(r) or httpx.Response(200))
    service.fake.webhook.events = {"signature.accepted"}  # no document.finished to fall back on
    await service.fake.sign(contract["document_id"], 0)
    await service.fake.sign(contract["document_id"], 1)

    answers = await asyncio.gather(
        *(service.http.post("/webhooks/autentique", content=r.content, headers=dict(r.headers)) for r in held)
    )

    assert [a.status_code for a in answers] == [200, 200]
    assert len(await service.events("contract.signed")) == 1


async def test_a_resource_nested_in_data_object_is_read_too(service) -> None:
    contract = await created_contract(service)
    service.fake.webhook.data_placement = "data.object"

    await service.fake.sign(contract["document_id"], 0)
    await service.fake.sign(contract["document_id"], 1)

    assert len(await service.events("contract.signed")) == 1


@pytest.mark.parametrize(
    "signature",
    [None, "", "0" * 64, "not-hex", "sha256=abc"],
)
async def test_a_missing_or_bad_signature_is_401_and_nothing_is_published(service, signature) -> None:
    contract = await created_contract(service)
    held: list[httpx.Request] = []
    service.fake.webhook_transport = httpx.MockTransport(lambda r: held.append(r) or httpx.Response(200))
    await service.fake.sign(contract["document_id"], 0)
    await service.fake.sign(contract["document_id"], 1)

    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Autentique-Signature"] = signature
    answers = [
        await service.http.post("/webhooks/autentique", content=r.content, headers=headers) for r in held
    ]

    assert {a.status_code for a in answers} == {401}
    assert answers[0].json()["error"]["code"] == "unauthenticated"
    assert await service.events("contract.signed") == []
    progress = (await service.get(contract["contract_id"])).json()
    assert [s["status"] for s in progress["signers"]] == ["pending", "pending"]


async def test_a_body_signed_with_another_secret_is_401(service) -> None:
    body = service.webhook_body("document.finished", {"id": "x", "signatures": []})

    response = await service.post_webhook(body, secret="someone-elses-secret")

    assert response.status_code == 401


async def test_a_refusal_marks_the_contract_refused_and_publishes_no_signature(service) -> None:
    contract = await created_contract(service)

    await service.fake.sign(contract["document_id"], 0)
    [delivery] = await service.fake.refuse(contract["document_id"], 1, reason="Valor errado")

    assert delivery.delivered
    refused = (await service.get(contract["contract_id"])).json()
    assert refused["status"] == "refused"
    assert [s["status"] for s in refused["signers"]] == ["signed", "refused"]
    assert await service.events("contract.signed") == []


async def test_a_view_updates_progress_and_a_late_view_never_undoes_a_signature(service) -> None:
    contract = await created_contract(service)
    held: list[httpx.Request] = []
    service.fake.webhook_transport = httpx.MockTransport(lambda r: held.append(r) or httpx.Response(200))
    await service.fake.view(contract["document_id"], 0)
    await service.fake.sign(contract["document_id"], 0)

    for request in reversed(held):  # the signature first, the view after it
        await service.http.post(
            "/webhooks/autentique", content=request.content, headers=dict(request.headers)
        )

    progress = (await service.get(contract["contract_id"])).json()
    assert [s["status"] for s in progress["signers"]] == ["signed", "pending"]


async def test_a_webhook_for_an_unknown_document_is_200_and_counted(service) -> None:
    before = counted("unknown_document")
    body = service.webhook_body(
        "signature.accepted",
        {"public_id": "7f25d72b", "document": "f" * 50, "signed": "2025-10-21T14:12:40.000000Z"},
    )

    response = await service.post_webhook(body)

    assert response.status_code == 200
    assert response.json() == {"status": "unknown_document"}
    assert counted("unknown_document") == before + 1
    assert await service.events("contract.signed") == []


async def test_event_types_we_do_not_use_are_200_and_ignored(service) -> None:
    response = await service.post_webhook(service.webhook_body("member.created", {"id": 1}))

    assert response.json() == {"status": "ignored"}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "body is not JSON"),
        (b"\xff\xfe garbage", "body is not JSON"),
        (b"[1, 2]", "Input should be a valid dictionary"),
        (b'{"object": "webhook"}', "event: Field required"),
        (b'{"event": {"id": "e1", "type": "signature.accepted"}}', "event.data: Field required"),
        (
            b'{"event": {"id": "e1", "type": "signature.accepted", "data": {"document": "d"}}}',
            "event.data.public_id: Field required",
        ),
        (
            b'{"event": {"id": "e1", "type": "signature.accepted", "data": {"public_id": "p", "document": "d"}}}',
            "event.data.signed: required for signature.accepted",
        ),
        (
            b'{"event": {"id": "e1", "type": "signature.accepted",'
            b' "data": {"public_id": "p", "document": "d", "signed": "yesterday"}}}',
            "event.data.signed: Input should be a valid datetime",
        ),
        (
            b'{"event": {"id": "e1", "type": "document.finished", "data": {"signatures": []}}}',
            "event.data.id",
        ),
    ],
)
async def test_garbage_bodies_get_a_precise_400(service, body, problem) -> None:
    response = await service.post_webhook(body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed"
    assert response.json()["error"]["message"].startswith(problem)


async def test_a_company_endpoint_is_verified_with_that_companys_secret(make_service, settings) -> None:
    per_company = settings.model_copy(
        update={"company_webhook_secrets": {"cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C": SecretStr("whsec_company")}}
    )
    async with make_service(per_company) as service:
        contract = await created_contract(service)
        service.fake.webhook = WebhookEndpoint(
            url=f"http://svc.test/webhooks/autentique?company_id={service.company}", secret="whsec_company"
        )
        await service.fake.sign(contract["document_id"], 0)
        await service.fake.sign(contract["document_id"], 1)
        [event] = await service.events("contract.signed")
        other = await service.post_webhook(
            service.webhook_body("member.created", {"id": 1}),
            secret="whsec_company",
            params={"company_id": "cmp_x"},
        )

    assert event.payload.contract_id == contract["contract_id"]
    assert other.status_code == 401, "a company without a secret of its own cannot be verified"


async def test_a_company_secret_cannot_move_another_companys_contract(make_service, settings) -> None:
    per_company = settings.model_copy(
        update={"company_webhook_secrets": {"cmp_other": SecretStr("whsec_other")}}
    )
    async with make_service(per_company) as service:
        contract = await created_contract(service)
        body = service.webhook_body(
            "document.finished",
            {"id": contract["document_id"], "signatures": [], "updated_at": "2025-10-21T14:12:41.000000Z"},
        )
        response = await service.post_webhook(body, secret="whsec_other", params={"company_id": "cmp_other"})

    assert response.json() == {"status": "unknown_document"}
    assert await service.events("contract.signed") == []


async def test_webhooks_get_503_while_redis_is_down_and_apply_once_it_is_back(
    make_service, settings, redis_server_factory
) -> None:
    server = redis_server_factory(appendonly=True)
    async with make_service(settings.model_copy(update={"redis_url": server.url})) as service:
        contract = await created_contract(service)
        held: list[httpx.Request] = []
        service.fake.webhook_transport = httpx.MockTransport(lambda r: held.append(r) or httpx.Response(200))
        await service.fake.sign(contract["document_id"], 0)
        server.kill()
        during = await service.http.post(
            "/webhooks/autentique", content=held[0].content, headers=dict(held[0].headers)
        )
        server.start()
        after = await service.http.post(
            "/webhooks/autentique", content=held[0].content, headers=dict(held[0].headers)
        )
        progress = (await service.get(contract["contract_id"])).json()

    assert during.status_code == 503
    assert after.json() == {"status": "applied"}
    assert [s["status"] for s in progress["signers"]] == ["signed", "pending"]
