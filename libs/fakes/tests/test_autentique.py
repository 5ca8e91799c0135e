import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fakes import autentique
from fakes.autentique import GRAPHQL_PATH, AutentiqueState, WebhookEndpoint, sign_webhook_body
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

TOKEN = "test-autentique-token"
SECRET = "whsec_test_secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CREATE = (
    "mutation CreateDocument($document: DocumentInput!, $signers: [SignerInput!]!, $file: Upload!, "
    "$sandbox: Boolean) { createDocument(sandbox: $sandbox, document: $document, signers: $signers, "
    "file: $file) { id name created_at signatures { public_id name email action { name } "
    "link { short_link } } } }"
)
SIGNERS = [
    {"email": "maria.souza@example.com", "action": "SIGN"},
    {
        "name": "Ana Lima",
        "phone": "+5521998765432",
        "delivery_method": "DELIVERY_METHOD_WHATSAPP",
        "action": "SIGN",
    },
    {"name": "Carlos Nunes", "action": "SIGN_AS_A_WITNESS"},
]


@pytest.fixture
def state() -> AutentiqueState:
    return AutentiqueState(api_token=TOKEN, retry_delay_scale=0.0)


@pytest.fixture
async def client(state: AutentiqueState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=autentique.create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://autentique.test") as c:
        yield c


def receiver(statuses: list[int] | None = None) -> tuple[FastAPI, list[tuple[bytes, dict[str, str]]]]:
    got: list[tuple[bytes, dict[str, str]]] = []
    queue = list(statuses or [])
    app = FastAPI()

    @app.post("/webhooks/autentique")
    async def hook(request: Request) -> JSONResponse:
        got.append((await request.body(), dict(request.headers)))
        return JSONResponse({}, status_code=queue.pop(0) if queue else 200)

    return app, got


async def create_document(
    client: httpx.AsyncClient, name: str = "Contrato - Maria", signers: list[dict[str, Any]] | None = None
) -> httpx.Response:
    operations = {
        "query": CREATE,
        "variables": {
            "sandbox": True,
            "document": {"name": name, "refusable": True},
            "signers": signers or SIGNERS,
            "file": None,
        },
    }
    return await client.post(
        GRAPHQL_PATH,
        headers=AUTH,
        data={"operations": json.dumps(operations), "map": json.dumps({"file": ["variables.file"]})},
        files={"file": ("contrato.pdf", b"%PDF-1.7 fake", "application/pdf")},
    )


async def graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = await client.post(
        GRAPHQL_PATH, headers=AUTH, json={"query": query, "variables": variables or {}}
    )
    assert response.status_code == 200
    return response.json()


async def test_create_document_via_multipart_returns_ids_and_only_link_signers_get_links(
    client: httpx.AsyncClient, state: AutentiqueState
) -> None:
    response = await create_document(client)
    assert response.status_code == 200
    created = response.json()["data"]["createDocument"]
    assert len(created["id"]) == 50
    assert int(created["id"], 16) >= 0
    assert set(created) == {"id", "name", "created_at", "signatures"}
    email, whatsapp, link = created["signatures"]
    assert email["email"] == "maria.souza@example.com"
    assert email["link"] is None
    assert whatsapp["link"] is None
    assert link["link"]["short_link"].startswith("https://assina.ae/")
    assert link["action"] == {"name": "SIGN_AS_A_WITNESS"}
    stored = state.documents[created["id"]]
    assert stored.file_name == "contrato.pdf"
    assert stored.sandbox is True
    assert all(s.short_link for s in stored.signers)


async def test_missing_or_wrong_bearer_token_is_http_401(client: httpx.AsyncClient) -> None:
    response = await client.post(GRAPHQL_PATH, json={"query": "{ documents { total } }"})
    wrong = await client.post(
        GRAPHQL_PATH, headers={"Authorization": "Bearer nope"}, json={"query": "{ documents { total } }"}
    )
    assert response.status_code == 401
    assert wrong.status_code == 401


async def test_document_query_by_id_returns_only_the_selected_fields_under_aliases(
    client: httpx.AsyncClient,
) -> None:
    doc_id = (await create_document(client)).json()["data"]["createDocument"]["id"]
    body = await graphql(
        client,
        "query Doc($id: UUID) { doc: document(id: $id) { id ...Sigs files { original } } }"
        " fragment Sigs on Document { signatures { public_id signed { created_at } rejected { reason } } }",
        {"id": doc_id},
    )
    doc = body["data"]["doc"]
    assert set(doc) == {"id", "signatures", "files"}
    assert doc["signatures"][0] == {
        "public_id": doc["signatures"][0]["public_id"],
        "signed": None,
        "rejected": None,
    }


async def test_unknown_document_is_a_graphql_error_with_http_200(client: httpx.AsyncClient) -> None:
    body = await graphql(client, '{ document(id: "ffff") { id } }')
    assert body["data"] == {"document": None}
    assert body["errors"][0]["message"] == "document_not_found"
    assert body["errors"][0]["path"] == ["document"]


async def test_documents_listing_finds_an_existing_document_by_name_before_creating_again(
    client: httpx.AsyncClient,
) -> None:
    await create_document(client, name="Contrato - Maria")
    await create_document(client, name="Contrato - João")
    body = await graphql(
        client,
        "query($name: String) { documents(name: $name, limit: 10, page: 1) "
        "{ total has_more_pages data { id name } } }",
        {"name": "maria"},
    )
    listing = body["data"]["documents"]
    assert listing["total"] == 1
    assert listing["has_more_pages"] is False
    assert listing["data"][0]["name"] == "Contrato - Maria"


async def test_create_document_without_a_name_is_a_validation_error(
    client: httpx.AsyncClient, state: AutentiqueState
) -> None:
    body = (await create_document(client, name="")).json()
    assert body["data"] == {"createDocument": None}
    error = body["errors"][0]
    assert error["message"] == "validation"
    assert error["extensions"] == {
        "validation": {"document.name": ["field_required"]},
        "category": "validation",
    }
    assert state.documents == {}


async def test_querying_an_unknown_field_is_rejected_before_anything_is_created(
    client: httpx.AsyncClient, state: AutentiqueState
) -> None:
    operations = {
        "query": 'mutation { createDocument(document: {name: "x"}, signers: [], file: null) { idd } }'
    }
    response = await client.post(GRAPHQL_PATH, headers=AUTH, json=operations)
    assert response.json()["errors"][0]["message"] == 'Cannot query field "idd" on type "Document".'
    assert "data" not in response.json()
    assert state.documents == {}


async def test_signing_delivers_a_webhook_with_a_valid_hmac_and_finishes_the_document(
    client: httpx.AsyncClient, state: AutentiqueState
) -> None:
    app, got = receiver()
    state.webhook_transport = httpx.ASGITransport(app=app)
    state.webhook = WebhookEndpoint(url="http://crm.test/webhooks/autentique", secret=SECRET)
    doc_id = (await create_document(client, signers=SIGNERS[:1])).json()["data"]["createDocument"]["id"]

    response = await client.post(
        f"/_fake/documents/{doc_id}/sign", json={"signer": "maria.souza@example.com"}
    )

    assert response.status_code == 200
    assert [json.loads(body)["event"]["type"] for body, _ in got] == [
        "signature.accepted",
        "document.finished",
    ]
    for body, headers in got:
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-autentique-signature"], expected)
    accepted = json.loads(got[0][0])
    assert accepted["object"] == "webhook"
    assert accepted["format"] == "json"
    assert accepted["event"]["data"]["action"] == "Sign"
    assert accepted["event"]["data"]["document"] == doc_id
    finished = json.loads(got[1][0])["event"]
    assert finished["data"]["signed_count"] == 1
    assert finished["previous_attributes"] == {"signed_count": 0}
    status = await graphql(
        client, f'{{ document(id: "{doc_id}") {{ signatures {{ signed {{ created_at }} }} }} }}'
    )
    assert status["data"]["document"]["signatures"][0]["signed"]["created_at"]


async def test_refusing_delivers_signature_rejected_with_the_reason(state: AutentiqueState) -> None:
    app, _ = receiver()
    state.webhook_transport = httpx.ASGITransport(app=app)
    state.webhook = WebhookEndpoint(url="http://crm.test/webhooks/autentique", secret=SECRET)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=autentique.create_app(state)), base_url="http://a"
    ) as c:
        doc_id = (await create_document(c)).json()["data"]["createDocument"]["id"]
    deliveries = await state.refuse(doc_id, 0, reason="Valor errado")
    event = deliveries[0].json()["event"]
    assert event["type"] == "signature.rejected"
    assert event["data"]["rejected"] is not None
    assert event["data"]["events"][-1]["reason"] == "Valor errado"


