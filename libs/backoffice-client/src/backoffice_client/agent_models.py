"""A company's agent settings as ``/v1/admin/agent-settings`` reads and replaces them (also reachable as
``backoffice_client.models.AgentSettings`` and so on)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Literal

from pydantic import Field

from backoffice_client.base import Model


class AgentOpeningHours(Model):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]]
    opens: time
    closes: time


class AgentPrice(Model):
    event_type: str | None = None
    per_guest: int
    minimum: int = 0


class AgentKnowledge(Model):
    company_name: str | None = None
    prices: list[AgentPrice] = Field(default_factory=list)
    included: str | None = None
    menu: str | None = None
    cities: list[str] = Field(default_factory=list)
    travel: str | None = None
    address: str | None = None
    hours: str | None = None
    payment: str | None = None
    legitimacy: str | None = None
    parking: str | None = None
    cancellation: str | None = None


class AgentSettings(Model):
    """A company's agent settings (``/v1/admin/agent-settings``): ``put_agent_settings`` replaces them whole."""

    greeting: str | None = None
    business_hours: list[AgentOpeningHours] = Field(default_factory=list)
    out_of_hours_reply: str | None = None
    qualify_on: list[Literal["budget", "date", "location", "guests"]] | None = None
    approximate_ok: bool | None = None
    score_threshold: float | None = None
    handoff_keywords: list[str] = Field(default_factory=list)
    handoff_on_human_reply: bool = True
    templates: dict[str, str | list[str]] = Field(default_factory=dict)
    knowledge: AgentKnowledge = Field(default_factory=AgentKnowledge)


class AgentSettingsPublic(Model):
    settings: AgentSettings
    source: Literal["stored", "file", "default"]
    updated_at: datetime | None = None
    updated_by: str | None = None
