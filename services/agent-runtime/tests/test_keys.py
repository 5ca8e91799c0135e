"""Redis Cluster safety: each command and script of the agent touches the keys of one hash slot, and all of
a lead's state lives in its slot (tagged with the lead's natural key)."""

from datetime import UTC, datetime, timedelta

import pytest
from agent_runtime.leads import LeadKey
from agent_runtime.pipeline import Pipeline
from agent_runtime.store import Store
from eventbus import Keys, forget_processed, replay_since
from eventbus.testing.monitor import footprint, record
from eventbus.testing.waiting import eventually
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
OURS = {"company_id": COMPANY}
AUTH = {"Authorization": "Bearer dev-service-token"}


def _store(prefix: str = "wb") -> Store:
    return Store(
        Pipeline(None),  # naming keys sends nothing
        Keys(prefix),
        conversation_ttl=timedelta(days=30),
        answer_ttl=timedelta(days=8),
        lead_ttl=timedelta(days=365),
    )


def _slot(key: str | bytes) -> int:
    return key_slot(key.encode() if isinstance(key, str) else key)


@pytest.mark.parametrize(
    "external_id", ["wa:+5511999990001", "ig:{curly}", "tg:a}b{c", "wa:}", "wa:{", "wa: espaço ação"]
)
def test_every_key_of_a_lead_hashes_to_one_slot_whatever_its_external_id(external_id):
    store = _store()
    lead = LeadKey(COMPANY, external_id)
    keys = store.keys_of(lead, "evt_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1")
    assert len(keys) == len(set(keys)) == 5
    assert keys == [store.key(lead, "answer", "evt_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"), *keys[1:]]
    assert {_slot(k) for k in keys} == {_slot(store.key(lead, "handoff"))}
    assert all(k.startswith(f"wb:svc:agent-runtime:{{{COMPANY}:") for k in keys)


def test_leads_spread_over_slots_and_the_id_index_is_a_key_of_its_own():
    store = _store()
    slots = {_slot(store.key(LeadKey(COMPANY, f"wa:+55119{n:08d}"), "lead")) for n in range(50)}
    assert len(slots) > 40  # no tag shared by every lead: the leads spread over the shards
    lead_id = "lead_01J8Z0P1F7K4V6E9QW3M0N1B2D"
    assert store.ref_key(lead_id) == f"wb:svc:agent-runtime:lead-ref:{lead_id}"


async def test_a_whole_conversation_touches_one_slot_per_command_and_per_lead(make_agent, bus, bus_settings):
    """Every command the server received while a lead was created, answered, qualified, handed off (by the
    lead and by an operator), and replayed, read with MONITOR: the agent's keys of each command, script
    and command inside a script are in one slot, and that slot is the lead's."""
    if isinstance(bus.redis, RedisCluster):
        pytest.skip("MONITOR sees one node; on a cluster the server itself refuses cross-slot commands")
    ours = f"{bus_settings.prefix}:svc:agent-runtime:"
    phone = "+5511977770001"
    lead_ids: list[str] = []

    async def conversation() -> None:
        async with make_agent() as agent:
            await agent.answer(
                "Formatura dia 20 de março, 300 pessoas, no Clube Atlético, R$ 90 mil", phone=phone
            )
            await agent.answer("quero falar com um atendente", phone=phone)
            (created,) = await agent.events("lead.created")
            lead_id = created.payload.lead_id
            lead_ids.append(lead_id)
            silent = await agent.send("alguém aí?", phone=phone)
            store = agent.app.state.ports.store
            key = LeadKey(COMPANY, f"wa:{phone}")
            await eventually(lambda: _answered(store, key, silent.id))
            assert (await agent.http.get(f"/v1/leads/{lead_id}/handoff", headers=AUTH, params=OURS)).json()[
                "active"
            ]
            assert (
                await agent.http.delete(f"/v1/leads/{lead_id}/handoff", headers=AUTH, params=OURS)
            ).status_code == 200
            assert (
                await agent.http.put(f"/v1/leads/{lead_id}/handoff", headers=AUTH, params=OURS)
            ).status_code == 200
            await forget_processed(bus, "message.received", "agent-runtime")
            await replay_since(
                bus, "message.received", "agent-runtime", datetime(2000, 1, 1, tzinfo=UTC), force=True
            )
            await eventually(
                lambda: bus.redis.exists(bus.keys.processed_index("message.received", "agent-runtime"))
            )

    seen = footprint(await record(bus.redis, conversation), ours)
    touched, scripts = seen.touched, seen.units["script"]
    (lead_id,) = lead_ids
    lead_tag = f"{{{COMPANY}:wa:{phone}}}"
    per_lead = {k for k in touched if lead_tag in k}
    assert {k.split(lead_tag + ":")[1].split(":")[0] for k in per_lead} == {
        "lead",
        "conversation",
        "answer",
        "answered",
        "handoff",
        "qualified",
    }
    assert len({_slot(k) for k in per_lead}) == 1
    # Besides the lead's: its reference, and the company's agent settings (one GET of one key, read per TTL).
    assert touched - per_lead == {f"{ours}lead-ref:{lead_id}", f"{ours}agent-settings:{COMPANY}"}
    assert scripts >= 3  # the commits: first message, handoff, the message seen in silence


async def _answered(store, key, event_id):
    return (await store.load(key, event_id)).answer is not None
