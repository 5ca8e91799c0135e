"""Generate ``contracts/`` from the catalog models: ``python -m eventbus.contracts contracts`` (``make contracts``).

- ``schemas/<type>.v<version>.json``: JSON Schema 2020-12 of the whole envelope carrying that payload;
- ``asyncapi.json``: an AsyncAPI 3.0 document of the seven channels, with producers, consumers, the stream
  each channel is stored in and the idempotency keys as ``x-`` fields (JSON is a valid AsyncAPI document
  format and needs no YAML dependency).

A test regenerates both in memory and fails when the committed files drift from the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from eventbus.catalog import CHANNELS, envelope_model
from eventbus.keys import Keys

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://wolfgang.example/contracts/schemas/"


def schema_name(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}.json"


def envelope_schema(event_type: str, version: int) -> dict[str, Any]:
    model = envelope_model(event_type, version)
    schema = model.model_json_schema(by_alias=True, mode="validation")
    schema["properties"]["type"] = {"const": event_type, "title": "Type"}
    schema["properties"]["version"] = {"const": version, "title": "Version"}
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": BASE_ID + schema_name(event_type, version),
        **schema,
        "title": f"{event_type} v{version}",
        "description": CHANNELS[event_type].description,
    }


def asyncapi() -> dict[str, Any]:
    keys = Keys()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, spec in CHANNELS.items():
        cid = name.replace(".", "_")
        channel_messages = {}
        for version in spec.versions:
            mid = f"{cid}_v{version}"
            messages[mid] = {
                "name": name,
                "title": f"{name} v{version}",
                "contentType": "application/json",
                "payload": {"$ref": f"schemas/{schema_name(name, version)}"},
            }
            channel_messages[mid] = {"$ref": f"#/components/messages/{mid}"}
        channels[cid] = {
            "address": name,
            "description": spec.description,
            "messages": channel_messages,
            "x-stream-key": keys.stream(name),
            "x-idempotency-key": spec.idempotency_key,
            "x-producer": spec.producer,
            "x-consumers": list(spec.consumers),
        }
        refs = [{"$ref": f"#/channels/{cid}/messages/{m}"} for m in channel_messages]
        operations[f"publish_{cid}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": refs,
            "x-service": spec.producer,
        }
        for consumer in spec.consumers:
            operations[f"{consumer.replace('-', '_')}_consumes_{cid}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{cid}"},
                "messages": refs,
                "x-service": consumer,
                "x-consumer-group": consumer,
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Wolfgang Backoffice events",
            "version": "1.0.0",
            "description": "Cross-service events: durable Redis streams, announced live on Pub/Sub channels "
            "named after the catalog. Delivery is at-least-once; consumers keep a processed-id set.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "redis": {"host": "localhost:6379", "protocol": "redis", "description": "Redis 7+ or Valkey"}
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render() -> dict[str, str]:
    """Every generated file, path relative to ``contracts/`` → content."""
    files = {
        f"schemas/{schema_name(name, version)}": _dump(envelope_schema(name, version))
        for name, spec in CHANNELS.items()
        for version in spec.versions
    }
    files["asyncapi.json"] = _dump(asyncapi())
    return files


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    target = Path(argv[1] if len(argv) > 1 else "contracts")
    for relative, content in render().items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
