"""contracts/ and the tables of docs/catalog.md are generated from the models (make contracts), and the
catalog's own examples satisfy both."""

import itertools
import json
import re
from pathlib import Path

import jsonschema
import pytest
from eventbus import additions, catalog, contracts
from eventbus.testing import samples

ROOT = Path(__file__).resolve().parents[3]
CATALOG = ROOT / "contracts" / "catalog.md"
CATALOG_PAGE = ROOT / "docs" / "catalog.md"
SEED = ROOT.parent / "shared" / "seeds" / "001_182450efe58c118f.txt"


def test_committed_contracts_match_the_models() -> None:
    for relative, content in contracts.render().items():
        path = ROOT / "contracts" / relative
        assert path.exists(), f"{relative} missing: run make contracts"
        assert path.read_text() == content, f"{relative} drifted from the models: run make contracts"


def test_the_catalog_page_matches_the_models() -> None:
    current = CATALOG_PAGE.read_text(encoding="utf-8")
    assert contracts.catalog_page(current) == current, (
        "docs/catalog.md drifted from the models: run make contracts"
    )


def page_section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    end = text.find("\n#", start + 1)
    return text[start : end if end > 0 else None]


@pytest.mark.parametrize("event_type", list(catalog.CHANNELS))
def test_the_catalog_page_gives_each_channel_its_parties_key_and_every_payload_field(event_type: str) -> None:
    spec = catalog.CHANNELS[event_type]
    section = page_section(CATALOG_PAGE.read_text(encoding="utf-8"), f"### `{event_type}` v{spec.latest}")
    assert f"Producer **{spec.producer}**" in section
    assert all(f"**{consumer}**" in section for consumer in spec.consumers)
    assert f"Idempotency key: {spec.idempotency_key}." in section
    schema = contracts.envelope_schema(event_type, spec.latest)
    payload = schema["$defs"][schema["properties"]["payload"]["$ref"].rsplit("/", 1)[-1]]
    for field in payload["properties"]:
        required = "yes" if field in payload.get("required", []) else "no"
        assert re.search(rf"^\| `{re.escape(field)}` \| [^\n]+ \| {required} \|", section, flags=re.M), field


def test_make_contracts_rewrites_the_generated_block_and_keeps_the_prose(tmp_path: Path) -> None:
    page = tmp_path / "docs" / "catalog.md"
    page.parent.mkdir()
    prose_before, prose_after = "# Catalog\n\nWritten by hand.\n\n", "\n## After\n\nAlso by hand.\n"
    page.write_text(
        f"{prose_before}{contracts.CATALOG_BEGIN}\nstale\n{contracts.CATALOG_END}{prose_after}",
        encoding="utf-8",
    )

    assert contracts.main(["eventbus.contracts", str(tmp_path / "contracts")]) == 0

    text = page.read_text(encoding="utf-8")
    assert text.startswith(prose_before + contracts.CATALOG_BEGIN)
    assert text.endswith(contracts.CATALOG_END + prose_after)
    assert "stale" not in text
    assert contracts.catalog_block() in text
    assert (tmp_path / "contracts" / "asyncapi.json").is_file()


def test_a_catalog_page_without_its_markers_is_refused() -> None:
    with pytest.raises(contracts.CatalogPageError):
        contracts.catalog_page("# Catalog\n\nno generated block here\n")
    with pytest.raises(contracts.CatalogPageError):
        contracts.catalog_page(f"{contracts.CATALOG_END}\n{contracts.CATALOG_BEGIN}\n")


def test_the_committed_catalog_is_the_seed_verbatim() -> None:
    if not SEED.exists():
        pytest.skip("../shared is not beside this checkout")
    assert CATALOG.read_text() == SEED.read_text()


def catalog_examples() -> list[tuple[str, dict]]:
    """(event type, payload) for each payload example in the catalog, one per enumerated alternative."""
    text = CATALOG.read_text()
    sections = re.split(r"^## Evento: `([a-z.]+)`", text, flags=re.M)
    examples = []
    for event_type, body in zip(sections[1::2], sections[2::2], strict=True):
        block = re.search(r"```json\n(.*?)```", body, flags=re.S).group(1)
        examples.extend((event_type, variant) for variant in alternatives(json.loads(block)))
    return examples


def alternatives(payload: dict) -> list[dict]:
    """The catalog writes enumerations as "a|b|c": expand them into one example each."""
    choices = []
    for path, value in leaves(payload):
        if isinstance(value, str) and re.fullmatch(r"[a-z]+(\|[a-z]+)+", value):
            choices.append([(path, option) for option in value.split("|")])
    variants = []
    for combo in itertools.product(*choices) if choices else [()]:
        variant = json.loads(json.dumps(payload))
        for path, option in combo:
            node = variant
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = option
        variants.append(variant)
    return variants


def leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    else:
        yield path, node


def test_the_catalog_has_an_example_for_each_channel() -> None:
    # Additions are not in the seed; their payloads are documented in docs/catalog.md (the generated block).
    assert {event_type for event_type, _ in catalog_examples()} == set(
        catalog.CHANNELS
    ) - catalog.ADDED_CHANNELS


