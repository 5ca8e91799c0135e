"""The client's models read what backoffice-api's OpenAPI document (contracts/openapi/) says it answers: every
field exists there, and the required ones are required there too. The public names are pinned."""

from __future__ import annotations

import json
from pathlib import Path

import backoffice_client
import pytest
from backoffice_client.admin_models import SCHEMAS as ADMIN_SCHEMAS
from backoffice_client.models import SCHEMAS

DOCUMENT = Path(__file__).resolve().parents[3] / "contracts" / "openapi" / "backoffice-api.json"


@pytest.mark.parametrize(
    ("model", "schema"), [*SCHEMAS.items(), *ADMIN_SCHEMAS.items()], ids=lambda v: getattr(v, "__name__", v)
)
def test_every_field_is_in_the_document(model, schema):
    schemas = json.loads(DOCUMENT.read_text(encoding="utf-8"))["components"]["schemas"]
    declared = schemas[schema]
    properties = declared["properties"]
    for name, field in model.model_fields.items():
        wire = field.alias or name
        assert wire in properties, f"{model.__name__}.{wire} is not in {schema}"
        if field.is_required():
            assert wire in declared.get("required", []), f"{model.__name__}.{wire} is optional in {schema}"


def test_every_schema_the_api_answers_with_has_a_model():
    schemas = json.loads(DOCUMENT.read_text(encoding="utf-8"))["components"]["schemas"]
    answered = {name for name in schemas if name.endswith(("Public", "Page", "List"))}
    assert answered <= set(SCHEMAS.values()) | set(ADMIN_SCHEMAS.values())


def test_exported_names():
    assert backoffice_client.__all__ == [
        "UNSET",
        "ApiError",
        "AsyncBackofficeClient",
        "BackofficeClient",
        "BackofficeError",
        "Call",
        "Conflict",
        "Forbidden",
        "NotFound",
        "PreconditionFailed",
        "RateLimited",
        "ServerError",
        "Unauthorized",
        "Unreachable",
        "ValidationFailed",
        "admin_models",
        "models",
    ]
