import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fakes import evolution
from fakes.evolution import (
    EvolutionRetryPolicy,
    EvolutionState,
    InstanceWebhook,
    WebhookOrigin,
    ad_referral_webhook,
    connection_update_webhook,
    decode_webhook_jwt,
    deliver_webhook,
    image_message_webhook,
    make_webhook_jwt,
    text_message_webhook,
)
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

INSTANCE_KEY = "instance-token-vendas-01"


@pytest.fixture
def state() -> EvolutionState:
    fake = EvolutionState(retry_delay_scale=0.0, send_delay_scale=0.0)
    fake.add_instance("vendas-01", INSTANCE_KEY)
    return fake


@pytest.fixture
async def client(state: EvolutionState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=evolution.create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://evolution.test") as c:
        yield c


def make_receiver(status_codes: list[int] | None = None) -> tuple[FastAPI, list[dict[str, Any]]]:
    """A webhook receiver that records what arrived and answers the given statuses in turn (then 200)."""
    received: list[dict[str, Any]] = []
    statuses = list(status_codes or [])
    app = FastAPI()

    @app.post("/{path:path}")
    async def hook(path: str, request: Request) -> JSONResponse:
        received.append({"path": "/" + path, "headers": dict(request.headers), "body": await request.json()})
        return JSONResponse({}, status_code=statuses.pop(0) if statuses else 200)

    return app, received


async def test_send_text_returns_201_with_a_sent_message_and_key_id(
    client: httpx.AsyncClient, state: EvolutionState
) -> None:
    response = await client.post(
        "/message/sendText/vendas-01",
        headers={"apikey": INSTANCE_KEY},
        json={"number": "5511987654321", "text": "Olá Maria!", "delay": 1200},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["key"]["remoteJid"] == "5511987654321@s.whatsapp.net"
    assert body["key"]["fromMe"] is True
    assert len(body["key"]["id"]) == 22
    assert body["key"]["id"].startswith("3EB0")
    assert body["status"] == "PENDING"
    assert body["source"] == "web"
    assert body["message"] == {"conversation": "Olá Maria!"}
    assert state.sent[0].request["text"] == "Olá Maria!"


async def test_the_sent_list_says_when_each_send_arrived_and_reads_from_an_offset(
    client: httpx.AsyncClient,
) -> None:
    # A benchmark in another process times a turn up to the send: CLOCK_MONOTONIC is one clock per machine.
    before = time.monotonic()
    for text in ("primeira", "segunda", "terceira"):
        response = await client.post(
            "/message/sendText/vendas-01",
            headers={"apikey": INSTANCE_KEY},
            json={"number": "5511987654321", "text": text},
        )
        assert response.status_code == 201
    after = time.monotonic()

    every = (await client.get("/_fake/sent")).json()
    later = (await client.get("/_fake/sent", params={"offset": 1})).json()

    assert [s["request"]["text"] for s in every] == ["primeira", "segunda", "terceira"]
    stamps = [s["received_monotonic"] for s in every]
    assert before <= stamps[0] <= stamps[1] <= stamps[2] <= after
    assert [s["request"]["text"] for s in later] == ["segunda", "terceira"]


async def test_send_text_accepts_the_global_apikey(client: httpx.AsyncClient, state: EvolutionState) -> None:
    response = await client.post(
        "/message/sendText/vendas-01",
        headers={"apikey": state.global_apikey},
        json={"number": "5511987654321", "text": "oi"},
    )
    assert response.status_code == 201


async def test_send_text_with_wrong_apikey_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/message/sendText/vendas-01",
        headers={"apikey": "wrong"},
        json={"number": "5511987654321", "text": "x"},
    )
    assert response.status_code == 401
    assert response.json() == {
        "status": 401,
        "error": "Unauthorized",
        "response": {"message": "Unauthorized"},
    }


async def test_send_text_to_unknown_instance_is_404_even_with_a_wrong_apikey(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/message/sendText/vendas-99",
        headers={"apikey": "wrong"},
        json={"number": "5511987654321", "text": "x"},
    )
    assert response.status_code == 404
    assert response.json() == {
        "status": 404,
        "error": "Not Found",
        "response": {"message": ['The "vendas-99" instance does not exist']},
    }


async def test_send_text_without_text_is_400_with_a_nested_schema_message(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/message/sendText/vendas-01", headers={"apikey": INSTANCE_KEY}, json={"number": "5511987654321"}
    )
    assert response.status_code == 400
    assert response.json()["response"]["message"] == [['instance requires property "text"']]


async def test_send_text_with_blank_text_is_400_text_is_required(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/message/sendText/vendas-01",
        headers={"apikey": INSTANCE_KEY},
        json={"number": "5511987654321", "text": " "},
    )
    assert response.status_code == 400
    assert response.json()["response"]["message"] == ["Text is required"]


async def test_send_text_to_a_number_not_on_whatsapp_is_400_exists_false(
    client: httpx.AsyncClient, state: EvolutionState
) -> None:
    state.not_on_whatsapp.add("5511900000000")
    response = await client.post(
        "/message/sendText/vendas-01",
        headers={"apikey": INSTANCE_KEY},
        json={"number": "5511900000000", "text": "x"},
    )
    assert response.status_code == 400
    assert response.json()["response"]["message"] == [
        {"jid": "5511900000000@s.whatsapp.net", "exists": False, "number": "5511900000000"}
    ]


async def test_connection_state_reports_the_configured_state(
    client: httpx.AsyncClient, state: EvolutionState
) -> None:
    state.instances["vendas-01"].connection_state = "connecting"
    response = await client.get("/instance/connectionState/vendas-01", headers={"apikey": INSTANCE_KEY})
    assert response.json() == {"instance": {"instanceName": "vendas-01", "state": "connecting"}}


async def test_fetch_instances_with_an_instance_token_lists_only_that_instance(
    client: httpx.AsyncClient, state: EvolutionState
) -> None:
    state.add_instance("suporte-02", "other-token")
    everything = await client.get("/instance/fetchInstances", headers={"apikey": state.global_apikey})
    own = await client.get("/instance/fetchInstances", headers={"apikey": INSTANCE_KEY})
    unknown = await client.get(
        "/instance/fetchInstances", params={"instanceName": "x"}, headers={"apikey": state.global_apikey}
    )
    assert sorted(row["name"] for row in everything.json()) == ["suporte-02", "vendas-01"]
    assert [row["name"] for row in own.json()] == ["vendas-01"]
    assert own.json()[0]["connectionStatus"] == "open"
    assert unknown.status_code == 404


async def test_an_instance_token_is_accepted_for_its_instance_only(
    client: httpx.AsyncClient, state: EvolutionState
) -> None:
    """Reference §9 "State and token check": what evolution-manager relies on to verify a registration."""
    state.add_instance("suporte-02", "other-token")

    async def state_of(name: str, key: str) -> int:
        return (await client.get(f"/instance/connectionState/{name}", headers={"apikey": key})).status_code

    async def fetch(name: str, key: str) -> int:
        response = await client.get(
            "/instance/fetchInstances", params={"instanceName": name}, headers={"apikey": key}
        )
        return response.status_code

    assert await state_of("vendas-01", INSTANCE_KEY) == 200
    assert await state_of("suporte-02", INSTANCE_KEY) == 401  # another instance's token
    assert await state_of("suporte-02", state.global_apikey) == 200  # the global key opens every instance
    assert await state_of("nao-existe", "wrong") == 404  # checked before the key
    assert await fetch("vendas-01", INSTANCE_KEY) == 200
    assert await fetch("suporte-02", INSTANCE_KEY) == 401
    assert await fetch("nao-existe", INSTANCE_KEY) == 401


async def test_injected_503_fails_the_next_requests_then_recovers(
    client: httpx.AsyncClient, state: EvolutionState
) -> None:
    state.fail_next(503, count=2)
    statuses = []
    for _ in range(3):
        response = await client.get("/instance/connectionState/vendas-01", headers={"apikey": INSTANCE_KEY})
        statuses.append(response.status_code)
    assert statuses == [503, 503, 200]
    assert len(state.requests) == 3


async def test_failure_set_over_http_answers_429_with_retry_after(client: httpx.AsyncClient) -> None:
    await client.post("/_fake/fail", json={"mode": "status", "status": 429, "count": 1, "retry_after": 7})
    response = await client.get("/instance/connectionState/vendas-01", headers={"apikey": INSTANCE_KEY})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["status"] == 429


async def test_down_refuses_every_request_until_recover(
    client: httpx.AsyncClient, state: EvolutionState
) -> None:
    state.go_down()
    for _ in range(2):
        with pytest.raises(httpx.ConnectError):
            await client.get("/instance/connectionState/vendas-01", headers={"apikey": INSTANCE_KEY})
    await client.post("/_fake/recover")
    response = await client.get("/instance/connectionState/vendas-01", headers={"apikey": INSTANCE_KEY})
    assert response.status_code == 200


async def test_drop_sends_the_message_but_cuts_the_connection(
    client: httpx.AsyncClient, state: EvolutionState
) -> None:
    state.drop_next()
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(
            "/message/sendText/vendas-01",
            headers={"apikey": INSTANCE_KEY},
            json={"number": "5511987654321", "text": "x"},
        )
    assert len(state.sent) == 1


async def test_requests_are_readable_over_http_and_reset_clears_them(client: httpx.AsyncClient) -> None:
    await client.get("/instance/connectionState/vendas-01", headers={"apikey": INSTANCE_KEY})
    recorded = (await client.get("/_fake/requests")).json()
    assert [(r["method"], r["path"], r["headers"]["apikey"]) for r in recorded] == [
        ("GET", "/instance/connectionState/vendas-01", INSTANCE_KEY)
    ]
    await client.post("/_fake/reset")
    assert (await client.get("/_fake/requests")).json() == []


async def test_webhook_with_jwt_key_carries_a_verifiable_hs256_bearer_token(state: EvolutionState) -> None:
    receiver, received = make_receiver()
    state.webhook_transport = httpx.ASGITransport(app=receiver)
    state.instances["vendas-01"].webhook = InstanceWebhook(
        url="http://crm.test/webhooks/evolution", headers={"jwt_key": "shared-jwt-secret"}
    )
    envelope = text_message_webhook(instance="vendas-01", from_number="5511987654321", text="Oi!")
    delivery = await state.deliver(envelope)
    assert delivery.delivered
    headers = received[0]["headers"]
    assert "jwt_key" not in headers
    token = headers["authorization"].removeprefix("Bearer ")
    claims = decode_webhook_jwt(token, "shared-jwt-secret")
    assert claims["app"] == "evolution"
    assert claims["action"] == "webhook"
    assert claims["exp"] - claims["iat"] == 600
    with pytest.raises(ValueError, match="signature"):
        decode_webhook_jwt(token, "another-secret")


async def test_webhook_by_events_appends_the_event_suffix_and_keeps_custom_headers(
    state: EvolutionState,
) -> None:
    receiver, received = make_receiver()
    state.webhook_transport = httpx.ASGITransport(app=receiver)
    envelope = connection_update_webhook(instance="vendas-01", state="close", status_reason=401)
    await state.deliver(
        envelope, url="http://crm.test/hooks", headers={"x-shared-secret": "s3cr3t"}, by_events=True
    )
    assert received[0]["path"] == "/hooks/connection-update"
    assert received[0]["headers"]["x-shared-secret"] == "s3cr3t"
    assert received[0]["body"]["data"] == {"instance": "vendas-01", "state": "close", "statusReason": 401}


async def test_webhook_is_retried_on_500_until_it_succeeds() -> None:
    receiver, received = make_receiver([500, 502, 200])
    delivery = await deliver_webhook(
        "http://crm.test/hook",
        text_message_webhook(instance="vendas-01", from_number="5511987654321", text="Oi"),
        retry_delay_scale=0.0,
        transport=httpx.ASGITransport(app=receiver),
    )
    assert [a.status for a in delivery.attempts] == [500, 502, 200]
    assert delivery.delivered
    assert len(received) == 3


async def test_webhook_retry_schedule_stops_on_401() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500 if len(calls) == 1 else 401)

    delivery = await deliver_webhook(
        "http://crm.test/hook",
        text_message_webhook(instance="vendas-01", from_number="5511987654321", text="Oi"),
        retry_delay_scale=0.0,
        transport=httpx.MockTransport(answer),
    )
    assert [a.status for a in delivery.attempts] == [500, 401]
    assert not delivery.delivered


