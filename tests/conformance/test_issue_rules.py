"""Issue 23, "The catalog, exactly": one test per rule this suite can check from the outside. Item 2 (the sale
on the lead's thread) is asserted end to end in ``tests/e2e/test_demo.py`` and
``tests/e2e/test_contracts_across_services.py``; item 7 (live channels by the catalog's names) in
``test_live_channels.py``; item 4 (ids) in ``test_envelopes.py``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema
from agent_runtime.leads import reply_address
from conformance_kit import ASYNCAPI, SCHEMAS, payload_examples
from eventbus import Bus, BusSettings, Envelope, additions, catalog
from evolution_manager import handlers as evolution_handlers
from evolution_manager import webhooks
from fakes.evolution_webhooks import image_message_webhook, text_message_webhook

RULES = webhooks.SkipRules()


def received(envelope: dict[str, Any]) -> tuple[Any, str]:
    """evolution-manager's conversion of an Evolution webhook: the payload and its producer key."""
    webhook = webhooks.EvolutionWebhook.model_validate(envelope)
    upsert = webhooks.MessageUpsert.model_validate(webhook.data)
    message = webhooks.to_message(webhook, upsert, instance_id="ins_1", rules=RULES)
    assert not isinstance(message, webhooks.Skip), message
    return message, webhooks.message_key("ins_1", upsert, message)


def valid(event_type: str, wire: bytes) -> dict[str, Any]:
    document = json.loads(wire)
    jsonschema.Draft202012Validator(json.loads((SCHEMAS / f"{event_type}.v1.json").read_text())).validate(
        document
    )
    return dict(document)


async def published(bus: Bus, channel: str) -> list[Envelope[Any]]:
    rows = await bus.redis.xrange(bus.keys.stream(channel))
    return [catalog.parse(fields[b"e"]) for _, fields in rows]


async def test_item_1_a_message_without_an_id_is_deduplicated_by_the_fallback_key(
    service_redis_url: Callable[[str], str], bus: Bus, bus_settings: BusSettings
) -> None:
    # "instance_id + raw.message_id (quando disponível) ou sha256(body+timestamp+from) como fallback"
    delivery = text_message_webhook(
        instance="vendas-01", from_number="5511988887777", text="Oi", message_id="", timestamp=1773027345
    )
    message, key = received(delivery)
    assert key == received(delivery)[1]  # a retried delivery: the same key
    _, other_key = received({**delivery, "data": {**delivery["data"], "messageTimestamp": 1773027346}})
    assert other_key != key  # another second: another message
    async with Bus.from_url(
        service_redis_url("evolution-manager"), source="evolution-manager", settings=bus_settings
    ) as producer:
        for _ in range(3):
            await producer.emit(message, company_id="cmp_1", dedupe_key=key)
    [event] = await published(bus, "message.received")
    assert event.payload.raw["message_id"] is None


def test_item_5_media_type_stays_inside_the_catalogs_enum_and_kind_carries_the_precise_kind() -> None:
    schema = json.loads((SCHEMAS / "message.received.v1.json").read_text())
    assert schema["$defs"]["Media"]["properties"]["type"]["enum"] == (
        payload_examples()["message.received"]["media"]["type"].split("|")
    )
    envelope = image_message_webhook(instance="vendas-01", from_number="5511988887777", caption="festa")
    envelope["data"]["message"] = {"videoMessage": envelope["data"]["message"].pop("imageMessage")}
    envelope["data"]["messageType"] = "videoMessage"
    message, _ = received(envelope)
    wire = valid("message.received", Envelope.new(message, source="t", company_id="c").to_wire())
    assert (wire["payload"]["media"]["type"], wire["payload"]["media"]["kind"]) == ("document", "video")


def test_item_6_absent_utm_and_media_are_emitted_as_the_schemas_say() -> None:
    lead = catalog.build(
        "lead.created",
        {"lead_id": "lead_1", "company_id": "c", "channel": "whatsapp", "utm": None},
        source="t",
        company_id="c",
    )
    assert valid("lead.created", lead.to_wire())["payload"]["utm"] == {
        "source": None, "medium": None, "campaign": None, "content": None, "term": None,
    }  # fmt: skip
    message, _ = received(text_message_webhook(instance="vendas-01", from_number="5511988887777", text="Oi"))
    assert (
        valid("message.received", Envelope.new(message, source="t", company_id="c").to_wire())["payload"][
            "media"
        ]
        is None
    )


async def test_item_9_a_lead_behind_a_privacy_lid_is_received_identified_and_answerable(
    service_redis_url: Callable[[str], str], bus: Bus, bus_settings: BusSettings
) -> None:
    # Evolution 2.2.3+: remoteJid "NNN@lid", no phone alternative, key.id empty (evolution-api#2466).
    delivery = text_message_webhook(
        instance="vendas-01", from_number="5511977776666", text="Oi", message_id="", addressing="lid_only"
    )
    lid = delivery["data"]["key"]["remoteJid"].removesuffix("@lid")
    message, key = received(delivery)
    async with Bus.from_url(
        service_redis_url("evolution-manager"), source="evolution-manager", settings=bus_settings
    ) as producer:
        await producer.emit(message, company_id="cmp_1", dedupe_key=key)
        await producer.emit(message, company_id="cmp_1", dedupe_key=key)
    [event] = await published(bus, "message.received")
    wire = valid("message.received", event.to_wire())["payload"]
    assert wire["lead_external_id"] == f"wa:lid:{lid}"
    assert "from" not in wire  # a phone number or absent, as the catalog allows
    # agent-runtime answers at the LID's JID, which evolution-manager hands to Evolution's sendText as it is
    assert evolution_handlers.recipient(reply_address(event.payload)) == f"{lid}@lid"


def test_item_10_every_addition_is_in_the_asyncapi_document_beside_the_catalogs_channels() -> None:
    document = json.loads(ASYNCAPI.read_text())
    by_address = {channel["address"]: channel for channel in document["channels"].values()}
    for addition in additions.ADDITIONS:
        listed = (
            document["info"]["x-envelope-additions"]
            if addition.where == "envelope"
            else by_address[addition.where]["x-additions"]
        )
        assert {
            "kind": addition.kind,
            "what": addition.what,
            "form": addition.form,
            "why": addition.why,
        } in listed
