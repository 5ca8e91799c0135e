"""What a third party has: the catalog's text, the generated contracts, a Redis URL and a plain Redis client.

The suite reads every example from the catalog itself (``contracts/catalog.md``, the team's seed verbatim),
publishes envelopes shaped as another team would write them (UUID ids, optional fields left out) onto the
channels' streams in their documented entry format, and observes the channels by their catalog names: live,
with a plain ``SUBSCRIBE``, and durably, by reading the streams that the AsyncAPI document names.
``WB_TEST_REDIS=cluster`` (``make test-cluster``) runs it on a Redis Cluster.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as aredis
from eventbus import Bus, Consumer, Envelope, Subscription
from eventbus.testing.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "contracts" / "catalog.md"
SCHEMAS = ROOT / "contracts" / "schemas"
ASYNCAPI = ROOT / "contracts" / "asyncapi.json"
COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"


def catalog_text() -> str:
    return CATALOG.read_text(encoding="utf-8")


def envelope_example() -> dict[str, Any]:
    """The catalog's "Envelope padrão" example."""
    return dict(json.loads(re.search(r"```json\n(.*?)```", catalog_text(), flags=re.S).group(1)))


def payload_examples() -> dict[str, dict[str, Any]]:
    """Each channel's payload example, as the catalog writes it ("a|b|c" enumerations as written)."""
    sections = re.split(r"^## Evento: `([a-z.]+)`", catalog_text(), flags=re.M)
    return {
        name: json.loads(re.search(r"```json\n(.*?)```", body, flags=re.S).group(1))
        for name, body in zip(sections[1::2], sections[2::2], strict=True)
    }


def channel_table() -> dict[str, tuple[str, list[str]]]:
    """The catalog's table: channel → (producer, consumers)."""
    rows = re.findall(r"^\| `([a-z.]+)` \| ([a-z-]+) \| ([a-z, -]+) \|$", catalog_text(), flags=re.M)
    return {name: (producer, [c.strip() for c in consumers.split(",")]) for name, producer, consumers in rows}


def first_alternative(node: Any) -> Any:
    """``"image|audio|document"`` → ``"image"``, everywhere in an example."""
    if isinstance(node, dict):
        return {k: first_alternative(v) for k, v in node.items()}
    if isinstance(node, list):
        return [first_alternative(v) for v in node]
    if isinstance(node, str) and re.fullmatch(r"[a-z]+(\|[a-z]+)+", node):
        return node.split("|")[0]
    return node


def field_paths(node: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every field of an example as ``(dotted path, value)``; an array of objects as ``messages[0].text``."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        yield path, value
        if isinstance(value, dict):
            yield from field_paths(value, f"{path}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            yield from field_paths(value[0], f"{path}[0].")


def at(document: Any, path: str) -> Any:
    for step in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        document = document[int(step[1:-1])] if step.startswith("[") else document[step]
    return document


def third_party_envelope(
    event_type: str, payload: dict[str, Any], *, id_form: str = "uuid"
) -> dict[str, Any]:
    """An envelope as another team writes it: the catalog's fields, in its order, a UUID id, no additions."""
    ids = {
        "uuid": str(uuid.uuid4()),
        "evt_uuid": f"evt_{uuid.uuid4()}",
        "ulid": envelope_example()["id"].removeprefix("evt_"),
        "evt_ulid": envelope_example()["id"],
    }
    return {
        **envelope_example(),
        "id": ids[id_form],
        "type": event_type,
        "version": 1,
        "company_id": COMPANY,
        "source": "third-party",
        "correlation_id": str(uuid.uuid4()),
        "causation_id": None,
        "payload": payload,
    }


async def publish_raw(bus: Bus, envelope: dict[str, Any]) -> None:
    """Append ``envelope`` to its channel's stream in the documented entry format (``i`` id, ``t`` type,
    ``v`` version, ``e`` the envelope's JSON), as a producer in another language would with one XADD."""
    stream = bus.keys.stream(envelope["type"])
    fields = {"i": envelope["id"], "t": envelope["type"], "v": envelope["version"], "e": json.dumps(envelope)}
    await bus.redis.xadd(stream, fields)  # type: ignore[arg-type]


@asynccontextmanager
async def handled(bus: Bus, channel: str) -> AsyncIterator[list[Envelope[Any]]]:
    """A consumer group as every service runs one (``eventbus.Consumer``) on ``channel``: what it handled."""
    seen: list[Envelope[Any]] = []

    async def record(event: Envelope[Any]) -> None:
        seen.append(event)

    group = f"conformance-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(bus, group, [Subscription(channel, record)], block=timedelta(milliseconds=100))
    async with consumer.running():
        yield seen


async def one_handled(seen: list[Envelope[Any]], event_id: str) -> Envelope[Any]:
    async def found() -> list[Envelope[Any]]:
        await asyncio.sleep(0)
        return [e for e in seen if e.id == event_id]

    [event] = await eventually(found, timeout=10)
    return event


def plain_node(redis_url: str) -> aredis.Redis:
    """A plain client on one node, knowing nothing of slots: the URL's node (any node of a cluster)."""
    host_port = redis_url.split("://", 1)[1].rsplit("@", 1)[-1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    return aredis.Redis(host=host, port=int(port))


@asynccontextmanager
async def listening(
    client: aredis.Redis, channel: str, *, pattern: bool = False
) -> AsyncIterator[Callable[[], Any]]:
    """``SUBSCRIBE channel`` (or ``PSUBSCRIBE``) on ``client``; yields ``next_message()`` (JSON, or None)."""
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await (pubsub.psubscribe(channel) if pattern else pubsub.subscribe(channel))

    async def next_message(timeout: float = 5.0) -> Any:
        # get_message answers None for the (ignored) subscribe confirmation too: poll until the deadline.
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = await pubsub.get_message(timeout=min(left, 0.2))
            if message is not None and message["type"] in ("message", "pmessage"):
                return json.loads(message["data"])
        return None

    try:
        yield next_message
    finally:
        await pubsub.aclose()
