"""One lead's whole day at the sales desk, through the real processes `make run` starts (the `running` system):
the agent's conversation, the operator found by name, the handoff and one operator reply however often it is
retried, a colleague's message typed on the phone, the deal through every stage (a stale write refused), the
contract sent, reminded and signed, the deal won by the signature, and the Purchase that reached Meta shown on
the lead and on the deal — each side effect once."""

import asyncio
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from backoffice_client import AsyncBackofficeClient, PreconditionFailed
from eventbus.testing.waiting import eventually
from wolfgang.demo import INSTANCE, PIXEL_ID, SIGNERS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NUMBER = "5511955550101"
PARTY = date.today() + timedelta(days=90)
CONVERSATION = (
    "Oi! Boa tarde, quero fazer a festa do meu casamento com vocês",
    f"Vai ser dia {PARTY:%d/%m/%Y}, para uns 120 convidados",
    "Nosso orçamento é de R$ 30 mil, em São Paulo",
)
OPERATOR = "Olá Maria! Aqui é a Ana, da equipe. Posso te ligar às 15h?"
PHONE = "Oi Maria, aqui é o Carlos. Separei a proposta, te mando já."


async def sent_to(running, number: str) -> list[str]:
    """The texts fake Evolution delivered to ``number`` (each `sendText` call once)."""
    sent = (await running.http.get(f"{running.system.url('fake-evolution')}/_fake/sent")).json()
    return [s["request"]["text"] for s in sent if s["request"].get("number", "").lstrip("+") == number]


async def test_one_leads_whole_day_from_the_first_message_to_the_purchase_at_meta(running) -> None:
    demo, desk = running.demo, running.demo.desk
    seed = await demo.seed()
    since = datetime.now(UTC) - timedelta(seconds=5)

    # Morning: the lead writes, the agent answers each message and qualifies the lead.
    replies = 0
    for text in CONVERSATION:
        replies = await demo.say(NUMBER, text, replies)
    created = await eventually(
        lambda: demo.find("lead.created", since, lambda e: e.payload.lead_external_id == f"wa:+{NUMBER}"),
        timeout=30,
    )
    lead_id = created.payload.lead_id
    qualified = await eventually(
        lambda: demo.find("lead.qualified", since, lambda e: e.payload.lead_id == lead_id), timeout=30
    )
    assert replies == len(CONVERSATION)

    async with AsyncBackofficeClient(running.system.url("backoffice-api"), api_key=seed.api_key) as api:
        # The operator looks the lead up by the name it writes under on WhatsApp (fake Evolution's pushName).
        async def by_name() -> list[str] | None:
            found = [m.lead_id async for m in api.iter_leads_by_name("maria sou")]
            return found or None

        assert await eventually(by_name, timeout=30) == [lead_id]

        # The operator takes over: the reply hands the lead off and is sent once, however often it is retried.
        first = await api.send_message(lead_id, OPERATOR, idempotency_key="whole-day-reply-1")
        again = await api.send_message(lead_id, OPERATOR, idempotency_key="whole-day-reply-1")
        assert first.handed_off and first.event_id == again.event_id
        assert (await api.get_handoff(lead_id)).active
        await eventually(lambda: _has(sent_to(running, NUMBER), OPERATOR), timeout=30)

        # A colleague answers from the business's phone: shown as a human's message, the agent stays silent.
        params = {"from_number": NUMBER, "text": PHONE, "from_me": True}
        body = {"instance": INSTANCE, "template": "text", "params": params}
        await running.http.post(f"{running.system.url('fake-evolution')}/_fake/webhooks/send", json=body)

        async def timeline_with_the_phone_message() -> list | None:
            timeline = (await api.get_lead(lead_id, timeline_limit=50)).timeline
            return timeline if any(e.details.get("via") == "phone" for e in timeline) else None

        timeline = await eventually(timeline_with_the_phone_message, timeout=30)
        authors = Counter(
            (e.details.get("author"), e.details.get("via")) for e in timeline if e.type.startswith("message.")
        )
        assert authors[("lead", None)] == len(CONVERSATION)
        assert authors[("agent", None)] == len(CONVERSATION)
        assert authors[("human", "api")] == 1 and authors[("human", "phone")] == 1
        await asyncio.sleep(1)  # what the agent would have answered by now, it has not
        delivered = await sent_to(running, NUMBER)
        assert delivered.count(OPERATOR) == 1 and PHONE not in delivered
        assert len(delivered) == len(CONVERSATION) + 1

        # Afternoon: the deal, moved along the pipeline on the version read; a stale write is refused.
        deal = await api.create_deal(
            lead_id, value=30000.0, currency="BRL", event={"type": "casamento", "guests": 120}, owner="ana"
        )
        stale = deal.etag
        deal = await api.move_deal(deal.deal_id, "qualified", if_match=deal.etag)
        with pytest.raises(PreconditionFailed):
            await api.move_deal(deal.deal_id, "proposal", if_match=stale)
        deal = await api.move_deal(deal.deal_id, "proposal", if_match=deal.etag)

        # The contract: sent (the deal follows it), its signers reminded once per request key, then signed.
        contract = await api.create_contract(deal.deal_id, SIGNERS)
        assert contract.document_id
        await eventually(lambda: desk.at_stage(api, deal.deal_id, "contract_sent"), timeout=30)
        reminded = await api.remind_signers(contract.contract_id, idempotency_key="whole-day-remind-1")
        retried = await api.remind_signers(contract.contract_id, idempotency_key="whole-day-remind-1")
        assert reminded.signers == retried.signers == len(SIGNERS)
        fake_autentique = running.system.url("fake-autentique")
        for index in range(len(SIGNERS)):
            url = f"{fake_autentique}/_fake/documents/{contract.document_id}/sign"
            assert (await running.http.post(url, json={"signer": index})).status_code < 300

        # Evening: the signature wins the deal (never by hand), the lead is won, the signed PDF is linked.
        stages = await eventually(lambda: desk.at_stage(api, deal.deal_id, "won"), timeout=30)
        assert stages == ["new", "qualified", "proposal", "contract_sent", "won"]
        won = await api.get_deal(deal.deal_id)
        assert won.history[-1].by is not None and won.history[-1].by.kind == "event"
        assert (await api.get_lead(lead_id, timeline_limit=1)).status == "won"
        assert (await api.signed_pdf(contract.contract_id)).url.endswith("assinado.pdf")
        signed = await demo.find(
            "contract.signed", since, lambda e: e.payload.contract_id == contract.contract_id
        )
        assert signed is not None

        # The Purchase reached Meta once, and the operator sees it on the lead and on the deal.
        purchase = await eventually(lambda: desk.deal_reported(api, deal.deal_id, signed.id), timeout=30)
        assert purchase == "Purchase sent"
        wanted = {created.id, qualified.id, signed.id}
        assert await eventually(lambda: desk.reported(api, lead_id, wanted), timeout=30)
    events = (
        await running.http.get(
            f"{running.system.url('fake-graph')}/_fake/events", params={"pixel_id": PIXEL_ID}
        )
    ).json()
    at_meta = Counter(r["event"]["event_id"] for r in events if r["event"]["event_id"] in wanted)
    assert at_meta == Counter(wanted)


async def _has(texts, text: str) -> bool:
    return text in await texts
