"""The demo of `make run`, end to end through real processes, and again with a service killed mid-demo."""

import asyncio
import signal
from collections import Counter

import pytest
from eventbus import catalog
from eventbus.testing.waiting import eventually
from wolfgang.demo import PIXEL_ID

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


async def count_events(running, event_type: str, match) -> int:
    rows = await running.bus.redis.xrange(running.bus.keys.stream(event_type))
    return sum(1 for _, fields in rows if match(catalog.parse(fields[b"e"])))


async def assert_every_side_effect_once(running, outcome) -> None:
    http, system = running.http, running.system
    lead = lambda e: e.payload.lead_id == outcome.lead_id  # noqa: E731
    assert await count_events(running, "lead.created", lead) == 1
    assert await count_events(running, "lead.qualified", lead) == 1
    assert (
        await count_events(
            running, "contract.created", lambda e: e.payload.contract_id == outcome.contract_id
        )
        == 1
    )
    assert (
        await count_events(running, "contract.signed", lambda e: e.payload.contract_id == outcome.contract_id)
        == 1
    )
    # WhatsApp: every reply the agent published was delivered once, none twice
    sent = (await http.get(f"{system.url('fake-evolution')}/_fake/sent")).json()
    texts = Counter((s["request"]["number"], s["request"]["text"]) for s in sent)
    assert texts and set(texts.values()) == {1}, texts
    # Meta: one conversion per event id
    events = (
        await http.get(f"{system.url('fake-graph')}/_fake/events", params={"pixel_id": PIXEL_ID})
    ).json()
    ids = Counter(r["event"]["event_id"] for r in events)
    assert set(ids.values()) == {1}, ids
    # Autentique: one document for the deal
    documents = (await http.get(f"{system.url('fake-autentique')}/_fake/documents")).json()
    assert sum(1 for d in documents if outcome.contract_id in str(d)) == 1


async def events_of(running, event_type: str, match) -> list:
    rows = await running.bus.redis.xrange(running.bus.keys.stream(event_type))
    return [e for _, fields in rows if match(e := catalog.parse(fields[b"e"]))]


async def assert_the_sale_is_on_the_leads_thread(running, outcome) -> None:
    """Catalog, traceability: the correlation id of lead.created (the thread of the lead's first message) finds
    the contract and its signature, and each contract event names its cause: contract.created the lead's latest
    event (its qualification, which came with a later message and so on that message's thread),
    contract.signed contract.created."""
    [created] = await events_of(running, "lead.created", lambda e: e.payload.lead_id == outcome.lead_id)
    [qualified] = await events_of(running, "lead.qualified", lambda e: e.payload.lead_id == outcome.lead_id)
    of_contract = lambda e: e.payload.contract_id == outcome.contract_id  # noqa: E731
    [contract_created] = await events_of(running, "contract.created", of_contract)
    [contract_signed] = await events_of(running, "contract.signed", of_contract)
    thread = created.correlation_id
    [first_message] = await events_of(running, "message.received", lambda e: e.id == created.causation_id)
    assert first_message.correlation_id == thread
    assert contract_created.correlation_id == contract_signed.correlation_id == thread
    assert contract_created.causation_id == qualified.id
    assert contract_signed.causation_id == contract_created.id


async def test_the_demo_runs_end_to_end_through_real_processes(running) -> None:
    seed = await running.demo.seed()
    outcome = await running.demo.play(seed)
    assert outcome.conversions == ["LeadSubmitted", "QualifiedLead", "Purchase"] or outcome.conversions == [
        "Lead",
        "QualifiedLead",
        "Purchase",
    ]
    assert outcome.replies >= 3
    # The operator sees on the lead what reached Meta (facebook-capi → conversion.reported → backoffice-api).
    [shown] = [r for r in running.reports if "the operator sees them on the lead" in r]
    assert shown.endswith(
        f"{outcome.conversions[0]} sent, QualifiedLead sent, Purchase sent; on the deal: Purchase sent"
    )
    # The operator's part: a reply sent once, a phone message shown, the deal through every stage, the
    # contract's signers reminded before they signed.
    assert any("operator's reply" in r and "sent once on WhatsApp" in r for r in running.reports)
    assert any("typed on the phone shows in the timeline" in r for r in running.reports)
    assert outcome.stages == ["new", "qualified", "proposal", "contract_sent", "won"]
    assert outcome.reminded == 2
    api = running.system.url("backoffice-api")
    auth = {"X-API-Key": seed.api_key}
    await eventually(lambda: _lead_status(running, api, auth, outcome.lead_id, "won"), timeout=30)
    await assert_every_side_effect_once(running, outcome)
    await assert_the_sale_is_on_the_leads_thread(running, outcome)


async def _lead_status(running, api, auth, lead_id, status) -> bool:
    body = (await running.http.get(f"{api}/v1/leads/{lead_id}", headers=auth)).json()
    return body.get("status") == status


async def test_the_demo_completes_with_a_service_killed_mid_way_and_every_side_effect_once(running) -> None:
    seed = await running.demo.seed()
    play = asyncio.create_task(running.demo.play(seed))
    # Kill the agent with SIGKILL as soon as the lead has written, in the middle of its conversation.
    await eventually(lambda: asyncio.sleep(0, any("lead wrote" in r for r in running.reports)), timeout=60)
    [agent] = [c for c in running.runner.children if c.name == "agent-runtime" and c.process.poll() is None]
    agent.process.send_signal(signal.SIGKILL)
    agent.process.wait()
    await running.restart("agent-runtime")
    outcome = await asyncio.wait_for(play, timeout=180)
    await assert_every_side_effect_once(running, outcome)
    # A restarted agent answers the rest of the conversation on the same threads: the sale is still traceable.
    await assert_the_sale_is_on_the_leads_thread(running, outcome)