async def test_failed_webhook_is_retried_three_times_then_given_up(
    client: httpx.AsyncClient, state: AutentiqueState
) -> None:
    app, got = receiver([500, 500, 500, 500])
    state.webhook_transport = httpx.ASGITransport(app=app)
    state.webhook = WebhookEndpoint(url="http://crm.test/webhooks/autentique", secret=SECRET)
    doc_id = (await create_document(client)).json()["data"]["createDocument"]["id"]
    [delivery] = await state.view(doc_id, "Carlos Nunes")
    assert [a.status for a in delivery.attempts] == [500, 500, 500, 500]
    assert [a.delay_before for a in delivery.attempts] == [0.0, 0.0, 0.0, 0.0]
    assert not delivery.delivered
    assert len(got) == 4


async def test_webhook_retry_waits_follow_the_60_120_300_schedule_scaled(
    client: httpx.AsyncClient, state: AutentiqueState
) -> None:
    app, _ = receiver([503, 503])
    state.webhook_transport = httpx.ASGITransport(app=app)
    state.retry_delay_scale = 0.0001
    state.webhook = WebhookEndpoint(url="http://crm.test/webhooks/autentique", secret=SECRET)
    doc_id = (await create_document(client)).json()["data"]["createDocument"]["id"]
    [delivery] = await state.view(doc_id, 0)
    assert [round(a.delay_before, 4) for a in delivery.attempts] == [0.0, 0.006, 0.012]
    assert delivery.delivered


