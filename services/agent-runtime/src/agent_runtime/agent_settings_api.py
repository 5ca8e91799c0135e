"""Admin API: a company's agent settings (``agent_settings.py``), read and replaced by backoffice-api, which
must not read our keys. The same credential as the handoff routes (``Authorization: Bearer
<AGENT_ADMIN_TOKEN>``, 401 without it); invalid settings are 422 naming the field; a save is in effect at once
in this process and within ``AGENT_SETTINGS_TTL`` in the others."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from agent_runtime.agent_settings import AgentSettings, CompanySettings, Loaded, Source
from agent_runtime.api import _authorized
from agent_runtime.ports import get_ports

router = APIRouter(prefix="/v1/companies", dependencies=[Depends(_authorized)], tags=["agent settings"])

CompanyId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]


class AgentSettingsPublic(BaseModel):
    company_id: str
    settings: AgentSettings
    #: ``stored``: saved by an operator; ``file``: the seed knowledge file; ``default``: neither.
    source: Source
    updated_at: datetime | None = None
    updated_by: str | None = None


class AgentSettingsSave(BaseModel):
    settings: AgentSettings
    #: Who saved them, for the record (backoffice-api sends the API key's id).
    updated_by: str | None = Field(None, min_length=1, max_length=100)


def _settings(request: Request) -> CompanySettings:
    settings: CompanySettings = get_ports(request).agent.knowledge
    return settings


SettingsDep = Annotated[CompanySettings, Depends(_settings)]


def _public(company_id: str, loaded: Loaded) -> AgentSettingsPublic:
    return AgentSettingsPublic(company_id=company_id, **loaded.model_dump())


@router.get("/{company_id}/agent-settings")
async def get_agent_settings(company_id: CompanyId, settings: SettingsDep) -> AgentSettingsPublic:
    """The company's agent settings in effect: saved ones, else its knowledge file's, else the defaults."""
    return _public(company_id, await settings.load(company_id))


@router.put("/{company_id}/agent-settings")
async def put_agent_settings(
    company_id: CompanyId, body: AgentSettingsSave, settings: SettingsDep
) -> AgentSettingsPublic:
    """Replace the company's agent settings whole. Idempotent."""
    return _public(company_id, await settings.save(company_id, body.settings, updated_by=body.updated_by))
