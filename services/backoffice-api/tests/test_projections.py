"""Projections from event sequences: idempotent under replay, the same whatever the arrival order, and
rebuilt from the retained streams by one command."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from backoffice_api import SERVICE, handlers
from backoffice_api.deals import Deals
from backoffice_api.keyspace import Keyspace
from backoffice_api.rebuild import rebuild
from backoffice_api.store import ReadModels, lua
from eventbus import (
    ContractCreated,
    ContractSigned,
    Envelope,
    InstanceStatus,
    Keys,
    LeadCreated,
    LeadQualified,
    MessageReceived,
    MessageSent,
    OutgoingMessage,
)
from eventbus.operations import group_stats
from eventbus.testing.waiting import eventually
from redis.crc import key_slot
from redis.exceptions import ResponseError
from ulid import ULID

COMPANY = "cmp_A"
T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)
PHONE = "+5511977776666"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def story() -> list[Envelope]:
    """A lead's life: first message, lead, reply, qualification, contract, signature, plus an instance."""

    def env(payload, minutes):
        return Envelope.new(payload, source="tests", company_id=COMPANY, occurred_at=at(minutes))

    received = MessageReceived.model_validate(
        {
            "instance_id": "ins_1",
            "lead_external_id": f"wa:{PHONE}",
            "from": PHONE,
            "body": "Oi",
            "contact_name": "Sandra Lima",
        }
    )
    return [
        env(received, 0),
        env(
            LeadCreated(
                lead_id="lead_s",
                company_id=COMPANY,
                channel="whatsapp",
                source="ads",
                lead_external_id=f"wa:{PHONE}",
            ),
            0.1,
        ),
        env(
            MessageSent(
                instance_id="ins_1",
                to=PHONE,
                messages=[OutgoingMessage(text="Olá"), OutgoingMessage(text="Data?")],
            ),
            0.2,
        ),
        env(
            LeadQualified(
                lead_id="lead_s", company_id=COMPANY, score=0.8, criteria=["date"], lead_name="Sandra"
            ),
            7,
        ),
        env(
            ContractCreated(
                contract_id="ctr_s",
                deal_id="deal_s",
                company_id=COMPANY,
                value=1000,
                currency="BRL",
                lead_id="lead_s",
            ),
            20,
        ),
        env(
            ContractSigned(
                contract_id="ctr_s",
                deal_id="deal_s",
                company_id=COMPANY,
                value=1000,
                currency="BRL",
                lead_id="lead_s",
                signed_at=at(80),
            ),
            80,
        ),
        env(
            InstanceStatus(instance_id="ins_1", company_id=COMPANY, channel="whatsapp", status="connected"), 1
        ),
        env(
            InstanceStatus(
                instance_id="ins_1", company_id=COMPANY, channel="whatsapp", status="disconnected"
            ),
            2,
        ),
    ]


@pytest.fixture
def fresh(redis):
    """Read models on a prefix of their own, and a function applying events to them by their handlers."""

    def build():
        ks = Keyspace(Keys(f"p{ULID()}"))
        models = ReadModels(redis, ks, marker_ttl=timedelta(days=8))
        reactions = handlers.reactions(models, Deals(redis, ks))

        async def apply(events):
            for event in events:
                await reactions[event.type](event)

        return ks, models, apply

    return build


async def test_replaying_every_event_changes_nothing(fresh, snapshot):
    ks, models, apply = fresh()
    events = story()
    await apply(events)
    first = await snapshot(ks)
    await apply(events)
    await apply(reversed(events))
    assert await snapshot(ks) == first
    [hour] = [row for row in await models.buckets(COMPANY, "1h", [int(T0.timestamp() * 1000)])]
    assert hour == {
        "messages_in": "1",
        "messages_out": "2",
        "leads_created": "1",
        "leads_qualified": "1",
        "contracts_created": "1",
    }


async def test_any_arrival_order_yields_the_same_read_models(fresh, snapshot):
    events = story()
    ks, _, apply = fresh()
    await apply(events)
    expected = await snapshot(ks)
    lead = expected["{cmp_A}:lead:lead_s"]
    assert lead["status"] == "won" and lead["qualified_at"] == str(int(at(7).timestamp() * 1000))
    orders = [list(p) for p in itertools.islice(itertools.permutations(events[1:6]), 0, None, 11)]
    shuffled = [random.Random(seed).sample(events, len(events)) for seed in range(12)]
    for order in [[events[0], *p, *events[6:]] for p in orders] + shuffled:
        ks, _, apply = fresh()
        await apply(order)
        assert await snapshot(ks) == expected, [e.type for e in order]


