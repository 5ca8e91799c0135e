"""Replies out: message.sent → Evolution sendText, each element at most once, failures retried or dead-lettered."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from eventbus import (
    DeadLetters,
    Envelope,
    MessageSent,
    OutgoingMessage,
    forget_processed,
    group_stats,
    replay_since,
)
from eventbus.testing.waiting import eventually
from evolution_manager import handlers
from evolution_manager.errors import UndeliverableReply
from fakes import evolution as fake_evolution
from prometheus_client import REGISTRY
from servicekit.outcomes import is_outcome_unknown
from structlog.testing import capture_logs

GROUP = "evolution-manager"


def replies(outcome: str) -> float:
    return REGISTRY.get_sample_value("evolution_reply_messages_total", {"outcome": outcome}) or 0.0


async def acknowledged(service) -> bool:
    """The group holds nothing read and not yet acknowledged on ``message.sent``."""
    return any(g.group == GROUP and g.pending == 0 for g in await group_stats(service.bus, "message.sent"))


async def dead_letters(service) -> list:
    return await DeadLetters(service.bus, "message.sent", GROUP).list()


class SecondSendFails(httpx.AsyncBaseTransport):
    def __init__(self, fake: fake_evolution.EvolutionState) -> None:
        self.inner = httpx.ASGITransport(app=fake_evolution.create_app(fake))
        self.sends = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/message/sendText/"):
            self.sends += 1
            if self.sends == 2:  # 503: not processed (a 500 may follow a send: an unknown outcome)
                return httpx.Response(503, json={"status": 503, "error": "Service Unavailable"})
        return await self.inner.handle_async_request(request)


class SendPathError(httpx.AsyncBaseTransport):
    """Evolution's 400 for an exception inside its send path (reference §7): free text that may name the jid."""

    def __init__(self, fake: fake_evolution.EvolutionState) -> None:
        self.inner = httpx.ASGITransport(app=fake_evolution.create_app(fake))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/message/sendText/"):
            message = ["Error: Connection Closed for 5511987654321@s.whatsapp.net"]
            return httpx.Response(
                400, json={"status": 400, "error": "Bad Request", "response": {"message": message}}
            )
        return await self.inner.handle_async_request(request)


class FailingPaths(httpx.AsyncBaseTransport):
    """The fake Evolution behind a switch: requests whose path contains ``failing`` get 503."""

    def __init__(self, fake: fake_evolution.EvolutionState) -> None:
        self.inner = httpx.ASGITransport(app=fake_evolution.create_app(fake))
        self.failing: str | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.failing is not None and self.failing in request.url.path:
            return httpx.Response(503, json={"status": 503, "error": "Service Unavailable"})
        return await self.inner.handle_async_request(request)


async def test_each_element_is_sent_in_order_with_the_instances_api_key(service) -> None:
    await service.reply("Olá Maria!", "O plano anual sai por R$ 1.497,90.", "Posso ajudar em algo mais?")
    await eventually(lambda: _async(len(service.fake.sent) == 3))
    assert service.sent_texts() == [
        "Olá Maria!",
        "O plano anual sai por R$ 1.497,90.",
        "Posso ajudar em algo mais?",
    ]
    assert {s.request["number"] for s in service.fake.sent} == {"5511987654321"}
    sends = service.fake.requests_to("/message/sendText/vendas-01", "POST")
    assert {r.headers["apikey"] for r in sends} == {"fake-instance-apikey-vendas-01"}


async def test_replayed_message_sent_sends_each_text_once(service) -> None:
    correlation_id = await service.reply("um", "dois")
    await eventually(lambda: _async(len(service.fake.sent) == 2))
    # Acknowledged, so marked processed (the same step): a mark written after the forget below would hide
    # the event from the replay.
    await eventually(lambda: acknowledged(service))
    skipped = replies("already_sent")
    # The bus forgets it handled the event and delivers the whole stream again...
    await forget_processed(service.bus, "message.sent", GROUP)
    await replay_since(service.bus, "message.sent", GROUP, datetime(2000, 1, 1, tzinfo=UTC), force=True)
    # ...and the producer publishes the same reply again under a new event id.
    await service.reply("um", "dois", correlation_id=correlation_id)
    await eventually(lambda: _async(replies("already_sent") >= skipped + 4))
    assert service.sent_texts() == ["um", "dois"]


async def test_evolution_failing_three_times_then_succeeding_delivers_once(service) -> None:
    service.fake.fail_next(503, count=3)
    await service.reply("depois de três falhas")
    await eventually(lambda: _async(len(service.fake.sent) == 1))
    assert len(service.fake.requests_to("/message/sendText/vendas-01", "POST")) == 4
    assert service.sent_texts() == ["depois de três falhas"]
    assert await dead_letters(service) == []


