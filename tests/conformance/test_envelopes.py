"""Catalog, "Envelope padrão" and "Idempotência": every event has a unique id (ULID/UUID), and a consumer built
the way every service's is (``eventbus.Consumer``) accepts the envelopes another team writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conformance_kit import (
    channel_table,
    envelope_example,
    handled,
    one_handled,
    payload_examples,
    publish_raw,
    third_party_envelope,
)
from eventbus import Bus, catalog

CHANNELS = list(payload_examples())


def test_the_system_serves_exactly_the_catalogs_channels_with_its_producers_and_consumers() -> None:
    table = channel_table()
    assert set(table) <= set(catalog.CHANNELS)
    for name, (producer, consumers) in table.items():
        assert catalog.CHANNELS[name].producer == producer
        assert set(consumers) <= set(catalog.CHANNELS[name].consumers)


def test_the_catalogs_envelope_example_is_read_field_for_field() -> None:
    example = envelope_example()
    example["payload"] = {**payload_examples()["message.received"], "media": None}
    event = catalog.parse(json.dumps(example))
    assert (event.id, event.type, event.version, event.company_id, event.source) == (
        example["id"],
        example["type"],
        example["version"],
        example["company_id"],
        example["source"],
    )
    assert (event.correlation_id, event.causation_id) == (example["correlation_id"], example["causation_id"])
    assert event.occurred_at.isoformat().startswith(example["occurred_at"][:19])


@pytest.mark.parametrize("id_form", ["uuid", "evt_uuid", "ulid", "evt_ulid"])
@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_consumer_accepts_every_id_form_the_catalog_allows(
    bus: Bus, examples: dict[str, dict[str, Any]], channel: str, id_form: str
) -> None:
    envelope = third_party_envelope(channel, examples[channel], id_form=id_form)
    async with handled(bus, channel) as seen:
        await publish_raw(bus, envelope)
        event = await one_handled(seen, envelope["id"])
    assert event.type == channel and event.correlation_id == envelope["correlation_id"]


async def test_the_same_event_id_published_twice_is_handled_once(bus: Bus, examples: dict[str, Any]) -> None:
    # "Consumers devem persistir id consumidos": a producer's retry of one event is one side effect.
    envelope = third_party_envelope("lead.created", examples["lead.created"])
    async with handled(bus, "lead.created") as seen:
        await publish_raw(bus, envelope)
        await publish_raw(bus, envelope)
        second = third_party_envelope("lead.created", examples["lead.created"])
        await publish_raw(bus, second)
        await one_handled(seen, second["id"])  # handled after both copies of the first
    assert [e.id for e in seen].count(envelope["id"]) == 1


async def test_an_envelope_outside_the_catalog_is_dead_lettered_not_handled(bus: Bus, examples) -> None:
    envelope = third_party_envelope(
        "message.received", {**examples["message.received"], "from": "not a phone"}
    )
    good = third_party_envelope("message.received", examples["message.received"])
    async with handled(bus, "message.received") as seen:
        await publish_raw(bus, envelope)
        await publish_raw(bus, good)
        await one_handled(seen, good["id"])
    assert envelope["id"] not in [e.id for e in seen]
