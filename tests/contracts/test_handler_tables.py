"""Every service registers its handlers one way: a table keyed by catalog type, from which its subscriptions are
derived. A key that is not a catalog type could never be delivered; a channel subscribed outside the table
would be a second way in."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
from agent_runtime import app as agent_runtime_app
from backoffice_api import handlers as backoffice_handlers
from eventbus import CHANNELS
from evolution_manager import handlers as evolution_handlers
from facebook_capi import app as facebook_capi_app

TABLES: dict[str, dict[str, Callable[..., Any]]] = {
    "evolution-manager": evolution_handlers.REACTIONS,
    "agent-runtime": agent_runtime_app.REACTIONS,
    "facebook-capi": facebook_capi_app.REACTIONS,
    "backoffice-api": backoffice_handlers.REACTIONS,
}


@pytest.mark.parametrize(("service", "table"), TABLES.items())
def test_every_reaction_is_keyed_by_a_catalog_type(
    service: str, table: dict[str, Callable[..., Any]]
) -> None:
    assert table, f"{service} consumes nothing?"
    assert set(table) <= set(CHANNELS), f"{service}: {sorted(set(table) - set(CHANNELS))} not in the catalog"


@pytest.mark.parametrize(("service", "table"), TABLES.items())
def test_every_reaction_takes_its_collaborators_by_name(
    service: str, table: dict[str, Callable[..., Any]]
) -> None:
    # The composition root binds collaborators with functools.partial(react, name=...): positional ones would
    # depend on an order nobody reads.
    for channel, react in table.items():
        params = list(inspect.signature(react).parameters.values())
        assert params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, (service, channel)
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:]), (service, channel)
