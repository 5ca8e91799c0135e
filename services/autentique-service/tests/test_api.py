"""The internal contracts API: create → contract.created, one document per deal, uploads, errors, auth."""

import asyncio
import io
import json

import httpx
import pypdf
import pytest
from asgi_lifespan import LifespanManager
from autentique_service.app import create_app
from pydantic import SecretStr
from structlog.testing import capture_logs


async def test_create_sends_the_document_and_publishes_contract_created(service) -> None:
    response = await service.create()

    assert response.status_code == 201
    contract = response.json()
    assert contract["contract_id"].startswith("ctr_")
    assert contract["status"] == "sent"
    assert contract["value"] == 15000 and contract["currency"] == "BRL"
    assert [s["status"] for s in contract["signers"]] == ["pending", "pending"]
    [document] = service.fake.documents.values()
    assert contract["document_id"] == document.id
    assert document.sandbox is True
    assert [(s.email, s.phone, s.delivery_method) for s in document.signers] == [
        ("maria.souza@example.com", None, None),
        (None, "+5521998765432", "DELIVERY_METHOD_WHATSAPP"),
    ]
    [event] = await service.events("contract.created")
    assert event.company_id == service.company
    assert event.payload.model_dump() == {
        "contract_id": contract["contract_id"],
        "deal_id": "deal_1",
        "company_id": service.company,
        "value": 15000.0,
        "currency": "BRL",
        "lead_id": "lead_01J8Z0P2",
        "document_id": document.id,
        "status": "sent",
    }


async def test_get_returns_the_contract_with_per_signer_progress(service) -> None:
    created = (await service.create()).json()

    response = await service.get(created["contract_id"])

    assert response.status_code == 200
    assert response.json() == created


async def test_the_same_deal_twice_is_one_document_and_one_event(service) -> None:
    first = await service.create()
    second = await service.create()

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert len(service.fake.documents) == 1
    assert len(await service.events("contract.created")) == 1


async def test_autentique_timing_out_after_creating_still_makes_one_document(service) -> None:
    # The fake stores the document, then answers long after our 2 s deadline.
    service.fake.timeout_after_create(seconds=5)

    response = await service.create()

    assert response.status_code == 201
    assert len(service.fake.documents) == 1
    [document] = service.fake.documents.values()
    assert response.json()["document_id"] == document.id
    creates = [r for r in service.fake.requests if b"createDocument" in r.body]
    assert len(creates) == 1
    assert len(await service.events("contract.created")) == 1


async def test_a_dropped_connection_after_creating_still_makes_one_document(service) -> None:
    service.fake.timeout_after_create(seconds=None)

    response = await service.create()

    assert response.status_code == 201
    assert len(service.fake.documents) == 1


async def test_a_retry_after_an_unanswered_request_adopts_the_document_instead_of_creating(
    make_service, settings
) -> None:
    # Autentique keeps timing out: the caller gets 502, the attempt stays recorded, and its retry (once
    # Autentique answers again) finds the document created by the first call.
    impatient = settings.model_copy(update={"request_timeout": 0.2, "create_attempts": 1})
    async with make_service(impatient) as service:
        service.fake.timeout_after_create(seconds=1)
        service.fake.listing_lag_seconds = 0.5  # the lookup right after the timeout does not see it yet
        failed = await service.create()
        assert failed.status_code == 502
        assert failed.json()["error"]["code"] == "upstream_unavailable"
        assert await service.events("contract.created") == []
        await asyncio.sleep(0.5)

        retried = await service.create()

    assert retried.status_code == 201
    assert len(service.fake.documents) == 1
    assert retried.json()["document_id"] == next(iter(service.fake.documents))
    assert len(await service.events("contract.created")) == 1


async def test_reissue_makes_a_new_contract_and_document_for_the_deal(service) -> None:
    first = (await service.create()).json()

    again = await service.create(service.request(reissue=True))

    assert again.status_code == 201
    assert again.json()["contract_id"] != first["contract_id"]
    assert len(service.fake.documents) == 2
    latest = await service.create()
    assert latest.status_code == 200
    assert latest.json()["contract_id"] == again.json()["contract_id"]
    assert len(await service.events("contract.created")) == 2


async def test_rendered_pdf_opens_and_carries_the_deals_values_in_pt_br(service) -> None:
    await service.create()

    [create] = [r for r in service.fake.requests if b"createDocument" in r.body]
    pdf = create.body[create.body.index(b"%PDF-") :]
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    text = " ".join(text.replace("\xa0", " ").split())
    assert "R$ 15.000,00" in text
    assert "14 de março de 2026" in text
    assert "Espaço Jardim, São Paulo" in text
    assert "120 convidados" in text
    assert "Maria Souza" in text and "Ana Lima" in text
    [document] = service.fake.documents.values()
    assert document.name.startswith("Contrato ctr_")


