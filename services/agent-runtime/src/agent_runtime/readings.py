"""What the agent knows about an event (``Slots``), what one message says (``Extraction``), and the readings it
asks back before recording them (``Reading``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent_runtime.topics import Topic
from agent_runtime.vocabulary import GENERIC_EVENT_TYPES

SlotName = Literal["event_type", "date", "guests", "location", "budget"]
#: The order in which the agent asks for what is missing.
SLOT_ORDER: tuple[SlotName, ...] = ("event_type", "date", "guests", "location", "budget")


class Slots(BaseModel):
    """What is known about the event. ``budget_min``/``budget_max`` in BRL: equal for one value, ``min``
    alone for "a partir de", ``max`` alone for "até"."""

    model_config = ConfigDict(frozen=True)

    event_type: str | None = None
    date: dt.date | None = None
    guests: int | None = Field(default=None, ge=1)
    location: str | None = None
    budget_min: int | None = Field(default=None, ge=0)
    budget_max: int | None = Field(default=None, ge=0)
    #: The low end when the lead gave a range of guests ("entre 100 e 150": 100, and ``guests`` 150).
    guests_min: int | None = Field(default=None, ge=1)
    #: Slots the lead gave as an estimate ("uns 100", "entre 10 e 12 mil"): recorded, and said to be approximate.
    approximate: tuple[SlotName, ...] = ()

    def has(self, slot: SlotName) -> bool:
        if slot == "budget":
            return self.budget_min is not None or self.budget_max is not None
        return getattr(self, slot) is not None

    def missing(self) -> list[SlotName]:
        return [slot for slot in SLOT_ORDER if not self.has(slot)]

    @property
    def budget(self) -> int | None:
        """The figure to reason with: the top of a range, the ceiling of "até", the floor of "a partir de"."""
        return self.budget_max if self.budget_max is not None else self.budget_min

    def merged(self, found: Slots) -> Slots:
        """These slots with every slot ``found`` names replacing ours (the latest word wins)."""
        update = found.model_dump(exclude_none=True, exclude={"approximate"})
        if "budget_min" in update or "budget_max" in update:
            update.setdefault("budget_min", None)
            update.setdefault("budget_max", None)
        if "guests" in update:
            update.setdefault("guests_min", None)
        named = {slot for slot in SLOT_ORDER if found.has(slot)}
        kept = tuple(slot for slot in self.approximate if slot not in named)
        update["approximate"] = kept + tuple(slot for slot in found.approximate if slot not in kept)
        if (
            "event_type" in update
            and self.event_type is not None
            and update["event_type"] in GENERIC_EVENT_TYPES
            and self.event_type not in GENERIC_EVENT_TYPES
        ):
            del update["event_type"]  # "o buffet do casamento": still a wedding
        return self.model_copy(update=update)


class Reading(BaseModel):
    """A value the lead may not have meant: asked back ("Seria 12 de junho?"), recorded only once confirmed.

    ``reason``: ``typo`` (a misspelt month), ``weekday`` (the weekday said is not that day's), ``past`` (that
    day already went by: the next one is a guess), ``partial`` (a count that is a part of a sum: "uns 100 mais
    as crianças"; ``missing`` names the group still to count), ``question`` (named in a question: "tem data
    livre dia 12/03?"), ``model`` (read by the language model, never recorded unconfirmed).
    """

    model_config = ConfigDict(frozen=True)

    slot: SlotName
    values: Slots
    reason: Literal["typo", "weekday", "weekday_off", "past", "partial", "question", "model"]
    missing: str | None = None


@dataclass(frozen=True)
class Question:
    """A question the lead asked, with what it names: the city of "vocês atendem em Jundiaí?", the date of
    "tem data livre dia 12/03?", the guests of "quanto fica para 100 pessoas?"."""

    topic: Topic
    city: str | None = None
    date: dt.date | None = None
    guests: int | None = None
    asked: str = (
        ""  # the question's clause (normalized): what the salesperson's note names when no topic is sure
    )


@dataclass(frozen=True)
class Extraction:
    """What one message says: slots stated plainly, readings to ask back, questions, and the intents around
    them."""

    slots: Slots = field(default_factory=Slots)
    handoff: bool = False
    greeting: bool = False
    correction: bool = False
    declined: SlotName | None = None  # "ainda não sei" (the slot named, or the one we asked for)
    past_date: bool = False
    month_hint: tuple[int, int] | None = None
    unsure: tuple[Reading, ...] = ()
    questions: tuple[Question, ...] = ()
    affirm: bool | None = None  # "sim"/"isso" (True) or "não" (False) at the start of the message
    name: str | None = None
    #: The message folded (lower case, no accents): what a company's handoff keywords are looked for in.
    folded: str = ""
