"""Every service's OpenAPI document is exported to contracts/openapi/ and matches its app (``make contracts``)."""

from __future__ import annotations

import importlib

import pytest
from servicekit import openapi

SERVICES = {
    "evolution-manager": "evolution_manager",
    "agent-runtime": "agent_runtime",
    "facebook-capi": "facebook_capi",
    "autentique-service": "autentique_service",
    "backoffice-api": "backoffice_api",
}


@pytest.mark.parametrize(("name", "package"), SERVICES.items())
def test_the_committed_openapi_document_matches_the_service(name: str, package: str) -> None:
    exported = openapi.CONTRACTS / f"{name}.json"
    assert exported.exists(), f"run: make contracts (writes contracts/openapi/{name}.json)"
    module = importlib.import_module(f"{package}.openapi")
    assert exported.read_text(encoding="utf-8") == openapi.render(module.make_app()), (
        f"contracts/openapi/{name}.json is stale: run `make contracts`"
    )