async def test_429_retry_after_is_honoured(service) -> None:
    service.fake.fail_next(429, retry_after=1)
    await service.reply("com calma")
    await eventually(lambda: _async(len(service.fake.sent) == 1))
    first, second = service.fake.requests_to("/message/sendText/vendas-01", "POST")
    assert second.received_at - first.received_at >= 0.95


async def test_retried_event_skips_the_elements_already_sent(fake, run_service) -> None:
    transport = SecondSendFails(fake)
    async with run_service(transport=transport, send_attempts=1) as service:
        await service.reply("a", "b", "c")
        await eventually(lambda: _async(len(service.fake.sent) == 3))
        assert service.sent_texts() == ["a", "b", "c"]
        # a; b answered 503, so the event failed; handled again: a skipped, b and c sent.
        assert transport.sends == 4


@pytest.mark.parametrize(
    ("arrange", "reason"),
    [
        (lambda fake: fake.not_on_whatsapp.add("5511987654321"), "not on WhatsApp"),
        (lambda fake: setattr(fake.instances["vendas-01"], "apikey", "rotated"), "HTTP 401"),
        (lambda fake: fake.instances.pop("vendas-01"), "HTTP 404"),
    ],
    ids=["400_not_on_whatsapp", "401", "404"],
)
async def test_evolution_rejections_go_to_dead_letters_with_the_reason(service, arrange, reason) -> None:
    arrange(service.fake)
    await service.reply("não vai")
    [letter] = await eventually(lambda: dead_letters(service))
    assert letter.reason == "permanent_failure"
    assert reason in letter.error
    assert "5511987654321" not in letter.error  # Evolution's 400 body names the number; the reason does not
    assert service.fake.sent == []
    assert len(service.fake.requests_to("/message/sendText/vendas-01", "POST")) == 1  # no retry


async def test_a_send_path_error_is_dead_lettered_without_repeating_evolution_s_text(
    fake, run_service
) -> None:
    async with run_service(transport=SendPathError(fake), send_attempts=1) as service:
        await service.reply("não vai")
        [letter] = await eventually(lambda: dead_letters(service))
    # A send-path error does not prove nothing went out (reference §10): an unknown outcome for an operator.
    assert letter.reason == "outcome_unknown" and "(send_error)" in letter.error
    assert "5511987654321" not in letter.error and "Connection Closed" not in letter.error


async def test_blank_text_is_dead_lettered_and_the_element_before_it_is_not_sent_again(service) -> None:
    await service.reply("antes", "   ")
    [letter] = await eventually(lambda: dead_letters(service))
    assert "text is blank" in letter.error
    await DeadLetters(service.bus, "message.sent", GROUP).replay(letter.id)
    await eventually(lambda: _async(replies("already_sent") > 0))
    await eventually(lambda: dead_letters(service))
    assert service.sent_texts() == ["antes"]


async def test_message_types_not_supported_are_dead_lettered_with_a_clear_reason(service) -> None:
    image = OutgoingMessage.model_construct(type="image", text="foto.jpg")
    payload = MessageSent.model_construct(
        instance_id=service.instance["instance_id"], to="+5511987654321", messages=[image], raw={}
    )
    await service.bus.publish(Envelope.new(payload, source="agent-runtime", company_id=service.COMPANY))
    [letter] = await eventually(lambda: dead_letters(service))
    assert letter.reason == "invalid_event" and "messages.0.type" in letter.error
    assert service.fake.sent == []


async def test_handler_refuses_a_type_it_cannot_send_before_sending_anything() -> None:
    payload = MessageSent.model_construct(
        instance_id="ins_x",
        to="+5511987654321",
        messages=[OutgoingMessage(text="ok"), OutgoingMessage.model_construct(type="audio", text="a.ogg")],
        raw={},
    )
    event = Envelope.new(payload, source="agent-runtime", company_id="cmp_1")
    with pytest.raises(UndeliverableReply, match=r"messages\[1\]: type 'audio' cannot be sent yet"):
        await handlers.deliver_reply(
            event, registry=None, deliveries=None, sent_ids=None, evolution=None, breakers=None,
            default_api_key=None, policy=handlers.SendPolicy(),
        )  # fmt: skip


async def test_reply_for_an_unregistered_instance_is_dead_lettered(service) -> None:
    payload = MessageSent(
        instance_id="ins_unknown", to="+5511987654321", messages=[OutgoingMessage(text="x")]
    )
    await service.bus.publish(Envelope.new(payload, source="agent-runtime", company_id=service.COMPANY))
    [letter] = await eventually(lambda: dead_letters(service))
    assert "no registered Evolution instance 'ins_unknown'" in letter.error


