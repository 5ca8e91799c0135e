"""The service's collaborators, built once by the composition root (app.py) and kept on ``app.state.ports``:
the one place routes, handlers and tests find them."""

from __future__ import annotations

from dataclasses import dataclass

from eventbus import Bus
from fastapi import Request

from agent_runtime.handlers import Agent
from agent_runtime.leads import Leads
from agent_runtime.settings import Settings
from agent_runtime.store import Store


@dataclass(frozen=True)
class Ports:
    settings: Settings
    bus: Bus
    leads: Leads
    store: Store
    agent: Agent


def get_ports(request: Request) -> Ports:
    ports: Ports = request.app.state.ports
    return ports
