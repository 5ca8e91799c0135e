"""What a person types on the business's phone is published; the echo of our own sends is not."""

from __future__ import annotations

import copy
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from eventbus.testing.waiting import eventually
from evolution_manager import webhooks
from evolution_manager.keys import ServiceKeys
from fakes import evolution as fake_evolution
from fakes.evolution_webhooks import text_message_webhook

REFERENCE = json.loads((Path(__file__).parent / "reference_samples.json").read_text())
SAMPLE_TEXT: dict[str, Any] = REFERENCE["sample_1_text"]
LEAD_PHONE = "+5511987654321"


def convert(envelope: dict[str, Any], rules: webhooks.SkipRules) -> Any:
    webhook = webhooks.EvolutionWebhook.model_validate(envelope)
    upsert = webhooks.MessageUpsert.model_validate(webhook.data)
    return webhooks.to_message(webhook, upsert, instance_id="ins_1", rules=rules)


def test_a_lead_message_carries_the_contacts_name_and_is_not_from_me() -> None:
    payload = convert(SAMPLE_TEXT, webhooks.SkipRules())
    assert payload.from_me is False
    assert payload.contact_name == SAMPLE_TEXT["data"]["pushName"]


def test_a_message_typed_on_the_phone_is_from_me_to_the_chats_contact_without_a_name() -> None:
    envelope = copy.deepcopy(SAMPLE_TEXT)
    envelope["data"]["key"]["fromMe"] = True
    envelope["data"]["pushName"] = "Você"
    payload = convert(envelope, webhooks.SkipRules())
    assert payload.from_me is True
    assert payload.lead_external_id == f"wa:{LEAD_PHONE}"
    assert payload.contact_name is None  # "Você" is the business, not the contact
    assert payload.body == SAMPLE_TEXT["data"]["message"]["conversation"]


def test_messages_typed_on_the_phone_are_skipped_when_the_rule_says_so() -> None:
    envelope = copy.deepcopy(SAMPLE_TEXT)
    envelope["data"]["key"]["fromMe"] = True
    assert convert(envelope, webhooks.SkipRules(from_me=True)) == webhooks.Skip("from_me")


async def test_a_message_typed_on_the_phone_is_published_as_from_me(service) -> None:
    envelope = text_message_webhook(
        instance=service.INSTANCE, from_number="5511987654321", text="Oi Maria, aqui é o Carlos", from_me=True
    )
    answer = (await service.post_webhook(envelope)).json()
    assert answer["status"] == "published"
    [event] = await service.published("message.received")
    assert event.id == answer["event_id"]
    assert event.payload.from_me is True
    assert event.payload.body == "Oi Maria, aqui é o Carlos"
    assert event.payload.lead_external_id == f"wa:{LEAD_PHONE}"


async def _sent_id(service) -> str:
    await service.reply("Olá! Qual a data do evento?")
    await eventually(lambda: _true(len(service.fake.sent) == 1))
    message_id = str(service.fake.sent[0].response["key"]["id"])
    await eventually(lambda: _remembered(service, message_id))
    return message_id


async def _remembered(service, message_id: str) -> bool:
    return bool(await service.bus.redis.sismember(_this_hour(service), message_id))


def _this_hour(service) -> str:
    return ServiceKeys(service.bus.keys).sent_messages(
        service.instance["instance_id"], int(time.time()) // 3600
    )


async def _true(value: bool) -> bool:
    return value


async def _exists(service, key: str) -> bool:
    return bool(await service.bus.redis.exists(key))


async def test_a_send_keeps_one_record_for_the_replay_window_and_its_echo_id_for_a_day(service) -> None:
    # The outcome record stops a second send for the bus's 8 days; the sent id only has to outlive Evolution's
    # webhook retries (~25 minutes), so it costs a day, not another 8: a member of its hour's set (~60 B, where
    # a key of its own cost ~136 B), the set kept a day past its hour.
    correlation_id = await service.reply("Olá! Qual a data do evento?")
    await eventually(lambda: _true(len(service.fake.sent) == 1))
    message_id = str(service.fake.sent[0].response["key"]["id"])
    outcome = ServiceKeys(service.bus.keys).reply_record(f"{correlation_id}:0")
    await eventually(lambda: _exists(service, outcome))
    await eventually(lambda: _remembered(service, message_id))
    day, hour = 86_400_000, 3_600_000
    assert day < await service.bus.redis.pttl(_this_hour(service)) <= day + hour
    assert await service.bus.redis.pttl(outcome) > 7 * day