async def test_circuit_opens_for_a_broken_instance_without_stalling_the_others_and_recovers(
    fake, run_service
) -> None:
    fake.add_instance("vendas-02", "fake-instance-apikey-vendas-02")
    transport = FailingPaths(fake)
    transport.failing = "/message/sendText/vendas-01"
    settings = {
        "breaker_failures": 3,
        "breaker_recovery_seconds": 0.5,
        "send_attempts": 2,
        "reply_max_attempts": 50,
    }
    async with run_service(transport=transport, **settings) as service:
        other = await service.register(
            "vendas-02", company_id=service.COMPANY, api_key="fake-instance-apikey-vendas-02"
        )
        breakers = service.app.state.ports.breakers
        await service.reply("para a instância quebrada")
        await eventually(lambda: _async(breakers.state("vendas-01") == "open"))
        gauge = {"instance": "vendas-01"}
        await eventually(lambda: _async(REGISTRY.get_sample_value("evolution_circuit_open", gauge) == 1))

        # Another instance's replies go out while vendas-01's circuit is open.
        service.instance = other
        await service.reply("para a instância boa")
        await eventually(lambda: _async(service.sent_texts("vendas-02") == ["para a instância boa"]))
        assert service.sent_texts("vendas-01") == []  # still broken, still retried, not in the way

        transport.failing = None  # vendas-01 comes back: the half-open probe succeeds and closes the circuit
        await eventually(lambda: _async(service.sent_texts("vendas-01") == ["para a instância quebrada"]))
        assert breakers.state("vendas-01") == "closed"
        assert REGISTRY.get_sample_value("evolution_circuit_open", gauge) == 0
        assert await dead_letters(service) == []


async def test_no_phone_number_text_or_secret_reaches_the_logs(service) -> None:
    with capture_logs() as logs:
        envelope = {
            "event": "messages.upsert",
            "instance": "vendas-01",
            "data": {
                "key": {"remoteJid": "5511987654321@s.whatsapp.net", "fromMe": False, "id": "LOGTEST1"},
                "message": {"conversation": "meu segredo é banana"},
            },
        }
        assert (await service.post_webhook(envelope)).status_code == 200
        assert (await service.post_webhook(envelope, headers={"x-shared-secret": "wrong"})).status_code == 401
        await service.reply("resposta confidencial")
        await eventually(lambda: _async(len(service.fake.sent) == 1))
        service.fake.not_on_whatsapp.add("5511987654321")
        await service.reply("outra")
        await eventually(lambda: dead_letters(service))
    text = json.dumps(logs, default=str)
    for secret in (
        "5511987654321",
        "banana",
        "resposta confidencial",
        service.SECRET,
        "fake-instance-apikey",
    ):
        assert secret not in text


async def _async(value):
    return value


async def test_an_element_a_crashed_handling_left_mid_call_is_never_sent_again(service) -> None:
    correlation_id = "cor_01J8Z0P2T0Q1V9G7H6J5K4L3M2"
    # What a crash between the claim and the answer leaves behind (as an earlier release wrote it): the text
    # may have gone out, and Evolution's store does not have it.
    await service.bus.redis.set(
        service.bus.keys.service("evolution-manager", "reply", correlation_id, "0"), "sending"
    )
    await service.reply("talvez já enviada", "com certeza não", correlation_id=correlation_id)
    # Not skipped in silence: an outcome_unknown dead letter an operator resolves. The element after it
    # waits for that decision, so the reply cannot arrive out of order.
    [letter] = await eventually(lambda: dead_letters(service))
    assert is_outcome_unknown(letter.reason, letter.error)
    assert "crashed_mid_call" in letter.error
    await eventually(lambda: acknowledged(service))
    assert service.sent_texts() == []


async def test_a_reply_to_a_lead_known_only_by_its_lid_is_sent_to_the_lid_jid(service) -> None:
    # Evolution 2.3+ passes a "...@lid" number through and sends to that LID (reference §12).
    await service.reply("Olá!", to="66417458159826@lid")
    await eventually(lambda: _async(service.sent_texts() == ["Olá!"]))
    [sent] = service.fake.sent
    assert sent.request["number"] == "66417458159826@lid"


async def test_a_lid_evolution_cannot_reach_is_dead_lettered_for_an_operator(service) -> None:
    # 2.2.x answers 400 exists:false for a LID (reference §12): "cannot reach", not retried, kept for an operator.
    service.fake.not_on_whatsapp.add("66417458159826")
    await service.reply("Olá!", to="66417458159826@lid")
    [letter] = await eventually(lambda: dead_letters(service))
    assert letter.reason == "permanent_failure" and "not on WhatsApp" in letter.error
    assert service.fake.sent == []
