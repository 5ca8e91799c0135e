"""``/v1/admin/agent-settings``: the calling company's agent settings (issue #24, item 5), scope ``admin``.

agent-runtime owns them (its Redis keys) and answers for them over its admin API; this route validates what an
operator sends with the same model (``servicekit.agent_settings``: 422 naming the field), forwards it, and shows
what is in effect. A save takes effect without a restart: at once in the agent-runtime replica that took it,
within ``AGENT_SETTINGS_TTL`` (5 s) in the others.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from servicekit.agent_settings import AgentSettings
from servicekit.upstream import UpstreamRefused

from backoffice_api.deps import Admin, PortsDep
from backoffice_api.routes import COMMON_ERRORS, UPSTREAM

router = APIRouter(
    prefix="/v1/admin/agent-settings", tags=["administration"], responses=COMMON_ERRORS | UPSTREAM
)


class AgentSettingsPublic(BaseModel):
    settings: AgentSettings
    source: Literal["stored", "file", "default"] = Field(
        description="`stored`: saved here; `file`: the agent's seed knowledge file; `default`: neither"
    )
    updated_at: dt.datetime | None = None
    updated_by: str | None = Field(None, description="The API key id that saved them")


def _public(body: dict[str, Any]) -> AgentSettingsPublic:
    return AgentSettingsPublic.model_validate(
        {k: body.get(k) for k in ("settings", "source", "updated_at", "updated_by")}
    )


@router.get("", summary="This company's agent settings in effect")
async def get_agent_settings(key: Admin, ports: PortsDep) -> AgentSettingsPublic:
    return _public(await ports.agent.agent_settings(key.company_id))


@router.put("", summary="Replace this company's agent settings (in effect within seconds, no restart)")
async def put_agent_settings(body: AgentSettings, key: Admin, ports: PortsDep) -> AgentSettingsPublic:
    """Replaces the settings whole (idempotent). Invalid settings are 422 naming the field."""
    try:
        saved = await ports.agent.put_agent_settings(
            key.company_id, body.model_dump(mode="json"), updated_by=key.key_id
        )
    except UpstreamRefused as exc:
        if exc.status == 422:  # agent-runtime's own check (a newer rule than ours): its fields, as ours
            raise RequestValidationError(_refused_fields(exc)) from None
        raise
    return _public(saved)


def _refused_fields(exc: UpstreamRefused) -> list[dict[str, Any]]:
    try:
        problems = exc.response.json()["error"]["problems"] if exc.response is not None else []
    except (ValueError, KeyError, TypeError):
        problems = []
    errors = [
        {
            "loc": ("body", *str(p["field"]).split(".")[1:]),
            "msg": str(p.get("problem", "invalid")),
            "type": "value_error",
        }
        for p in problems
        if isinstance(p, dict) and str(p.get("field", "")).startswith("settings.")
    ]
    return errors or [{"loc": ("body",), "msg": "refused by agent-runtime", "type": "value_error"}]