async def test_an_echo_is_recognised_from_any_hour_of_the_last_day_and_not_after(bus) -> None:
    from evolution_manager.echoes import SentIds

    now = [1_796_600_000.0]
    sent = SentIds(bus.redis, bus.keys, ttl=timedelta(days=1), clock=lambda: now[0])
    await sent.remember("ins_1", "3EB0C431C26A1916F5AB")
    now[0] += 23.5 * 3600
    late = await sent.sent_by_us("ins_1", "3EB0C431C26A1916F5AB")
    other_instance = await sent.sent_by_us("ins_2", "3EB0C431C26A1916F5AB")
    now[0] += 2 * 3600
    too_late = await sent.sent_by_us("ins_1", "3EB0C431C26A1916F5AB")
    assert (late, other_instance, too_late) == (True, False, False)


async def test_the_upsert_echo_of_our_own_send_is_recognised_by_its_id_and_not_published(service) -> None:
    message_id = await _sent_id(service)
    echo = text_message_webhook(
        instance=service.INSTANCE,
        from_number="5511987654321",
        text="Olá! Qual a data do evento?",
        message_id=message_id,
        from_me=True,
    )
    answer = (await service.post_webhook(echo)).json()
    assert answer == {"status": "skipped", "event_id": None, "reason": "echo"}
    assert await service.published("message.received") == []
    # Another id from the same phone is a person typing: published.
    typed = text_message_webhook(
        instance=service.INSTANCE,
        from_number="5511987654321",
        text="Olá! Qual a data do evento?",
        from_me=True,
    )
    assert (await service.post_webhook(typed)).json()["status"] == "published"


async def test_the_fakes_send_message_echo_of_a_reply_reaches_us_and_publishes_nothing(service) -> None:
    fake: fake_evolution.EvolutionState = service.fake
    fake.webhook_transport = httpx.ASGITransport(app=service.app)
    fake.instances[service.INSTANCE].webhook = fake_evolution.InstanceWebhook(
        url="http://test/webhooks/evolution", headers={"x-shared-secret": service.SECRET}
    )
    await service.reply("Perfeito!")
    await eventually(lambda: _true(len(fake.deliveries) == 1))
    [delivery] = fake.deliveries
    assert delivery.event == "send.message" and delivery.delivered
    assert delivery.json()["data"]["key"] == fake.sent[0].response["key"]  # the same id as sendText's answer
    assert await service.published("message.received") == []


async def test_an_upsert_echo_that_overtakes_the_send_answer_is_recognised_by_chat_and_text(service) -> None:
    sent_ids = service.app.state.ports.sent_ids
    instance_id = service.instance["instance_id"]
    text = "Perfeito! Qual a data?"
    await sent_ids.sending(instance_id, "5511987654321", text)  # the handler is inside sendText
    echo = text_message_webhook(
        instance=service.INSTANCE, from_number="5511987654321", text=text, from_me=True
    )
    assert (await service.post_webhook(echo)).json()["reason"] == "echo"
    await sent_ids.done_sending(instance_id, "5511987654321", text)
    typed = text_message_webhook(
        instance=service.INSTANCE, from_number="5511987654321", text=text, from_me=True
    )
    assert (await service.post_webhook(typed)).json()["status"] == "published"  # after the send: a person


async def test_a_server_that_echoes_sends_as_upserts_publishes_nothing_for_them(service) -> None:
    fake: fake_evolution.EvolutionState = service.fake
    fake.echo_sends_as_upsert = True  # evolution-api#1340's report
    fake.webhook_transport = httpx.ASGITransport(app=service.app)
    fake.instances[service.INSTANCE].webhook = fake_evolution.InstanceWebhook(
        url="http://test/webhooks/evolution", headers={"x-shared-secret": service.SECRET}
    )
    await service.reply("Perfeito!", "Qual a data do evento?")
    await eventually(lambda: _true(len(fake.deliveries) == 2 and all(d.delivered for d in fake.deliveries)))
    assert {d.event for d in fake.deliveries} == {"messages.upsert"}
    assert {d.json()["data"]["key"]["fromMe"] for d in fake.deliveries} == {True}
    assert await service.published("message.received") == []


def test_the_business_writing_in_a_group_or_a_status_is_never_a_conversation_with_a_contact() -> None:
    everything = webhooks.SkipRules(from_me=False, groups=False, broadcast=False)
    for chat in ("120363025246125244@g.us", "status@broadcast"):
        envelope = copy.deepcopy(SAMPLE_TEXT)
        envelope["data"]["key"].update(
            remoteJid=chat, fromMe=True, participant="5511912345678@s.whatsapp.net"
        )
        assert convert(envelope, everything) == webhooks.Skip("from_me")