async def test_timeout_after_create_cuts_the_connection_but_the_document_exists(
    client: httpx.AsyncClient, state: AutentiqueState
) -> None:
    state.timeout_after_create()
    with pytest.raises(httpx.RemoteProtocolError):
        await create_document(client, name="Contrato - Maria")
    assert [d.name for d in state.documents.values()] == ["Contrato - Maria"]
    again = await create_document(client, name="Contrato - Outro")
    assert again.status_code == 200


async def test_timeout_after_create_with_a_delay_outlasts_a_client_timeout(
    client: httpx.AsyncClient, state: AutentiqueState
) -> None:
    await client.post("/_fake/timeout-after-create", json={"seconds": 5})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(create_document(client), timeout=0.2)
    assert len(state.documents) == 1


async def test_injected_429_answers_with_retry_after_then_recovers(
    client: httpx.AsyncClient, state: AutentiqueState
) -> None:
    state.fail_next(429, retry_after=30)
    limited = await client.post(GRAPHQL_PATH, headers=AUTH, json={"query": "{ documents { total } }"})
    ok = await client.post(GRAPHQL_PATH, headers=AUTH, json={"query": "{ documents { total } }"})
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "30"
    assert ok.json() == {"data": {"documents": {"total": 0}}}


def test_signature_matches_the_reference_check_value() -> None:
    body = b'{"id":"d2ViaG9vay0wMDE=","object":"webhook","event":{"type":"document.finished"}}'
    assert sign_webhook_body(body, "whsec_placeholder_secret") == (
        "ce9b27076ded4c5c0c1102c3eb5061f2639e806d37713ec47ac6622b56887440"
    )
