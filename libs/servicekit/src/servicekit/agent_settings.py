"""A company's agent settings as operators write them and two services check them: agent-runtime owns and
applies them, backoffice-api validates what an operator sends before forwarding it (422 naming the field) and
shows what is in effect. One definition, so that a rule cannot be enforced in one and forgotten in the other
(as ``servicekit.contracts`` does for the contract); agent-runtime adds only how the conversation reads them.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Criterion = Literal["budget", "date", "location", "guests"]


class AgentOpeningHours(BaseModel):
    """One opening: the days it applies to and the time it opens and closes (the same day: no overnight)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: tuple[Day, ...] = Field(min_length=1, max_length=7, examples=[["mon", "tue", "wed", "thu", "fri"]])
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
    """A price list row: per guest, with a floor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: str | None = Field(
        None, max_length=60, description="As the agent names it (`casamento`…); null: every other type"
    )
    per_guest: int = Field(ge=0, description="BRL per guest")
    minimum: int = Field(0, ge=0, description="BRL, the floor of a quote")


class AgentKnowledge(BaseModel):
    """What the agent may tell leads; anything missing is deferred honestly ("vou confirmar com a equipe") and
    noted for the salesperson."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    company_name: str | None = Field(None, max_length=80)
    prices: tuple[AgentPrice, ...] = Field((), max_length=50)
    included: str | None = Field(None, max_length=600)
    menu: str | None = Field(None, max_length=600)
    cities: tuple[str, ...] = Field((), max_length=200)
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
    def _named(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not 1 <= len(c.strip()) <= 80 for c in value):
            raise ValueError("each city is 1 to 80 characters")
        return tuple(c.strip() for c in value)


class AgentSettings(BaseModel):
    """A company's agent settings; ``PUT`` replaces them whole."""

    model_config = ConfigDict(
        frozen=True,
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
    business_hours: tuple[AgentOpeningHours, ...] = Field((), max_length=14)
    out_of_hours_reply: str | None = Field(
        None,
        min_length=1,
        max_length=500,
        description="Said once a day to a lead writing out of hours (the agent still answers); default: from "
        "the hours",
    )
    qualify_on: tuple[Criterion, ...] | None = Field(
        None,
        min_length=1,
        max_length=4,
        description="Slots a lead needs, confirmed, to be qualified; null: the service default",
    )
    approximate_ok: bool | None = Field(
        None,
        description='Whether estimates ("uns 100", "entre 10 e 12 mil") count; null: the service default',
    )
    score_threshold: float | None = Field(None, ge=0, le=1, description="Lead score needed besides the slots")
    handoff_keywords: tuple[str, ...] = Field(
        (),
        max_length=30,
        examples=[["gerente", "reclamação"]],
        description="Words or phrases that hand the lead to a person, besides the agent's own",
    )
    handoff_on_human_reply: bool = Field(
        True, description="A person replying from the company's phone hands the lead off"
    )
    templates: dict[str, str | list[str]] = Field(
        default_factory=dict, max_length=40, description="Replies in the company's words, by template name"
    )
    knowledge: AgentKnowledge = Field(default_factory=AgentKnowledge)

    @field_validator("qualify_on")
    @classmethod
    def _distinct(cls, value: tuple[Criterion, ...] | None) -> tuple[Criterion, ...] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("criteria must not repeat")
        return value

    @field_validator("handoff_keywords")
    @classmethod
    def _keywords(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not 2 <= len(k.strip()) <= 60 for k in value):
            raise ValueError("each keyword is 2 to 60 characters")
        return tuple(k.strip() for k in value)

    @field_validator("templates")
    @classmethod
    def _texts(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for name, text in value.items():
            texts = [text] if isinstance(text, str) else text
            if not texts or any(not 1 <= len(t) <= 500 for t in texts) or len(texts) > 5 or len(name) > 40:
                raise ValueError(f"template {name[:40]!r}: 1 to 5 texts of 1 to 500 characters")
        return value
