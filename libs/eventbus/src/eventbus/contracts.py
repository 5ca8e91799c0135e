"""Generate ``contracts/`` from the catalog models: ``python -m eventbus.contracts contracts`` (``make contracts``).

- ``schemas/<type>.v<version>.json``: JSON Schema 2020-12 of the whole envelope carrying that payload;
- ``asyncapi.json``: an AsyncAPI 3.0 document of the seven channels, with producers, consumers, the stream
  each channel is stored in and the idempotency keys as ``x-`` fields (JSON is a valid AsyncAPI document
  format and needs no YAML dependency);
- ``docs/catalog.md`` (beside ``contracts/``): the block between its two markers, the event catalog page for
  people (channels, producers, consumers, keys, then every envelope and payload field with its type,
  whether it is required and its constraints), rendered from the same schemas; and the "Additions" table
  between its own two markers, rendered from ``eventbus.additions`` like the AsyncAPI's ``x-additions``. The
  prose around the blocks is written by hand and kept as it is.

A test regenerates all of them in memory and fails when the committed files drift from the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from eventbus.additions import ADDITIONS, Addition, for_channel
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
            "x-additions": [_addition(a) for a in for_channel(name)],
        }
        refs = [{"$ref": f"#/channels/{cid}/messages/{m}"} for m in channel_messages]
        operations[f"publish_{cid}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": refs,
            "x-service": spec.producer,
        }
        added = {a.what: a.why for a in for_channel(name) if a.kind == "consumer"}
        for consumer in spec.consumers:
            operation = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{cid}"},
                "messages": refs,
                "x-service": consumer,
                "x-consumer-group": consumer,
            }
            if consumer in added:
                operation["x-addition"] = added[consumer]
            operations[f"{consumer.replace('-', '_')}_consumes_{cid}"] = operation
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Wolfgang Backoffice events",
            "version": "1.0.0",
            "description": "Cross-service events: durable Redis streams, announced live on Pub/Sub channels "
            "named after the catalog. Delivery is at-least-once; consumers keep a processed-id set.",
            "x-envelope-additions": [_addition(a) for a in for_channel("envelope")],
        },
        "defaultContentType": "application/json",
        "servers": {
            "redis": {"host": "localhost:6379", "protocol": "redis", "description": "Redis 7+ or Valkey"}
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def _addition(addition: Addition) -> dict[str, str]:
    return {"kind": addition.kind, "what": addition.what, "form": addition.form, "why": addition.why}


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


CATALOG_BEGIN = (
    "<!-- Generated by `make contracts` from the catalog models (libs/eventbus/src/eventbus/contracts.py): "
    "edit the models, not this block. -->"
)
CATALOG_END = "<!-- End of the generated block. -->"
ADDITIONS_BEGIN = (
    "<!-- Generated by `make contracts` from libs/eventbus/src/eventbus/additions.py, as the AsyncAPI's "
    "x-additions: edit that list, not this table. -->"
)
ADDITIONS_END = "<!-- End of the generated additions. -->"


class CatalogPageError(ValueError):
    """The catalog page has lost the markers of its generated block."""


def catalog_page(current: str) -> str:
    """``current`` (the text of ``docs/catalog.md``) with its generated block rendered again.

    Only the text between :data:`CATALOG_BEGIN` and :data:`CATALOG_END` is replaced; raises
    :class:`CatalogPageError` when either marker is missing or they are out of order.
    """
    page = _replace_block(current, CATALOG_BEGIN, CATALOG_END, catalog_block())
    if ADDITIONS_BEGIN in page or ADDITIONS_END in page:  # a page written before the additions had a block
        page = _replace_block(page, ADDITIONS_BEGIN, ADDITIONS_END, additions_block())
    return page


def _replace_block(text: str, begin: str, end_marker: str, block: str) -> str:
    start, end = text.find(begin), text.find(end_marker)
    if start < 0 or end < start:
        raise CatalogPageError(f"the catalog page needs the two markers {begin!r} … {end_marker!r}")
    return text[: start + len(begin)] + "\n\n" + block + "\n" + text[end:]


def additions_block() -> str:
    """Markdown: one row per addition to the catalog, with why (``eventbus.additions``)."""
    lines = [
        "| where | kind | what | form | added for |",
        "|---|---|---|---|---|",
        *(
            _row(a.where if a.where == "envelope" else f"`{a.where}`", a.kind, f"`{a.what}`", a.form, a.why)
            for a in ADDITIONS
        ),
    ]
    return "\n".join(lines) + "\n"


def catalog_block() -> str:
    """Markdown: the channel table, the envelope's fields, then each channel's payload fields."""
    keys = Keys()
    lines = [
        "| channel | producer | consumers | idempotency key |",
        "|---|---|---|---|",
        *(
            _row(f"`{name}`", spec.producer, ", ".join(spec.consumers), spec.idempotency_key)
            for name, spec in CHANNELS.items()
        ),
        "",
        "### Envelope",
        "",
        "Every event, whatever its channel, is this object; `type`, `version` and `payload` are the channel's.",
        "",
        *_field_table(_envelope_fields()),
    ]
    for name, spec in CHANNELS.items():
        for version in spec.versions:
            schema = envelope_schema(name, version)
            file = schema_name(name, version)
            lines += [
                "",
                f"### `{name}` v{version}",
                "",
                spec.description,
                "",
                f"Producer **{spec.producer}**; consumers {', '.join(f'**{c}**' for c in spec.consumers)}. "
                f"Idempotency key: {spec.idempotency_key}. Stream `{keys.stream(name)}`; "
                f"schema [`{file}`](../contracts/schemas/{file}).",
                "",
                *_field_table(
                    _fields(schema["properties"]["payload"], schema.get("$defs", {}), required=True)
                ),
            ]
    return "\n".join(lines) + "\n"


# One row per field: (path, type, required, notes). Nested objects and array items are flattened into dotted
# paths (``media.type``, ``messages[].text``); "required" is within the parent object.
_Field = tuple[str, str, bool, str]


def _envelope_fields() -> list[_Field]:
    name, spec = next(iter(CHANNELS.items()))
    schema = envelope_schema(name, spec.latest)
    required = set(schema["required"])
    fields: list[_Field] = []
    for field, prop in schema["properties"].items():
        if field == "payload":
            fields.append(("payload", "object", True, "the channel's payload, below"))
        elif field == "type":
            fields.append(("type", "string", True, "the channel's name"))
        elif field == "version":
            fields.append(("version", "integer", True, "the payload's version"))
        else:
            fields += _fields(prop, schema.get("$defs", {}), required=field in required, path=field)
    return fields


def _fields(prop: dict[str, Any], defs: dict[str, Any], *, required: bool, path: str = "") -> list[_Field]:
    """The row of ``prop`` at ``path`` (none for the payload itself, ``path=""``) and of everything inside."""
    nullable = False
    notes: list[str] = [_prose(prop["description"])] if "description" in prop else []
    node = prop
    if "anyOf" in prop:
        alternatives = [alt for alt in prop["anyOf"] if alt != {"type": "null"}]
        nullable = len(alternatives) < len(prop["anyOf"])
        node = alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}
    if "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
        if "description" in node and not notes:
            notes.append(_prose(node["description"]))
    notes += _constraints(node) if node is prop else _constraints(node) + _constraints(prop)
    if "default" in prop:
        notes.append(f"default `{json.dumps(prop['default'], ensure_ascii=False)}`")
    if "examples" in prop:
        notes.append("e.g. " + ", ".join(f"`{json.dumps(e, ensure_ascii=False)}`" for e in prop["examples"]))
    kind = _type(node) + (" or null" if nullable else "")
    rows: list[_Field] = [(path, kind, required, "; ".join(notes))] if path else []
    if node.get("type") == "array" and "$ref" in node.get("items", {}):
        node = defs[node["items"]["$ref"].rsplit("/", 1)[-1]]
        path += "[]"
    for child, child_prop in node.get("properties", {}).items():
        child_path = f"{path}.{child}" if path else child
        rows += _fields(child_prop, defs, required=child in node.get("required", []), path=child_path)
    return rows


def _type(node: dict[str, Any]) -> str:
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{value}`" for value in node["enum"])
    if "anyOf" in node:
        return " or ".join(_type(alt) for alt in node["anyOf"])
    kind = node.get("type", "any")
    if kind == "array":
        items = node.get("items", {})
        return "array of " + ("objects" if "$ref" in items else _type(items))
    if kind == "object" and not node.get("properties"):
        return "object (any keys)"
    return f"{kind} ({node['format']})" if "format" in node else str(kind)


def _prose(docstring: str) -> str:
    """A model's docstring as a table note: Markdown's single backticks, no final full stop."""
    return docstring.replace("``", "`").strip().removesuffix(".")


_CONSTRAINTS = {
    "pattern": "matches `{}`",
    "minLength": "length ≥ {}",
    "maxLength": "length ≤ {}",
    "minimum": "≥ {}",
    "maximum": "≤ {}",
    "minItems": "at least {} item(s)",
    "maxItems": "at most {} item(s)",
}


def _constraints(node: dict[str, Any]) -> list[str]:
    return [text.format(node[key]) for key, text in _CONSTRAINTS.items() if key in node]


def _field_table(fields: list[_Field]) -> list[str]:
    return [
        "| field | type | required | notes |",
        "|---|---|---|---|",
        *(
            _row(f"`{path}`", kind, "yes" if required else "no", notes)
            for path, kind, required, notes in fields
        ),
    ]


def _row(*cells: str) -> str:
    # A pipe ends a table cell even inside backticks unless escaped (GitHub Flavored Markdown, tables).
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def main(argv: list[str]) -> int:
    """``python -m eventbus.contracts [contracts-dir [catalog-page]]``; the page defaults to
    ``<contracts-dir>/../docs/catalog.md``, the repository's layout."""
    target = Path(argv[1] if len(argv) > 1 else "contracts")
    for relative, content in render().items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        print(f"wrote {path}")
    page = Path(argv[2]) if len(argv) > 2 else target.parent / "docs" / "catalog.md"
    if len(argv) <= 2 and not page.is_file():
        print(f"no {page}: only the contracts were written")  # a target outside the repository
        return 0
    page.write_text(catalog_page(page.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
