"""contracts/ and the tables of docs/catalog.md are generated from the models (make contracts), and the
catalog's own examples satisfy both."""

import itertools
import json
import re
from pathlib import Path

import jsonschema
import pytest
from eventbus import catalog, contracts
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
    assert {event_type for event_type, _ in catalog_examples()} == set(catalog.CHANNELS) - catalog.ADDITIONS


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