async def test_lead_qualified_before_lead_created_is_listed_as_qualified(fresh):
    _, models, apply = fresh()
    created, qualified = story()[1], story()[3]
    await apply([qualified])
    assert await models.lead(COMPANY, "lead_s") is None  # not listed before it exists
    await apply([created])
    lead = await models.lead(COMPANY, "lead_s")
    assert lead is not None and lead["status"] == "qualified"
    page = await models.leads(
        COMPANY, status="qualified", source="ads", created_from=None, created_to=None, after=None, limit=10
    )
    assert [row["lead_id"] for row in page.rows] == ["lead_s"]
    assert (
        await models.leads(
            COMPANY, status="new", source=None, created_from=None, created_to=None, after=None, limit=10
        )
    ).rows == []


async def test_only_the_first_qualification_is_kept(fresh):
    _, models, apply = fresh()
    created, first = story()[1], story()[3]
    later = Envelope.new(
        LeadQualified(lead_id="lead_s", company_id=COMPANY, score=0.3, summary="again"),
        source="tests",
        company_id=COMPANY,
        occurred_at=at(30),
    )
    await apply([created, later, first])
    lead = await models.lead(COMPANY, "lead_s")
    assert lead["score"] == "0.8" and lead["summary"] == ""


async def test_newest_instance_status_wins_whatever_the_order(fresh):
    _, models, apply = fresh()
    connected, disconnected = story()[6:]
    await apply([disconnected, connected])
    assert (await models.instance_statuses(COMPANY))["ins_1"]["status"] == "disconnected"


async def test_contract_events_find_their_lead_through_the_deal(fresh, redis):
    ks, models, apply = fresh()
    deal = await Deals(redis, ks).create(COMPANY, lead_id="lead_s", value=10, currency="BRL", event={})
    created = Envelope.new(
        ContractCreated(
            contract_id="ctr_d", deal_id=deal["deal_id"], company_id=COMPANY, value=10, currency="BRL"
        ),
        source="tests",
        company_id=COMPANY,
        occurred_at=at(5),
    )
    await apply([story()[1], created])
    lead = await models.lead(COMPANY, "lead_s")
    assert lead["status"] == "contract_sent" and lead["contract_id"] == "ctr_d"
    assert (await models.contract(COMPANY, "ctr_d"))["lead_id"] == "lead_s"


async def test_event_delivered_twice_on_the_bus_is_counted_once(app, publish, redis, keyspace):
    event = story()[1]
    await publish(event)
    await publish(event)  # a producer retry that bypassed its dedupe key: same event id, two entries
    start = int(T0.timestamp() * 1000)
    hour = keyspace.bucket(COMPANY, "1h", start)
    await eventually(lambda: redis.hget(hour, "leads_created"))
    await eventually(
        lambda: redis.xpending(app.state.ports.bus.keys.stream("lead.created"), "backoffice-api")
    )
    pending = await redis.xpending(app.state.ports.bus.keys.stream("lead.created"), "backoffice-api")

    async def settled():
        info = await redis.xpending(app.state.ports.bus.keys.stream("lead.created"), "backoffice-api")
        return info["pending"] == 0

    await eventually(settled)
    assert pending is not None and await redis.hget(hour, "leads_created") == "1"


async def test_rebuild_replays_the_streams_into_the_same_read_models(app, publish, redis, keyspace, snapshot):
    events = story()
    deal = await app.state.ports.deals.create(COMPANY, lead_id="lead_s", value=1, currency="BRL", event={})
    for event in events:
        await publish(event)

    async def complete():
        state = await snapshot(keyspace)
        lead = state.get("{cmp_A}:lead:lead_s", {})
        statuses = state.get("{cmp_A}:instance-status", {})
        return (
            state
            if lead.get("status") == "won"
            and '"disconnected"' in statuses.get("ins_1", "")
            and _applied(state) == len(events)
            else None
        )

    async def settled():
        # every replayed entry handled and acknowledged: a snapshot taken earlier could catch the replay
        # half-way (the views already complete, a straggler of the second reset still on its way)
        bus = app.state.ports.bus
        for channel in handlers.REACTIONS:
            for stats in await group_stats(bus, channel):
                if stats.group == SERVICE and (stats.pending or stats.lag):
                    return None
        return await complete()

    # Settled, not merely complete: a snapshot taken while the last steps were still being applied can hold a
    # key that one of them then removed (an emptied status index), and the rebuild would not find it.
    before = await eventually(settled)
    # Rebuilt while the consumer runs: acknowledgements in flight must not make the replay skip an event.
    done = await rebuild(app.state.ports.bus, grace=timedelta(seconds=0.5))
    assert done.deleted_keys == len(before)
    assert "{cmp_A}:lead-names" in before  # the name index is a read model: rebuilt like the others
    after = await eventually(settled)
    assert after == before
    assert await app.state.ports.deals.get(COMPANY, deal["deal_id"]) == deal  # not a read model: kept