async def test_webhook_gives_up_after_ten_attempts_on_network_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    delivery = await deliver_webhook(
        "http://crm.test/hook",
        connection_update_webhook(instance="vendas-01"),
        retry_delay_scale=0.0,
        transport=httpx.MockTransport(refuse),
    )
    assert len(delivery.attempts) == 10
    assert all(a.error is not None and "ConnectError" in a.error for a in delivery.attempts)


def test_retry_schedule_doubles_from_5s_up_to_300s_with_bounded_jitter() -> None:
    policy = EvolutionRetryPolicy()
    assert policy.base_delays() == [5, 10, 20, 40, 80, 160, 300, 300, 300]
    for base, jittered in zip(policy.base_delays(), policy.delays(), strict=True):
        assert max(5.0, base * 0.8) <= jittered <= base * 1.2


async def test_control_route_sends_a_templated_webhook_with_the_instance_origin(
    client: httpx.AsyncClient, state: EvolutionState
) -> None:
    receiver, received = make_receiver()
    state.webhook_transport = httpx.ASGITransport(app=receiver)
    response = await client.post(
        "/_fake/webhooks/send",
        json={
            "instance": "vendas-01",
            "url": "http://crm.test/webhooks/evolution",
            "template": "ad_referral",
            "params": {"from_number": "5511987654321", "text": "Olá!", "ctwa_clid": "ARAkCLID"},
            "headers": {"x-shared-secret": "s3cr3t"},
        },
    )
    assert response.status_code == 200
    assert response.json()["delivery"]["delivered"] is True
    body = received[0]["body"]
    assert body["destination"] == "http://crm.test/webhooks/evolution"
    assert body["sender"] == "5511912345678@s.whatsapp.net"
    assert body["data"]["contextInfo"]["externalAdReply"]["ctwaClid"] == "ARAkCLID"
    assert (await client.get("/_fake/deliveries")).json()[0]["attempts"][0]["status"] == 200