@pytest.mark.parametrize(("event_type", "payload"), catalog_examples())
def test_every_catalog_example_validates_against_model_and_schema(event_type: str, payload: dict) -> None:
    event = catalog.build(event_type, payload, source="tests", company_id=samples.COMPANY)
    schema = json.loads((ROOT / "contracts" / "schemas" / f"{event_type}.v1.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(event.to_wire()))


def test_the_catalog_envelope_example_validates() -> None:
    envelope = json.loads(re.search(r"```json\n(.*?)```", CATALOG.read_text(), flags=re.S).group(1))
    envelope["payload"] = samples.every_channel()["message.received"].model_dump(mode="json", by_alias=True)
    assert catalog.parse(json.dumps(envelope)).id == envelope["id"]


def test_the_asyncapi_document_names_producers_consumers_and_keys() -> None:
    doc = json.loads((ROOT / "contracts" / "asyncapi.json").read_text())
    assert doc["asyncapi"].startswith("3.")
    channel = doc["channels"]["lead_created"]
    assert channel["address"] == "lead.created"
    assert channel["x-producer"] == "agent-runtime"
    assert set(channel["x-consumers"]) == {"facebook-capi", "backoffice-api"}
    assert channel["x-idempotency-key"]


def test_the_additions_table_and_the_asyncapi_document_list_the_same_additions() -> None:
    page = CATALOG_PAGE.read_text(encoding="utf-8")
    block = page[page.index(contracts.ADDITIONS_BEGIN) : page.index(contracts.ADDITIONS_END)]
    rows = {
        (where.strip("`"), kind, what.strip("`"), why.replace("\\|", "|"))
        for where, kind, what, _form, why in (
            [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
            for line in block.splitlines()
            if line.startswith("| ") and not line.startswith("| where")
        )
    }
    doc = json.loads((ROOT / "contracts" / "asyncapi.json").read_text())
    published = {("envelope", a["kind"], a["what"], a["why"]) for a in doc["info"]["x-envelope-additions"]}
    for channel in doc["channels"].values():
        published |= {(channel["address"], a["kind"], a["what"], a["why"]) for a in channel["x-additions"]}
    listed = {(a.where, a.kind, a.what, a.why) for a in additions.ADDITIONS}
    assert rows == published == listed
    # an added consumer's operation says why it is there
    operation = doc["operations"]["backoffice_api_consumes_message_received"]
    assert operation["x-addition"] == additions.for_channel("message.received")[0].why


def seed_tables() -> dict[str, tuple[str, set[str]]]:
    """The catalog's channel table: channel → (producer, consumers)."""
    table = {}
    for name, producer, consumers in re.findall(
        r"^\| `([a-z.]+)` \| ([a-z-]+) \| ([a-z, -]+) \|$", CATALOG.read_text(), flags=re.M
    ):
        table[name] = (producer, {c.strip() for c in consumers.split(",")})
    return table


def paths(node: dict, prefix: str = "") -> set[str]:
    """Every key of a JSON example as a dotted path, objects included (``media``, ``media.type``)."""
    found = set()
    for key, value in node.items():
        path = f"{prefix}{key}"
        found.add(path)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            value = value[0]  # an array of objects: its items' keys (``messages.text``)
        if isinstance(value, dict):
            found |= paths(value, f"{path}.")
    return found


def test_every_field_consumer_and_channel_beyond_the_catalog_is_a_listed_addition() -> None:
    listed = {(a.where, a.kind, a.what) for a in additions.ADDITIONS}
    seed = seed_tables()
    for name, spec in catalog.CHANNELS.items():
        if name not in seed:
            assert (name, "channel", name) in listed, f"channel {name} is not in the catalog nor an addition"
            continue
        producer, consumers = seed[name]
        assert spec.producer == producer, f"{name}: the catalog's producer is {producer}"
        assert consumers <= set(spec.consumers), f"{name}: a consumer of the catalog is missing"
        for consumer in set(spec.consumers) - consumers:
            assert (name, "consumer", consumer) in listed, f"{name}: consumer {consumer} is not an addition"
    examples = dict(catalog_examples())  # one variant per channel is enough for field names
    for name, example in examples.items():
        schema = contracts.envelope_schema(name, catalog.CHANNELS[name].latest)
        rows = contracts._fields(schema["properties"]["payload"], schema.get("$defs", {}), required=True)
        in_seed = paths(example)
        for path, *_ in rows:
            path = path.replace("[]", "")
            parents = {".".join(path.split(".")[:i]) for i in range(1, path.count(".") + 2)}
            assert path in in_seed or any((name, "field", p) in listed for p in parents), (
                f"{name}.{path} is neither the catalog's nor a listed addition"
            )
    envelope = json.loads(re.search(r"```json\n(.*?)```", CATALOG.read_text(), flags=re.S).group(1))
    for field in contracts.envelope_schema("message.received", 1)["properties"]:
        assert field in envelope or ("envelope", "field", field) in listed, f"envelope field {field}"
