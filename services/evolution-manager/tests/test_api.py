"""Webhooks in, over ASGI against the real Redis: what is published, what is answered, what is refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from eventbus import BusUnavailable
from eventbus.testing.waiting import eventually
from evolution_manager.app import create_app
from fakes import evolution as fake_evolution
from fakes.evolution_webhooks import (
    ad_referral_webhook,
    connection_update_webhook,
    deliver_webhook,
    make_webhook_jwt,
    text_message_webhook,
)
from prometheus_client import REGISTRY

REFERENCE = json.loads((Path(__file__).parent / "reference_samples.json").read_text())
SAMPLE_TEXT: dict[str, Any] = REFERENCE["sample_1_text"]


def counted(event: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("evolution_webhooks_total", {"event": event, "outcome": outcome}) or 0.0


async def test_text_webhook_is_published_as_message_received_before_the_200(service) -> None:
    response = await service.post_webhook(SAMPLE_TEXT)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "published"
    [event] = await service.published("message.received")
    assert event.id == answer["event_id"]
    assert event.company_id == service.COMPANY
    assert event.source == "evolution-manager"
    assert event.occurred_at.timestamp() == 1761057639
    assert event.payload.instance_id == service.instance["instance_id"]
    assert event.payload.from_ == "+5511987654321"
    assert event.payload.lead_external_id == "wa:+5511987654321"
    assert event.payload.body == "Oi! Quero saber o valor do plano anual."


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("sample_1_text", {"from": "+5511987654321", "body": "Oi! Quero saber o valor do plano anual."}),
        (
            "sample_2_image",
            {"from": "+5521998765432", "body": "Segue a foto do comprovante", "media": "image"},
        ),
        ("sample_3_ad_referral", {"from": "+5511987654321", "referral": "120212345678901234"}),
    ],
)
async def test_every_reference_message_sample_is_published_over_http(service, sample, expected) -> None:
    response = await service.post_webhook(REFERENCE[sample])
    assert response.status_code == 200 and response.json()["status"] == "published"
    [event] = await service.published("message.received")
    payload = event.payload
    assert payload.from_ == expected["from"] and payload.lead_external_id == f"wa:{expected['from']}"
    assert payload.raw["message_id"] == REFERENCE[sample]["data"]["key"]["id"]
    if "body" in expected:
        assert payload.body == expected["body"]
    assert (payload.media.type if payload.media else None) == expected.get("media")
    assert (payload.referral.source_id if payload.referral else None) == expected.get("referral")
    assert "INSTANCE-TOKEN-PLACEHOLDER" not in event.to_wire().decode()


@pytest.mark.parametrize(
    ("sample", "status"),
    [("sample_4_connection_open", "connected"), ("sample_4_connection_close", "disconnected")],
)
async def test_every_reference_connection_sample_is_published_over_http(service, sample, status) -> None:
    assert (await service.post_webhook(REFERENCE[sample])).json()["status"] == "published"
    [event] = await service.published("instance.status")
    assert event.payload.status == status and event.payload.channel == "whatsapp"


async def test_ad_click_webhook_publishes_the_referral(service) -> None:
    envelope = ad_referral_webhook(
        instance="vendas-01", from_number="5511987654321", text="Tenho interesse", ctwa_clid="ARAkCLID-1"
    )
    assert (await service.post_webhook(envelope)).status_code == 200
    [event] = await service.published("message.received")
    assert event.payload.referral.ctwa_clid == "ARAkCLID-1"
    assert event.payload.referral.source_type == "ad"
    assert event.payload.from_ == "+5511987654321"  # the @lid chat resolved through remoteJidAlt


async def test_duplicate_webhook_publishes_one_event_and_answers_the_same_id(service) -> None:
    answers = [(await service.post_webhook(SAMPLE_TEXT)).json() for _ in range(3)]
    assert [a["status"] for a in answers] == ["published", "duplicate", "duplicate"]
    assert len({a["event_id"] for a in answers}) == 1
    assert len(await service.published("message.received")) == 1


@pytest.mark.parametrize("no_id", [lambda key: key.pop("id"), lambda key: key.update(id="")])
async def test_a_message_without_an_id_is_received_once_by_the_catalogs_fallback_key(service, no_id) -> None:
    # Catalog, message.received: "instance_id + raw.message_id (quando disponível) ou sha256(body+timestamp+from)".
    # Evolution 2.2.3+ sends some upserts with key.id absent or empty (evolution-api#2466).
    envelope = copy.deepcopy(SAMPLE_TEXT)
    no_id(envelope["data"]["key"])
    answers = [(await service.post_webhook(envelope)).json() for _ in range(3)]
    assert [a["status"] for a in answers] == ["published", "duplicate", "duplicate"]
    [event] = await service.published("message.received")
    assert event.payload.raw["message_id"] is None and event.payload.body


async def test_a_lead_known_only_by_a_privacy_lid_is_received_once_without_a_from(service) -> None:
    # Evolution 2.2.3+: remoteJid "NNN@lid", no phone alternative anywhere, key.id empty (evolution-api#2466).
    envelope = text_message_webhook(
        instance=service.INSTANCE,
        from_number="5511955554444",
        text="Oi",
        message_id="",
        addressing="lid_only",
        timestamp=1773027345,
    )
    lid = envelope["data"]["key"]["remoteJid"].removesuffix("@lid")
    answers = [(await service.post_webhook(envelope)).json() for _ in range(2)]
    assert [a["status"] for a in answers] == ["published", "duplicate"]  # the fallback key, with the LID
    [event] = await service.published("message.received")
    assert event.payload.lead_external_id == f"wa:lid:{lid}"
    assert event.payload.from_ is None  # a phone number or absent, never the LID
    assert event.payload.body == "Oi"


async def test_messages_without_an_id_that_differ_in_text_time_or_sender_are_each_received(service) -> None:
    base = copy.deepcopy(SAMPLE_TEXT)
    base["data"]["key"].pop("id")
    other_text, other_time = copy.deepcopy(base), copy.deepcopy(base)
    other_text["data"]["message"] = {"conversation": "outra mensagem"}
    other_time["data"]["messageTimestamp"] = int(base["data"]["messageTimestamp"]) + 1
    for envelope in (base, other_text, other_time):
        assert (await service.post_webhook(envelope)).json()["status"] == "published"
    assert len(await service.published("message.received")) == 3


async def test_per_event_url_form_is_accepted(service) -> None:
    response = await service.post_webhook(SAMPLE_TEXT, path="/messages-upsert")
    assert response.status_code == 200 and response.json()["status"] == "published"


async def test_per_event_url_that_contradicts_the_body_is_422(service) -> None:
    response = await service.post_webhook(SAMPLE_TEXT, path="/connection-update")
    assert response.status_code == 422
    assert "event" in response.json()["error"]["message"]
    assert await service.published("message.received") == []


async def test_the_fake_delivering_with_a_header_secret_and_by_events_gets_through(service) -> None:
    envelope = text_message_webhook(instance="vendas-01", from_number="5511987654321", text="oi")
    delivery = await deliver_webhook(
        "http://test/webhooks/evolution",
        envelope,
        headers={"x-shared-secret": service.SECRET},
        by_events=True,
        transport=httpx.ASGITransport(app=service.app),
    )
    assert delivery.delivered and delivery.url.endswith("/messages-upsert")
    assert len(await service.published("message.received")) == 1


async def test_evolution_jwt_signed_with_the_instance_secret_is_accepted(service) -> None:
    envelope = text_message_webhook(instance="vendas-01", from_number="5511987654321", text="oi")
    delivery = await deliver_webhook(
        "http://test/webhooks/evolution",
        envelope,
        headers={"jwt_key": service.SECRET},
        transport=httpx.ASGITransport(app=service.app),
    )
    assert delivery.delivered
    assert len(await service.published("message.received")) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-shared-secret": "not-the-secret"},
        {"Authorization": f"Bearer {make_webhook_jwt('another-secret-of-32-characters!!')}"},
        {"Authorization": "Bearer not.a.jwt"},
    ],
    ids=["missing", "wrong_header", "jwt_other_key", "garbage_jwt"],
)
async def test_wrong_or_missing_secret_is_401_and_nothing_is_published(service, headers) -> None:
    before = counted("messages.upsert", "unauthorized")
    response = await service.post_webhook(SAMPLE_TEXT, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert await service.published("message.received") == []
    assert counted("messages.upsert", "unauthorized") == before + 1


async def test_expired_jwt_is_401(service) -> None:
    stale = make_webhook_jwt(service.SECRET, now=1_700_000_000)
    response = await service.post_webhook(SAMPLE_TEXT, headers={"Authorization": f"Bearer {stale}"})
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"].lower()


async def test_malformed_json_is_400(service) -> None:
    response = await service.http.post(
        "/webhooks/evolution",
        content=b'{"event": "messages.upsert", "instance": "vendas-01", "data": {',
        headers={"x-shared-secret": service.SECRET},
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]["message"]


async def test_a_json_array_is_401_as_it_names_no_instance(service) -> None:
    # Nothing past the head of an unauthenticated body is read: a body naming no instance is refused.
    response = await service.http.post("/webhooks/evolution", content=b"[1, 2]")
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.update(event=42), "event"),
        (lambda e: e["data"]["key"].update(id={"not": "a string"}), "data.key.id"),
        (lambda e: e["data"]["key"].update(fromMe="sometimes"), "data.key.fromMe"),
        (lambda e: e["data"].update(message="not an object"), "data.message"),
    ],
)
async def test_wrong_types_are_422_naming_the_field(service, mutate, field) -> None:
    envelope = copy.deepcopy(SAMPLE_TEXT)
    mutate(envelope)
    response = await service.post_webhook(envelope)
    assert response.status_code == 422, response.text
    assert all(p["field"].startswith(field) for p in response.json()["error"]["problems"])
    assert await service.published("message.received") == []


async def test_body_over_the_limit_is_413(run_service) -> None:
    async with run_service(max_body_bytes=4096) as service:
        envelope = copy.deepcopy(SAMPLE_TEXT)
        envelope["data"]["message"]["conversation"] = "x" * 5000
        response = await service.post_webhook(envelope)
        assert response.status_code == 413
        assert await service.published("message.received") == []


async def test_unknown_extra_fields_are_accepted(service) -> None:
    envelope = copy.deepcopy(SAMPLE_TEXT)
    envelope["brand_new_field"] = {"x": 1}
    envelope["data"]["key"]["addressingMode"] = "pn"
    envelope["data"]["someFutureField"] = [1, 2, 3]
    assert (await service.post_webhook(envelope)).status_code == 200


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ({"remoteJid": "120363025246125244@g.us", "participant": "5511911112222@s.whatsapp.net"}, "group"),
        ({"remoteJid": "status@broadcast", "participant": "5511911112222@s.whatsapp.net"}, "broadcast"),
    ],
)
async def test_group_and_broadcast_messages_are_skipped_and_counted(service, key, reason) -> None:
    envelope = copy.deepcopy(SAMPLE_TEXT)
    envelope["data"]["key"].update(key)
    before = counted("messages.upsert", f"skipped_{reason}")
    response = await service.post_webhook(envelope)
    assert response.status_code == 200
    assert response.json() == {"status": "skipped", "event_id": None, "reason": reason}
    assert await service.published("message.received") == []
    assert counted("messages.upsert", f"skipped_{reason}") == before + 1
    assert f'outcome="skipped_{reason}"' in (await service.http.get("/metrics")).text


async def test_messages_typed_on_the_phone_can_be_skipped_as_before(run_service) -> None:
    async with run_service(skip_from_me=True) as service:
        envelope = copy.deepcopy(SAMPLE_TEXT)
        envelope["data"]["key"]["fromMe"] = True
        response = await service.post_webhook(envelope)
        assert response.json() == {"status": "skipped", "event_id": None, "reason": "from_me"}
        assert await service.published("message.received") == []


@pytest.mark.parametrize("event", ["messages.update", "send.message", "qrcode.updated", "something.new"])
async def test_other_events_are_answered_200_and_counted(service, event) -> None:
    label = "other" if event == "something.new" else event
    before = counted(label, "ignored")
    response = await service.post_webhook({**SAMPLE_TEXT, "event": event, "data": {"anything": True}})
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert counted(label, "ignored") == before + 1
    assert await service.published("message.received") == []


async def test_connection_update_publishes_instance_status_only_on_change(service) -> None:
    def update(state: str, reason: int = 200) -> dict[str, Any]:
        return connection_update_webhook(instance="vendas-01", state=state, status_reason=reason)

    answers = []
    for envelope in (
        update("open"),
        update("open"),
        update("connecting"),
        update("close", 401),
        update("close", 401),
    ):
        response = await service.post_webhook(envelope)
        assert response.status_code == 200
        answers.append(response.json()["status"])
    assert answers == ["published", "unchanged", "unchanged", "published", "unchanged"]
    events = await service.published("instance.status")
    assert [(e.payload.status, e.payload.details.get("reason")) for e in events] == [
        ("connected", None),
        ("disconnected", "logged_out"),
    ]
    assert events[0].payload.instance_id == service.instance["instance_id"]
    assert events[0].payload.company_id == service.COMPANY
    assert (await service.http.get("/v1/instances/vendas-01", headers=service.ADMIN)).json()["status"] == (
        "disconnected"
    )


async def test_webhook_gets_503_while_redis_is_down_and_the_retry_is_published_once(
    fake, make_settings, redis_server_factory
) -> None:
    # fsync always: under a loaded disk, everysec may postpone writing the registration below past the
    # SIGKILL (docs/reliability.md), and this test is about the webhook, not about that window.
    server = redis_server_factory(fsync_always=True)
    settings = make_settings(redis_url=server.url)
    app = create_app(settings, transport=httpx.ASGITransport(app=fake_evolution.create_app(fake)))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        admin = {"Authorization": "Bearer dev-service-token"}
        secret = "own-server-secret-0123456789abcdef"
        body = {
            "company_id": "cmp_1",
            "webhook_secret": secret,
            "api_key": fake.instances["vendas-01"].apikey,
        }
        assert (await http.put("/v1/instances/vendas-01", json=body, headers=admin)).status_code == 201
        headers = {"x-shared-secret": secret}

        server.kill()
        down = await http.post("/webhooks/evolution", json=SAMPLE_TEXT, headers=headers)
        assert down.status_code == 503
        assert int(down.headers["Retry-After"]) > 0

        server.start()  # same port, same AOF directory: what was acknowledged before is still there

        async def redelivered() -> httpx.Response | None:  # what Evolution's retry schedule does
            response = await http.post("/webhooks/evolution", json=SAMPLE_TEXT, headers=headers)
            return response if response.status_code != 503 else None

        retried = await eventually(redelivered, timeout=10)
        assert retried.status_code == 200 and retried.json()["status"] == "published"
        again = await http.post("/webhooks/evolution", json=SAMPLE_TEXT, headers=headers)
        assert again.json() == {**retried.json(), "status": "duplicate"}
        bus = app.state.ports.bus
        rows = await bus.redis.xrange(bus.keys.stream("message.received"))
        assert [json.loads(fields[b"e"])["id"] for _, fields in rows] == [retried.json()["event_id"]]


async def test_status_change_whose_publish_failed_is_published_by_the_retried_webhook(
    service, monkeypatch
) -> None:
    bus = service.app.state.ports.bus  # the app's own (service.bus is the tests')
    real_emit = bus.emit
    calls = {"n": 0}

    async def emit_fails_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:  # Redis went away between the status compare-and-set and the publish
            raise BusUnavailable("cannot publish instance.status: connection lost")
        return await real_emit(*args, **kwargs)

    monkeypatch.setattr(bus, "emit", emit_fails_once)
    envelope = connection_update_webhook(instance="vendas-01", state="open")
    first = await service.post_webhook(envelope)
    assert first.status_code == 503 and "Retry-After" in first.headers
    retried = await service.post_webhook(envelope)
    assert retried.json()["status"] == "published"
    assert (await service.post_webhook(envelope)).json()["status"] == "unchanged"
    assert [e.payload.status for e in await service.published("instance.status")] == ["connected"]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda d: d["message"]["imageMessage"].update(fileSha256={"x": 1, "y": 2}),
            "data.message.imageMessage.fileSha256",
        ),
        (
            lambda d: d.update(messageTimestamp={"low": 1761057702, "high": "zz"}),
            "data.messageTimestamp.high",
        ),
    ],
    ids=["sha256_buffer_with_letters", "long_timestamp_high_zz"],
)
async def test_authenticated_garbage_in_decoded_fields_is_422_naming_the_field(
    service, mutate, field
) -> None:
    envelope = copy.deepcopy(REFERENCE["sample_2_image"])
    mutate(envelope["data"])
    response = await service.post_webhook(envelope)
    assert response.status_code == 422, response.text
    assert all(p["field"].startswith(field) for p in response.json()["error"]["problems"])
    assert await service.published("message.received") == []