def _applied(state: dict) -> int:
    """How many events the read models hold as applied: members of the per-minute sets, and markers."""
    return sum(len(v) if isinstance(v, list) else 1 for k, v in state.items() if ":applied:" in k)


async def test_events_applied_are_members_of_their_minutes_set_not_keys_of_their_own(fresh, redis):
    # One record per event beside the bus's processed id, and a small one: a set member (~70 B) rather than a
    # key (~150 B). A replay of each is still recognised.
    ks, models, apply = fresh()
    events = story()
    await apply(events)
    applied = [k async for k in redis.scan_iter(match=f"{ks.view(COMPANY)}:applied:*")]
    members = [m for key in applied for m in await redis.smembers(key)]
    ttls = [await redis.pttl(key) for key in applied]
    again = [
        await models.apply(COMPANY, e.id, [["hincrby", ks.bucket(COMPANY, "1h", 0), "x", 1]]) for e in events
    ]
    assert len(applied) < len(events)  # the story's events share minutes
    assert sorted(members) == sorted(e.id.removeprefix("evt_") for e in events)
    assert all(ttl > 7 * 86_400_000 for ttl in ttls)
    assert again == [False] * len(events)


async def test_a_marker_written_before_the_minute_sets_still_stops_a_replay(fresh, redis):
    # Markers of their own were written for every event until 2026-12-07; for their 8 days a replay must still
    # find them, or it would project the event twice (its counters counted twice).
    ks, models, _ = fresh()
    event_id = Envelope.new(
        MessageSent(instance_id="ins_1", to=PHONE, messages=[OutgoingMessage(text="x")]),
        source="tests",
        company_id=COMPANY,
    ).id
    await redis.set(ks.applied(COMPANY, event_id), "1", px=86_400_000)
    counter = ks.bucket(COMPANY, "1h", 0)
    applied = await models.apply(COMPANY, event_id, [["hincrby", counter, "messages_sent", 1]])
    assert applied is False and await redis.exists(counter) == 0


async def test_an_event_id_without_a_time_gets_a_marker_of_its_own(fresh, redis):
    ks, models, _ = fresh()
    counter = ks.bucket(COMPANY, "1h", 0)
    step = [["hincrby", counter, "messages_sent", 1]]
    uuid = "9b2f4c1e-3d5a-4f6b-8c7d-0e1f2a3b4c5d"
    first, second = await models.apply(COMPANY, uuid, step), await models.apply(COMPANY, uuid, step)
    assert (first, second) == (True, False)
    assert await redis.exists(ks.applied(COMPANY, uuid)) == 1
    assert await redis.hget(counter, "messages_sent") == "1"


async def test_a_companys_read_models_and_deals_share_one_cluster_slot(fresh, redis):
    """Redis Cluster: a projection step is one script over a lead, its indexes, timelines and counters, so all
    of a company's keys carry its hash tag."""
    ks, _, apply = fresh()
    await Deals(redis, ks).create(COMPANY, lead_id="lead_s", value=1, currency="BRL", event={})
    await apply(story())
    keys = [k async for k in redis.scan_iter(match=ks.keys.service("backoffice-api", "*"))]
    assert len(keys) > 10
    assert {key_slot(k.encode()) for k in keys} == {key_slot(COMPANY.encode())}


async def test_a_projection_step_touching_an_undeclared_key_fails_and_writes_nothing(fresh, redis):
    """The script checks its keys against KEYS: on one server too, so no test run misses what a cluster,
    which routes a script by its KEYS, would get wrong."""
    ks, _, _ = fresh()
    step = redis.register_script(lua("apply"))
    marker, statuses = ks.applied(COMPANY, "evt_undeclared"), ks.instance_status(COMPANY)
    with pytest.raises(ResponseError, match="undeclared key"):
        await step(keys=[marker], args=[60_000, json.dumps([["hset", statuses, "ins_1", "{}"]])])
    assert await redis.exists(marker) == 0 and await redis.exists(statuses) == 0
