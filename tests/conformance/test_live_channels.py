"""Catalog, "Canais e Eventos": a consumer that follows the catalog subscribes to ``message.received`` by that
name, with a plain client on any node, and hears the live events, on one server and on a Redis Cluster
(issue 23, item 7; docs/cluster.md). Live delivery is at most once; the streams are the durable path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conformance_kit import ASYNCAPI, listening, payload_examples, plain_node
from eventbus import Bus, Envelope, catalog


@pytest.mark.parametrize("channel", list(payload_examples()))
async def test_a_plain_subscriber_hears_each_channel_by_its_catalog_name(
    bus: Bus, redis_url: str, examples: dict[str, Any], channel: str
) -> None:
    client = plain_node(redis_url)
    try:
        # The tests' channels carry a per-test prefix so that tests can share a server; production's is empty.
        async with listening(client, f"{bus.settings.live_prefix}{channel}") as next_message:
            event = Envelope.new(
                catalog.payload_model(channel, 1).model_validate(examples[channel]),
                source=catalog.CHANNELS[channel].producer,
                company_id="cmp_1",
            )
            await bus.publish(event)
            heard = await next_message()
    finally:
        await client.aclose()
    assert heard is not None, f"nothing heard on {channel}"
    assert heard["id"] == event.id and heard["type"] == channel


async def test_a_pattern_subscriber_hears_a_family_of_channels(bus: Bus, redis_url: str, examples) -> None:
    client = plain_node(redis_url)
    try:
        async with listening(client, f"{bus.settings.live_prefix}contract.*", pattern=True) as next_message:
            for channel in ("lead.created", "contract.signed"):
                payload = catalog.payload_model(channel, 1).model_validate(examples[channel])
                await bus.publish(Envelope.new(payload, source="tests", company_id="cmp_1"))
            heard = await next_message()
    finally:
        await client.aclose()
    assert heard is not None and heard["type"] == "contract.signed"


async def test_a_deduplicated_publish_is_not_announced_again(bus: Bus, redis_url: str, examples) -> None:
    client = plain_node(redis_url)
    payload = catalog.payload_model("message.received", 1).model_validate(examples["message.received"])
    try:
        async with listening(client, f"{bus.settings.live_prefix}message.received") as next_message:
            first = Envelope.new(payload, source="evolution-manager", company_id="cmp_1")
            await bus.publish(first, dedupe_key="ins_1:MSG1")
            retry = Envelope.new(payload, source="evolution-manager", company_id="cmp_1")
            await bus.publish(retry, dedupe_key="ins_1:MSG1")
            assert (await next_message())["id"] == first.id
            assert await next_message(timeout=0.5) is None
    finally:
        await client.aclose()


def test_the_asyncapi_document_addresses_each_channel_by_its_catalog_name() -> None:
    document = json.loads(ASYNCAPI.read_text())
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert set(payload_examples()) <= addresses