async def test_a_companys_own_template_is_used(make_service, settings, tmp_path) -> None:
    (tmp_path / "cmp_buffet.txt").write_text(
        "# Orçamento do Buffet Alegria\nValor: $value por $event_guests pessoas em $event_date.\n",
        encoding="utf-8",
    )
    async with make_service(settings.model_copy(update={"templates_dir": tmp_path})) as service:
        response = await service.create(service.request(company_id="cmp_buffet", value=1234.5))
        assert response.status_code == 201
        [document] = service.fake.documents.values()

    [create] = [r for r in service.fake.requests if b"createDocument" in r.body]
    pdf = create.body[create.body.index(b"%PDF-") :]
    text = " ".join(pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text().replace("\xa0", " ").split())
    assert "Orçamento do Buffet Alegria" in text
    assert "Valor: R$ 1.234,50 por 120 pessoas em 14 de março de 2026." in text
    assert document.file_size == len(pdf.rstrip(b"\r\n").split(b"\r\n--")[0])


async def test_a_template_with_an_unknown_placeholder_is_a_clear_500(
    make_service, settings, tmp_path
) -> None:
    (tmp_path / f"{settings_company()}.txt").write_text("# Contrato\nPreço: $preco\n", encoding="utf-8")
    async with make_service(settings.model_copy(update={"templates_dir": tmp_path})) as service:
        response = await service.create()
        assert service.fake.documents == {}

    assert response.status_code == 500
    assert response.json()["error"] == {
        "code": "template_invalid",
        "message": f"contract template of {settings_company()} has unknown placeholders: preco",
    }


def settings_company() -> str:
    return "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"


async def test_an_uploaded_pdf_is_sent_as_is(service) -> None:
    uploaded = b"%PDF-1.7 uploaded contract bytes"
    response = await service.http.post(
        "/v1/contracts",
        headers=service.auth,
        data={"contract": json.dumps(service.request())},
        files={"file": ("meu-contrato.pdf", uploaded, "application/pdf")},
    )

    assert response.status_code == 201
    [document] = service.fake.documents.values()
    assert document.file_size == len(uploaded)
    assert len(await service.events("contract.created")) == 1


async def test_an_upload_that_is_not_a_pdf_is_422_naming_the_file(service) -> None:
    response = await service.http.post(
        "/v1/contracts",
        headers=service.auth,
        data={"contract": json.dumps(service.request())},
        files={"file": ("x.pdf", b"<html>", "application/pdf")},
    )

    assert response.status_code == 422
    assert response.json()["error"]["problems"] == [
        {"field": "file", "rule": "value_error", "problem": "must be a PDF document"}
    ]
    assert service.fake.documents == {}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"value": -1}, "value"),
        ({"currency": "real"}, "currency"),
        ({"signers": []}, "signers"),
        ({"signers": [{"name": "Ana", "delivery": "whatsapp"}]}, "signers.0"),
        ({"company_id": "../etc"}, "company_id"),
    ],
)
async def test_invalid_requests_are_422_naming_the_field(service, change, field) -> None:
    response = await service.create(service.request(**change))

    assert response.status_code == 422
    assert response.json()["error"]["problems"][0]["field"] == field
    assert service.fake.documents == {}


async def test_requests_without_the_service_token_are_401(service) -> None:
    missing = await service.http.post("/v1/contracts", json=service.request())
    wrong = await service.http.get("/v1/contracts/ctr_x", headers={"Authorization": "Bearer nope"})

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert service.fake.documents == {}


