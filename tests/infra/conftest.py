"""Fixtures of the container tests: each of the five services as `wolfgang` knows it (name, module, port,
settings prefix), its settings class and the environment variable names that class really reads.

Fixtures, not importable helpers: with ``--import-mode=importlib`` test modules cannot import a conftest.
"""

from __future__ import annotations

import importlib

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings
from wolfgang.system import SERVICES, Member


def _variable_names(settings: type[BaseSettings]) -> dict[str, str]:
    """Every environment variable ``settings`` reads, upper-cased, → the field it fills.

    pydantic-settings reads ``<env_prefix><field>`` unless the field has a validation alias, and then the
    alias names alone, without the prefix (that is how the shared ``REDIS_URL`` and backoffice-api's
    ``AUTENTIQUE_SERVICE_TOKEN`` work). Names are case-insensitive unless the model says otherwise.
    """
    assert not settings.model_config.get("case_sensitive"), "names below are compared upper-cased"
    prefix = settings.model_config.get("env_prefix", "")
    names: dict[str, str] = {}
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            choices = [choice for choice in alias.choices if isinstance(choice, str)]
        elif isinstance(alias, str):
            choices = [alias]
        else:
            choices = [prefix + field_name]
        names.update({choice.upper(): field_name for choice in choices})
    return names


@pytest.fixture(params=SERVICES, ids=[s.name for s in SERVICES])
def service(request: pytest.FixtureRequest) -> Member:
    member: Member = request.param
    return member


@pytest.fixture
def settings_class(service: Member) -> type[BaseSettings]:
    settings: type[BaseSettings] = importlib.import_module(f"{service.module}.settings").Settings
    return settings


@pytest.fixture
def variable_names(settings_class: type[BaseSettings]) -> dict[str, str]:
    return _variable_names(settings_class)
