"""backoffice_client (libs/backoffice-client) against this app over real Redis: the async client through the
ASGI app, the blocking one through uvicorn; every route family parses into its models, pagination follows the
cursors, and each error answer arrives as its type."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from datetime import timedelta

import httpx
import pytest
import uvicorn
from backoffice_api.apikeys import SCOPES
from backoffice_api.app import create_app
from backoffice_client import (
    AsyncBackofficeClient,
    BackofficeClient,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    RateLimited,
    Unauthorized,
    ValidationFailed,
)
from eventbus import (
    Consumer,
    InstanceStatus,
    LeadCreated,
    MessageReceived,
    PermanentFailure,
    Subscription,
)
from eventbus.server import free_port

COMPANY, OTHER = "cmp_A", "cmp_B"
SIGNERS = [{"name": "Maria", "email": "maria@example.com"}]


@pytest.fixture
async def api(app, headers):
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    async with http, AsyncBackofficeClient(api_key=headers["X-API-Key"], http=http) as client:
        yield client


@pytest.fixture
async def api_for(app):
    """Another async client on the same app, with the given key."""
    made = []

    def build(key, **options):
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        made.append(http)
        return AsyncBackofficeClient(api_key=key, http=http, **options)

    yield build
    for http in made:
        await http.aclose()


async def leads(publish, api, ids):
    for lead_id in ids:
        await publish(LeadCreated(lead_id=lead_id, company_id=COMPANY, channel="whatsapp"))
    for _ in range(200):
        if len([lead async for lead in api.iter_leads(limit=50)]) >= len(ids):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the leads were not projected")


async def test_iterators_follow_every_page(publish, api):
    ids = [f"lead_c{n}" for n in range(7)]
    await leads(publish, api, ids)
    assert [lead.lead_id async for lead in api.iter_leads(limit=3)] == ids[::-1]
    page = await api.list_leads(limit=3)
    assert len(page.items) == 3 and page.next_cursor is not None
    deals = [await api.create_deal(ids[0], value=float(n)) for n in range(5)]
    got = [deal.deal_id async for deal in api.iter_deals(limit=2, value_min=1, value_max=3)]
    assert got == [deals[n].deal_id for n in (3, 2, 1)]
    detail = await api.get_lead(ids[0])
    assert detail.timeline[0].type == "lead.created"


async def test_lead_owner_notes_and_search(publish, api):
    await publish(
        LeadCreated(
            lead_id="lead_n", company_id=COMPANY, channel="whatsapp", lead_external_id="wa:+5511977776666"
        )
    )
    await leads(publish, api, [])
    for _ in range(200):
        try:
            found = await api.find_lead("+55 11 97777-6666")
            break
        except NotFound:
            await asyncio.sleep(0.05)
    assert found.lead_id == "lead_n"
    await publish(
        MessageReceived(
            instance_id="vendas-01",
            lead_external_id="wa:+5511977776666",
            body="oi",
            contact_name="Núbia Reis",
        )
    )
    for _ in range(200):
        if matches := [lead async for lead in api.iter_leads_by_name("nubia", limit=1)]:
            break
        await asyncio.sleep(0.05)
    assert [(m.lead_id, m.matched_name) for m in matches] == [("lead_n", "nubia reis")]
    assert (await api.find_leads_by_name("reis")).items[0].lead_id == "lead_n"
    with pytest.raises(ValidationFailed):
        await api.find_leads_by_name("x")
    assert (await api.set_lead_owner("lead_n", "ana")).owner == "ana"
    assert (await api.get_lead("lead_n")).owner == "ana"
    for n in range(3):
        await api.add_note("lead_n", f"n{n}")
    assert [note.text async for note in api.iter_notes("lead_n", limit=2)] == ["n2", "n1", "n0"]
    assert (await api.clear_lead_owner("lead_n")).owner is None


async def test_a_deal_moves_through_the_pipeline_with_etags(publish, api):
    await leads(publish, api, ["lead_e"])
    deal = await api.create_deal("lead_e", value=1000, owner="ana", event={"type": "casamento"})
    assert (deal.stage, deal.owner, deal.event.type, deal.etag) == ("new", "ana", "casamento", '"v1"')
    moved = await api.move_deal(deal.deal_id, "qualified", if_match=deal.etag)
    with pytest.raises(PreconditionFailed):
        await api.update_deal(deal.deal_id, value=5, if_match=deal.etag)
    changed = await api.update_deal(deal.deal_id, value=1200, owner=None, if_match=moved.etag)
    assert (changed.value, changed.owner, changed.version) == (1200, None, 3)
    with pytest.raises(Conflict) as refused:
        await api.move_deal(deal.deal_id, "won")
    assert "new → qualified → proposal" in refused.value.message
    with pytest.raises(ValidationFailed) as invalid:
        await api.move_deal(deal.deal_id, "lost")
    assert invalid.value.field == "reason" and invalid.value.status == 422
    lost = await api.move_deal(deal.deal_id, "lost", reason="went elsewhere")
    assert [h.stage for h in lost.history] == ["new", "qualified", "lost"]
    assert lost.history[-1].by is not None and lost.history[-1].by.kind == "api_key"
    assert [d.deal_id async for d in api.iter_deals(stage="lost")] == [deal.deal_id]


async def test_errors_arrive_as_types(publish, api, api_for, make_key, other_headers):
    await leads(publish, api, ["lead_x"])
    deal = await api.create_deal("lead_x", value=1)
    with pytest.raises(NotFound):
        await api_for(other_headers["X-API-Key"]).get_deal(deal.deal_id)
    with pytest.raises(Unauthorized):
        await api_for("wbk_not-a-key").get_deal(deal.deal_id)
    with pytest.raises(Forbidden):
        await api_for(await make_key(COMPANY, scopes={"deals:read"})).move_deal(deal.deal_id, "qualified")
    with pytest.raises(ValidationFailed) as invalid:
        await api.create_deal("lead_x", value=-1)
    assert invalid.value.field == "value"
    slow = api_for(await make_key(COMPANY, rate_per_minute=1, burst=1), max_retry_wait=0)
    await slow.get_deal(deal.deal_id)
    with pytest.raises(RateLimited) as limited:
        await slow.get_deal(deal.deal_id)
    assert limited.value.retry_after > 0


async def test_a_contract_request_is_retried_with_its_idempotency_key(publish, api, upstreams):
    await leads(publish, api, ["lead_k"])
    deal = await api.create_deal("lead_k", value=10)
    upstreams.fail["autentique"] = 3  # the app's own three attempts fail: 502 to the client, which retries
    contract = await api.create_contract(deal.deal_id, SIGNERS)
    assert contract.deal_id == deal.deal_id and contract.progress.total == 1
    posts = [r for r in upstreams.requests if r.method == "POST"]
    assert len(posts) == 4 and len({r.headers["idempotency-key"] for r in posts}) == 1
    assert len(upstreams.contracts) == 1
    assert (await api.get_contract(contract.contract_id)).contract_id == contract.contract_id
    assert (await api.get_deal(deal.deal_id)).stage == "contract_sent"


async def test_instances_metrics_events_and_handoff_parse(publish, api, upstreams):
    await leads(publish, api, ["lead_h"])
    upstreams.tokens["vendas-01"] = "k3y-value-1"  # the instance's own Evolution token, as Evolution knows it
    instance = await api.put_instance("vendas-01", webhook_secret="s3cr3t-value", api_key="k3y-value-1")
    await publish(
        InstanceStatus(
            instance_id=instance.instance_id, company_id=COMPANY, channel="whatsapp", status="connected"
        )
    )
    assert [i.name for i in await api.list_instances()] == ["vendas-01"]
    assert (await api.get_instance("vendas-01")).instance_id == instance.instance_id
    report = await api.metrics(bucket="1h")
    assert report.totals.leads_created >= 1 and report.bucket == "1h"
    events = [e async for e in api.iter_events("lead.created", limit=1)]
    assert [e.payload["lead_id"] for e in events] == ["lead_h"]
    assert (await api.hand_off("lead_h", reason="asked for a human")).active
    assert (await api.get_handoff("lead_h")).reason == "asked for a human"
    assert not (await api.give_back("lead_h")).active


async def test_dead_letters_are_listed_replayed_and_purged(bus, publish, api, api_for, make_key):
    async def refuse(event):
        raise PermanentFailure("no")

    async def letters():
        for _ in range(200):
            found = [d async for d in api.iter_dead_letters("lead.created", "flaky")]
            if found:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError("no dead letter")

    consumer = Consumer(
        bus, "flaky", [Subscription("lead.created", refuse)], name="c", block=timedelta(seconds=0.1)
    )
    async with consumer.running():
        await leads(publish, api, ["lead_dl"])
        [letter] = await letters()
        assert (await api.get_dead_letter("lead.created", "flaky", letter.id)).reason
        # Group counts are platform-wide: the platform's operators' scope (docs/security.md).
        platform = api_for(await make_key(scopes=set(SCOPES)))
        assert any(g.group == "flaky" for g in await platform.consumer_groups())
        assert await api.replay_dead_letters("lead.created", "flaky", letter.id) == 1
        again = await letters()  # refused again after the replay
        assert await api.purge_dead_letters("lead.created", "flaky") == len(again)


@pytest.fixture
def served(settings, upstreams):
    port = free_port()
    app = create_app(settings, transport=httpx.MockTransport(upstreams.handle))
    runner = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not runner.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        runner.should_exit = True
        thread.join(timeout=15)


async def test_the_blocking_client_against_a_real_server(served, publish, make_key):
    key = await make_key(COMPANY)

    def operator():
        with BackofficeClient(served, api_key=key) as api:
            for _ in range(200):
                if len(list(api.iter_leads(limit=2))) == 3:
                    break
                time.sleep(0.05)
            assert [lead.lead_id for lead in api.iter_leads(limit=2)] == ["lead_s2", "lead_s1", "lead_s0"]
            deal = api.create_deal("lead_s0", value=10)
            moved = api.move_deal(deal.deal_id, "qualified", if_match=deal.etag)
            with pytest.raises(PreconditionFailed):
                api.move_deal(deal.deal_id, "proposal", if_match=deal.etag)
            assert api.move_deal(deal.deal_id, "proposal", if_match=moved.etag).stage == "proposal"
            assert [d.deal_id for d in api.iter_deals(stage="proposal")] == [deal.deal_id]
            with pytest.raises(NotFound):
                api.get_deal("deal_nope")

    for n in range(3):
        await publish(LeadCreated(lead_id=f"lead_s{n}", company_id=COMPANY, channel="whatsapp"))
    await asyncio.to_thread(operator)


async def test_an_operator_reply_is_retried_with_its_idempotency_key(publish, api, upstreams):
    from eventbus import MessageReceived

    await publish(
        LeadCreated(
            lead_id="lead_m", company_id=COMPANY, channel="whatsapp", lead_external_id="wa:+5511977776666"
        )
    )
    await publish(
        MessageReceived.model_validate(
            {
                "instance_id": "ins_1",
                "lead_external_id": "wa:+5511977776666",
                "from": "+5511977776666",
                "body": "oi",
            }
        )
    )
    for _ in range(200):
        with contextlib.suppress(NotFound):
            if (await api.get_lead("lead_m")).last_message is not None:
                break
        await asyncio.sleep(0.05)
    upstreams.fail["agent"] = 3  # the app's own three attempts fail: 502 to the client, which retries
    sent = await api.send_message("lead_m", "Olá, aqui é a Ana")
    assert sent.handed_off is True and sent.text == "Olá, aqui é a Ana"
    posts = [r for r in upstreams.requests if r.url.path.endswith("/messages")]
    assert len(posts) == 4 and len({r.read() for r in posts}) == 1  # one idempotency key throughout
    assert len(upstreams.replies) == 1
    with pytest.raises(ValidationFailed):
        await api.send_message(
            "lead_m", "outro texto", idempotency_key=upstreams.replies[0]["idempotency_key"]
        )