async def test_unknown_contract_is_404(service) -> None:
    response = await service.get("ctr_01JNOPE")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_autentique_validation_errors_are_422_and_free_the_deal(settings, bus) -> None:
    # The documented validation shape (reference §3), for something only Autentique checks.
    calls = []

    def autentique(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        error = {
            "message": "validation",
            "path": ["createDocument"],
            "extensions": {
                "validation": {"signers.0.email": ["must_be_a_valid_email_address"]},
                "category": "validation",
            },
        }
        return httpx.Response(200, json={"errors": [error], "data": {"createDocument": None}})

    app = create_app(settings, transport=httpx.MockTransport(autentique))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        body = {
            "deal_id": "deal_1",
            "company_id": "cmp_1",
            "value": 10,
            "signers": [{"name": "Maria", "email": "maria@example.com", "delivery": "email"}],
        }
        first = await http.post("/v1/contracts", json=body, headers={"Authorization": "Bearer svc-token"})
        second = await http.post("/v1/contracts", json=body, headers={"Authorization": "Bearer svc-token"})

    assert first.status_code == 422
    assert first.json()["error"] == {
        "code": "invalid",
        "message": "autentique refused the document: signers.0.email: must_be_a_valid_email_address",
    }
    assert second.status_code == 422
    assert len(calls) == 2, "a refusal is not retried, and it leaves the deal free for the next request"
    assert await bus.redis.xlen(bus.keys.stream("contract.created")) == 0


async def test_autentique_refusing_our_token_is_502_with_a_clear_message(make_service, settings) -> None:
    async with make_service(settings.model_copy(update={"api_token": SecretStr("wrong")})) as service:
        response = await service.create()
        again = await service.create()

    assert response.status_code == 502
    assert response.json()["error"]["message"].startswith("autentique: HTTP 401")
    assert "Traceback" not in response.text
    assert await service.events("contract.created") == []
    assert again.status_code == 502, "the refused attempt freed the deal: a new attempt goes to Autentique"
    assert len(service.fake.requests) == 2


async def test_autentique_down_opens_the_circuit_after_repeated_failures(make_service, settings) -> None:
    flaky = settings.model_copy(update={"breaker_failures": 2, "create_attempts": 1})
    async with make_service(flaky) as service:
        service.fake.go_down(503)
        statuses = [
            (await service.create(service.request(deal_id=f"deal_{n}"))).status_code for n in range(3)
        ]
        calls = len(service.fake.requests)
        last = await service.create(service.request(deal_id="deal_9"))

    assert statuses == [502, 502, 502]
    assert last.status_code == 502
    assert "circuit open" in last.json()["error"]["message"]
    assert len(service.fake.requests) == calls, "an open circuit does not call Autentique"


async def test_a_rate_limit_is_retried_after_retry_after(service) -> None:
    service.fake.fail_next(429, retry_after=0)

    response = await service.create()

    assert response.status_code == 201
    assert len(service.fake.documents) == 1


async def test_redis_down_is_503(make_service, settings, redis_server_factory) -> None:
    server = redis_server_factory(appendonly=False)
    async with make_service(settings.model_copy(update={"redis_url": server.url})) as service:
        server.kill()
        response = await service.create()

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert service.fake.documents == {}


async def test_logs_carry_no_names_emails_phones_or_tokens(service) -> None:
    with capture_logs() as logs:
        await service.create()
    text = json.dumps(logs, default=str)

    for secret in (
        "Maria",
        "maria.souza@example.com",
        "+5521998765432",
        "svc-token",
        "test-autentique-token",
    ):
        assert secret not in text


async def test_a_document_signed_before_we_learnt_its_id_is_announced_signed_when_adopted(
    make_service, settings
) -> None:
    impatient = settings.model_copy(update={"request_timeout": 0.2, "create_attempts": 1})
    async with make_service(impatient) as service:
        service.fake.timeout_after_create(seconds=1)
        service.fake.listing_lag_seconds = 0.5  # the lookup right after the timeout does not see it yet
        assert (await service.create()).status_code == 502
        [document_id] = service.fake.documents
        # Both sign while we do not know the document: their webhooks are answered as unknown.
        await service.fake.sign(document_id, 0)
        await service.fake.sign(document_id, 1)
        assert await service.events("contract.signed") == []
        await asyncio.sleep(0.5)

        retried = await service.create()

    assert retried.status_code == 201
    assert retried.json()["status"] == "signed"
    assert len(await service.events("contract.created")) == 1
    [signed] = await service.events("contract.signed")
    assert signed.payload.contract_id == retried.json()["contract_id"]


async def test_a_link_signers_link_is_returned_to_the_caller_but_never_published(service) -> None:
    body = service.request(
        signers=[
            {"name": "Maria Souza", "email": "maria.souza@example.com", "delivery": "email"},
            {"name": "Carlos Nunes", "delivery": "link"},
        ]
    )

    contract = (await service.create(body)).json()

    email_signer, link_signer = contract["signers"]
    assert email_signer["link"] is None
    assert link_signer["link"].startswith("https://assina.ae/")
    [event] = await service.events("contract.created")
    assert "assina.ae" not in event.to_wire().decode()


async def test_two_requests_for_one_deal_at_the_same_time_make_one_document(service) -> None:
    service.fake.slow_next(0.3)  # the first createDocument is still in flight when the second request comes

    first, second = await asyncio.gather(service.create(), service.create())

    assert sorted([first.status_code, second.status_code]) == [201, 409]
    loser = first if first.status_code == 409 else second
    assert loser.json()["error"]["code"] == "conflict"
    assert len(service.fake.documents) == 1
    assert (await service.create()).status_code == 200


async def test_an_autentique_error_message_that_echoes_what_we_sent_is_not_repeated(settings, bus) -> None:
    """GraphQL echoes the variables it refused ("Variable "$document" got invalid value {…}"): the answer and
    the logs name Autentique's error code when it sent one, and never repeat free text."""
    email = "maria.personal@example.com"

    def autentique(request: httpx.Request) -> httpx.Response:
        error = {
            "message": f'Variable "$signers" got invalid value {{"email": "{email}"}}; Expected type Int'
        }
        return httpx.Response(200, json={"errors": [error], "data": None})

    app = create_app(settings, transport=httpx.MockTransport(autentique))
    body = {
        "deal_id": "deal_1",
        "company_id": "cmp_1",
        "value": 10,
        "signers": [{"name": "Maria", "email": email, "delivery": "email"}],
    }
    with capture_logs() as logs:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):
            answer = await http.post(
                "/v1/contracts", json=body, headers={"Authorization": "Bearer svc-token"}
            )

    assert answer.status_code == 502
    assert answer.json()["error"]["message"] == "autentique: refused the request (GraphQL error)"
    assert email not in answer.text and email not in json.dumps(logs, default=str)
