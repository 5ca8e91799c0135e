"""The bus as a company sees it: recent events per channel from the retained streams, and a live SSE stream."""

from __future__ import annotations

import asyncio
import json

from eventbus import LeadCreated
from eventbus.testing.waiting import eventually

COMPANY, OTHER = "cmp_A", "cmp_B"


def lead(n: int, company: str = COMPANY) -> LeadCreated:
    return LeadCreated(lead_id=f"lead_{n}", company_id=company, channel="whatsapp")


async def test_recent_events_of_a_channel_newest_first_only_this_companys(publish, client, headers):
    for n in range(5):
        await publish(lead(n))
        await publish(lead(100 + n, OTHER), company=OTHER)
    page = (
        await client.get("/v1/events", headers=headers, params={"type": "lead.created", "limit": 3})
    ).json()
    assert [e["payload"]["lead_id"] for e in page["items"]] == ["lead_4", "lead_3", "lead_2"]
    assert {e["company_id"] for e in page["items"]} == {COMPANY}
    older = (
        await client.get(
            "/v1/events",
            headers=headers,
            params={"type": "lead.created", "limit": 3, "before": page["next_before"]},
        )
    ).json()
    assert [e["payload"]["lead_id"] for e in older["items"]] == ["lead_1", "lead_0"]
    assert older["next_before"] is None
    assert (await client.get("/v1/events", headers=headers, params={"type": "message.sent"})).json()[
        "items"
    ] == []


async def test_recent_events_reject_unknown_types_and_forged_positions(client, headers):
    response = await client.get("/v1/events", headers=headers, params={"type": "lead.deleted"})
    assert response.status_code == 422 and response.json()["error"]["problems"][0]["field"] == "query.type"
    response = await client.get("/v1/events", headers=headers, params={"type": "lead.created", "before": "x"})
    assert response.status_code == 422 and response.json()["error"]["problems"][0]["field"] == "query.before"


async def test_live_stream_sends_this_companys_events_as_server_sent_events(
    app, publish, client, headers, redis
):
    live_channel = app.state.ports.bus.keys.live("lead.created")
    stream = asyncio.create_task(
        client.get("/v1/events/stream", headers=headers, params={"type": "lead.created", "limit": 2})
    )

    async def subscribed():
        if app.state.ports.bus.sharded:
            # A cluster's tap listens with SSUBSCRIBE, counted only by PUBSUB SHARDNUMSUB on the node that
            # serves the channel's slot (redis-py would ask its default node).
            await redis.initialize()
            node = redis.get_node_from_key(live_channel)
            counts = await redis.execute_command("PUBSUB SHARDNUMSUB", live_channel, target_nodes=node)
            return counts[0][1] > 0
        return (await redis.pubsub_numsub(live_channel))[0][1] > 0

    await eventually(subscribed)
    await publish(lead(1, OTHER), company=OTHER)
    await publish(lead(1))
    await publish(lead(2))
    response = await asyncio.wait_for(stream, 10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-ratelimit-limit"]
    frames = [f for f in response.text.split("\n\n") if f.startswith("id:")]
    events = [json.loads(f.split("data: ", 1)[1]) for f in frames]
    assert [(e["company_id"], e["payload"]["lead_id"]) for e in events] == [
        (COMPANY, "lead_1"),
        (COMPANY, "lead_2"),
    ]
    assert frames[0].splitlines()[1] == "event: lead.created"


async def test_events_need_the_events_scope(client, make_key):
    headers = {"X-API-Key": await make_key(scopes=["leads:read"])}
    response = await client.get("/v1/events", headers=headers, params={"type": "lead.created"})
    assert response.status_code == 403 and "events:read" in response.json()["error"]["message"]
    assert (await client.get("/v1/events/stream", headers=headers)).status_code == 403