def test_text_builder_produces_the_reference_envelope_in_order() -> None:
    envelope = text_message_webhook(
        instance="vendas-01",
        from_number="5511987654321",
        text="Oi!",
        message_id="AC1830B11436BAC01F6FA6196C534B8A",
        origin=WebhookOrigin(apikey="INSTANCE-TOKEN"),
    )
    assert list(envelope) == [
        "event",
        "instance",
        "data",
        "destination",
        "date_time",
        "sender",
        "server_url",
        "apikey",
    ]
    assert envelope["data"]["key"] == {
        "remoteJid": "5511987654321@s.whatsapp.net",
        "fromMe": False,
        "id": "AC1830B11436BAC01F6FA6196C534B8A",
    }
    assert envelope["data"]["source"] == "android"
    assert envelope["date_time"].endswith("Z")
    assert envelope["apikey"] == "INSTANCE-TOKEN"


def test_builders_cover_legacy_text_lid_addressing_and_images() -> None:
    legacy = text_message_webhook(instance="v", from_number="5511987654321", text="Oi", legacy_text=True)
    assert legacy["data"]["message"] == {"extendedTextMessage": {"text": "Oi"}}
    ad = ad_referral_webhook(instance="v", from_number="5511987654321", text="Oi", ctwa_clid=None)
    assert ad["data"]["key"]["remoteJid"].endswith("@lid")
    assert ad["data"]["key"]["remoteJidAlt"] == "5511987654321@s.whatsapp.net"
    assert "ctwaClid" not in ad["data"]["contextInfo"]["externalAdReply"]
    image = image_message_webhook(
        instance="v", from_number="5521998765432", caption="comprovante", base64_data="AA=="
    )
    assert image["data"]["messageType"] == "imageMessage"
    assert image["data"]["message"]["imageMessage"]["caption"] == "comprovante"
    assert image["data"]["message"]["base64"] == "AA=="
    assert image["data"]["source"] == "ios"
    no_sender = connection_update_webhook(instance="v", origin=WebhookOrigin(sender=None))
    assert "sender" not in no_sender


def test_jwt_is_three_base64url_parts_and_expires() -> None:
    token = make_webhook_jwt("k", now=1_000)
    assert token.count(".") == 2
    assert "=" not in token
    assert decode_webhook_jwt(token, "k", now=1_500)["iat"] == 1_000
    with pytest.raises(ValueError, match="expired"):
        decode_webhook_jwt(token, "k", now=1_601)
