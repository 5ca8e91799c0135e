"""Catalog, "Payload (v1)" of every channel: one test per field of each example. The field reaches a consumer
with the value the producer wrote, and the channel's JSON Schema (``contracts/schemas``) describes it."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from conformance_kit import (
    SCHEMAS,
    at,
    field_paths,
    first_alternative,
    handled,
    one_handled,
    payload_examples,
    publish_raw,
    third_party_envelope,
)
from eventbus import Bus

FIELDS = [
    (channel, path)
    for channel, example in payload_examples().items()
    for path, _ in field_paths(first_alternative(example))
]


def schema(channel: str) -> dict[str, Any]:
    return dict(json.loads((SCHEMAS / f"{channel}.v1.json").read_text()))


def described(document: dict[str, Any], channel: str, path: str) -> bool:
    """Whether the channel's JSON Schema has a property at ``path`` (``media.type``, ``messages[0].text``)."""
    defs = document.get("$defs", {})

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        for alternative in node.get("anyOf", []):
            if alternative.get("type") != "null":
                node = alternative
        if "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        return node

    node = resolve(document["properties"]["payload"])
    for step in path.replace("[0]", ".[]").split("."):
        if step == "[]":
            node = resolve(node["items"])
            continue
        if step not in node.get("properties", {}):
            return False
        node = resolve(node["properties"][step])
    return True


@pytest.mark.parametrize(("channel", "path"), FIELDS, ids=[f"{c}:{p}" for c, p in FIELDS])
async def test_each_catalog_field_reaches_a_consumer_as_written_and_is_in_the_schema(
    bus: Bus, examples: dict[str, dict[str, Any]], channel: str, path: str
) -> None:
    envelope = third_party_envelope(channel, examples[channel])
    jsonschema.Draft202012Validator(schema(channel)).validate(envelope)
    assert described(schema(channel), channel, path), f"{channel} schema lacks {path}"
    async with handled(bus, channel) as seen:
        await publish_raw(bus, envelope)
        event = await one_handled(seen, envelope["id"])
    got, written = at(json.loads(event.to_wire())["payload"], path), at(envelope["payload"], path)
    if isinstance(written, dict):  # an object keeps the catalog's keys; additions may sit beside them
        got = {key: got[key] for key in written}
    assert got == written


def required_only(channel: str, example: dict[str, Any]) -> dict[str, Any]:
    """The example less every field its schema does not require: what a terse producer sends."""
    document = schema(channel)
    payload = document["$defs"][document["properties"]["payload"]["$ref"].rsplit("/", 1)[-1]]
    return {k: v for k, v in example.items() if k in payload.get("required", [])}


@pytest.mark.parametrize("channel", list(payload_examples()))
async def test_absent_optional_fields_get_safe_defaults(
    bus: Bus, examples: dict[str, dict[str, Any]], channel: str
) -> None:
    # "Consumers devem … tratar campos ausentes com defaults seguros."
    envelope = third_party_envelope(channel, required_only(channel, examples[channel]))
    async with handled(bus, channel) as seen:
        await publish_raw(bus, envelope)
        event = await one_handled(seen, envelope["id"])
    wire = json.loads(event.to_wire())
    jsonschema.Draft202012Validator(schema(channel)).validate(wire)  # the emitted form is the schema's
    for field in ("raw", "details", "utm"):  # objects the catalog shows are objects, empty when unknown
        if field in examples[channel]:
            assert isinstance(wire["payload"][field], dict)
    if "media" in examples[channel]:
        assert wire["payload"]["media"] is None  # no media: null, which an empty object could not say
