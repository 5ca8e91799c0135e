"""Operations over HTTP: consumer groups with lag, pending and dead letters; dead letters listed, inspected,
replayed (one or all) and purged — each company seeing only its own."""

from __future__ import annotations

from datetime import timedelta

import pytest_asyncio
from eventbus import Consumer, LeadCreated, PermanentFailure, Subscription
from eventbus.testing.waiting import eventually

COMPANY, OTHER = "cmp_A", "cmp_B"
GROUP = "flaky"


@pytest_asyncio.fixture
async def flaky(bus):
    """A consumer group that dead-letters every lead.created until told to accept them."""
    state = {"accept": False, "handled": []}

    async def handle(event):
        if not state["accept"]:
            raise PermanentFailure("crm said no")
        state["handled"].append(event.payload.lead_id)

    consumer = Consumer(
        bus, GROUP, [Subscription("lead.created", handle)], name="c1", block=timedelta(seconds=0.1)
    )
    async with consumer.running():
        yield state


async def dead(client, headers, n):
    async def enough():
        response = await client.get(f"/v1/ops/dead-letters/lead.created/{GROUP}", headers=headers)
        items = response.json()["items"]
        return (items,) if len(items) == n else None  # a tuple: an empty page is an answer too

    return (await eventually(enough))[0]


async def test_groups_show_lag_pending_and_dead_letters(app, client, headers, make_key, publish, flaky):
    await publish(LeadCreated(lead_id="lead_1", company_id=COMPANY, channel="whatsapp"))
    await dead(client, headers, 1)
    platform = {"X-API-Key": await make_key(scopes={"ops:admin", "platform:admin"})}
    rows = (await client.get("/v1/ops/groups", headers=platform)).json()["items"]
    mine = {(r["channel"], r["group"]): r for r in rows}
    assert mine[("lead.created", GROUP)]["dead_letters"] == 1
    assert mine[("lead.created", "backoffice-api")]["pending"] >= 0
    assert {"lag", "consumers", "last_delivered_id"} <= set(mine[("lead.created", GROUP)])


async def test_dead_letters_are_inspected_replayed_and_purged(client, headers, publish, flaky):
    for n in range(3):
        await publish(LeadCreated(lead_id=f"lead_{n}", company_id=COMPANY, channel="whatsapp"))
    letters = await dead(client, headers, 3)
    by_lead = {letter["event"]["payload"]["lead_id"]: letter["id"] for letter in letters}
    one = (
        await client.get(f"/v1/ops/dead-letters/lead.created/{GROUP}/{by_lead['lead_0']}", headers=headers)
    ).json()
    assert one["reason"] == "permanent_failure" and "crm said no" in one["error"] and one["attempts"] == 1
    assert one["event"]["payload"]["lead_id"] == "lead_0" and one["event"]["company_id"] == COMPANY

    flaky["accept"] = True
    url = f"/v1/ops/dead-letters/lead.created/{GROUP}"
    assert (await client.post(f"{url}/{by_lead['lead_0']}/replay", headers=headers)).json() == {"replayed": 1}
    await eventually(lambda: _async(flaky["handled"] == ["lead_0"]))
    assert (await client.delete(f"{url}/{by_lead['lead_1']}", headers=headers)).json() == {"purged": 1}
    assert (await client.post(f"{url}/replay", headers=headers)).json() == {"replayed": 1}
    await eventually(lambda: _async(sorted(flaky["handled"]) == ["lead_0", "lead_2"]))
    assert await dead(client, headers, 0) == []


async def test_dead_letters_of_another_company_are_invisible(client, headers, other_headers, publish, flaky):
    await publish(LeadCreated(lead_id="lead_1", company_id=COMPANY, channel="whatsapp"))
    await publish(LeadCreated(lead_id="lead_2", company_id=OTHER, channel="whatsapp"), company=OTHER)
    [mine] = await dead(client, headers, 1)
    [theirs] = await dead(client, other_headers, 1)
    url = f"/v1/ops/dead-letters/lead.created/{GROUP}/{mine['id']}"
    assert (await client.get(url, headers=other_headers)).status_code == 404
    assert (await client.post(url + "/replay", headers=other_headers)).status_code == 404
    assert (await client.delete(url, headers=other_headers)).status_code == 404
    assert (
        await client.delete(f"/v1/ops/dead-letters/lead.created/{GROUP}", headers=other_headers)
    ).json() == {"purged": 1}
    assert [letter["id"] for letter in await dead(client, headers, 1)] == [mine["id"]] and theirs[
        "id"
    ] != mine["id"]


async def test_ops_need_the_ops_scope_and_valid_names(client, headers, make_key):
    limited = {"X-API-Key": await make_key(scopes=["leads:read", "events:read"])}
    assert (await client.get("/v1/ops/groups", headers=limited)).status_code == 403
    response = await client.get("/v1/ops/dead-letters/lead.nope/g", headers=headers)
    assert response.status_code == 422 and response.json()["error"]["problems"][0]["field"] == "path.channel"
    response = await client.get(f"/v1/ops/dead-letters/lead.created/{GROUP}/not-an-id", headers=headers)
    assert response.status_code == 422
    assert (
        await client.get(f"/v1/ops/dead-letters/lead.created/{GROUP}/1-0", headers=headers)
    ).status_code == 404


async def _async(value):
    return value


async def test_platform_wide_group_counts_need_the_platform_scope(client, make_key):
    """A group's lag, pending and dead letters count every company's events: a company's ops key is refused,
    only a key with `platform:admin` (the platform's operators) sees them."""
    company_ops = {"X-API-Key": await make_key(COMPANY, scopes={"ops:admin"})}
    refused = await client.get("/v1/ops/groups", headers=company_ops)
    assert refused.status_code == 403 and "platform:admin" in refused.json()["error"]["message"]
    platform = {"X-API-Key": await make_key(COMPANY, scopes={"platform:admin"})}
    assert (await client.get("/v1/ops/groups", headers=platform)).status_code == 200


async def test_a_platform_key_sees_every_company_s_dead_letters(client, headers, make_key, publish, flaky):
    await publish(LeadCreated(lead_id="lead_1", company_id=COMPANY, channel="whatsapp"))
    await publish(LeadCreated(lead_id="lead_2", company_id=OTHER, channel="whatsapp"), company=OTHER)
    [mine] = await dead(client, headers, 1)
    platform = {"X-API-Key": await make_key("cmp_platform", scopes={"ops:admin", "platform:admin"})}
    both = await dead(client, platform, 2)
    assert {letter["event"]["company_id"] for letter in both} == {COMPANY, OTHER}
    url = f"/v1/ops/dead-letters/lead.created/{GROUP}/{mine['id']}"
    assert (await client.get(url, headers=platform)).status_code == 200
