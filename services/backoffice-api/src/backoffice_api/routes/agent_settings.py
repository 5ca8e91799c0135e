"""``/v1/admin/agent-settings``: the calling company's agent settings (issue #24, item 5), scope ``admin``.

agent-runtime owns them (its Redis keys) and answers for them over its admin API; this route validates what an
operator sends (422 naming the field), forwards it, and shows what is in effect. A save takes effect without a
restart: at once in the agent-runtime replica that took it, within ``AGENT_SETTINGS_TTL`` (5 s) in the others.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from servicekit.upstream import UpstreamRefused

from backoffice_api.deps import Admin, PortsDep
from backoffice_api.routes import COMMON_ERRORS, UPSTREAM

router = APIRouter(
    prefix="/v1/admin/agent-settings", tags=["administration"], responses=COMMON_ERRORS | UPSTREAM
)

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Criterion = Literal["budget", "date", "location", "guests"]


class AgentOpeningHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: list[Day] = Field(min_length=1, max_length=7, examples=[["mon", "tue", "wed", "thu", "fri"]])
    opens: dt.time = Field(examples=["09:00"])
    closes: dt.time = Field(examples=["18:00"], description="Later than `opens` (the same day)")

    @model_validator(mode="after")
    def _closes_after_opening(self) -> AgentOpeningHours:
        if self.closes <= self.opens:
            raise ValueError("closes must be later than opens (the same day)")
        if len(set(self.days)) != len(self.days):
            raise ValueError("days must not repeat")
        return self


class AgentPrice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_type: str | None = Field(
        None, max_length=60, description="As the agent names it (`casamento`…); null: every other type"
    )
    per_guest: int = Field(ge=0, description="BRL per guest")
    minimum: int = Field(0, ge=0, description="BRL, the floor of a quote")


class AgentKnowledge(BaseModel):
    """What the agent may tell leads; anything missing is deferred ("vou confirmar com a equipe") and noted
    for the salesperson."""

    model_config = ConfigDict(extra="forbid")

    company_name: str | None = Field(None, max_length=80)
    prices: list[AgentPrice] = Field(default_factory=list, max_length=50)
    included: str | None = Field(None, max_length=600)
    menu: str | None = Field(None, max_length=600)
    cities: list[str] = Field(default_factory=list, max_length=200)
    travel: str | None = Field(None, max_length=300, examples=["Atendemos até 100 km de Campinas"])
    address: str | None = Field(None, max_length=300)
    hours: str | None = Field(None, max_length=300)
    payment: str | None = Field(None, max_length=300)
    legitimacy: str | None = Field(
        None, max_length=300, examples=["CNPJ 12.345.678/0001-90, 15 anos no mercado"]
    )
    parking: str | None = Field(None, max_length=300, examples=["Estacionamento gratuito para 80 carros."])
    cancellation: str | None = Field(
        None,
        max_length=600,
        description="Cancelling or moving the date, and the deposit: the company's terms",
    )

    @field_validator("cities")
    @classmethod
    def _named(cls, value: list[str]) -> list[str]:
        if any(not 1 <= len(c.strip()) <= 80 for c in value):
            raise ValueError("each city is 1 to 80 characters")
        return value


class AgentSettings(BaseModel):
    """A company's agent settings; ``PUT`` replaces them whole."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "greeting": "Olá{name}! Aqui é o Buffet Estrela 😊",
                    "business_hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "opens": "09:00",
                                        "closes": "18:00"}],
                    "qualify_on": ["date", "guests", "budget"],
                    "score_threshold": 0.6,
                    "handoff_keywords": ["gerente"],
                    "knowledge": {"prices": [{"event_type": "casamento", "per_guest": 150, "minimum": 9000}],
                                  "cities": ["Campinas", "Valinhos"]},
                }
            ]
        },
    )  # fmt: skip

    greeting: str | None = Field(
        None,
        min_length=1,
        max_length=500,
        description='The first reply; `{name}` is ", <lead name>" when known',
    )
    business_hours: list[AgentOpeningHours] = Field(default_factory=list, max_length=14)
    out_of_hours_reply: str | None = Field(
        None,
        min_length=1,
        max_length=500,
        description="Said once a day out of hours; default: from the hours",
    )
    qualify_on: list[Criterion] | None = Field(
        None,
        min_length=1,
        max_length=4,
        description="Slots a lead needs, confirmed; null: the service default",
    )
    approximate_ok: bool | None = Field(
        None, description='Whether estimates ("uns 100") count; null: default'
    )
    score_threshold: float | None = Field(None, ge=0, le=1, description="Lead score needed besides the slots")
    handoff_keywords: list[str] = Field(default_factory=list, max_length=30)
    handoff_on_human_reply: bool = Field(
        True, description="A person replying from the phone hands the lead off"
    )
    templates: dict[str, str | list[str]] = Field(
        default_factory=dict, max_length=40, description="Replies in the company's words, by template name"
    )
    knowledge: AgentKnowledge = Field(default_factory=AgentKnowledge)

    @field_validator("qualify_on")
    @classmethod
    def _distinct(cls, value: list[Criterion] | None) -> list[Criterion] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("criteria must not repeat")
        return value

    @field_validator("handoff_keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        if any(not 2 <= len(k.strip()) <= 60 for k in value):
            raise ValueError("each keyword is 2 to 60 characters")
        return value

    @field_validator("templates")
    @classmethod
    def _texts(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for name, text in value.items():
            texts = [text] if isinstance(text, str) else text
            if not texts or any(not 1 <= len(t) <= 500 for t in texts) or len(texts) > 5 or len(name) > 40:
                raise ValueError(f"template {name[:40]!r}: 1 to 5 texts of 1 to 500 characters")
        return value


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
