"""When a lead is worth a salesperson's call, how sure we are, and the one-line summary they read.

Criteria carry the catalog's names (``budget``, ``date``, ``location``) plus ``guests``. By default a lead
qualifies once all four are known *and* the budget is plausible for the guest count: a party for 300 on
R$ 2.000 is a conversation to have, not a deal to hand over.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent_runtime import replies
from agent_runtime.slots import Slots

Criterion = str
CRITERIA: tuple[Criterion, ...] = ("budget", "date", "location", "guests")


@dataclass(frozen=True)
class Rules:
    required: tuple[Criterion, ...] = CRITERIA
    #: BRL per guest below which a budget is not plausible (a simple buffet costs more than this).
    min_budget_per_guest: float = 50.0


@dataclass(frozen=True)
class Assessment:
    met: tuple[Criterion, ...]
    plausible: bool | None  # None while budget or guests are unknown
    score: float
    qualifies: bool


def assess(slots: Slots, rules: Rules) -> Assessment:
    met = tuple(c for c in CRITERIA if _known(slots, c))
    plausible: bool | None = None
    if slots.budget is not None and slots.guests:
        plausible = slots.budget / slots.guests >= rules.min_budget_per_guest
    # 0.8 for the four criteria, 0.1 for a plausible budget, 0.05 each for knowing what the event is and
    # for a firm figure rather than a range: a salesperson sorts by it, so more detail ranks higher.
    score = 0.2 * len(met)
    if plausible:
        score += 0.1
    if slots.event_type is not None:
        score += 0.05
    if slots.budget_min is not None and slots.budget_min == slots.budget_max:
        score += 0.05
    if plausible is False:
        score *= 0.5
    qualifies = all(c in met for c in rules.required) and plausible is not False
    if "budget" in rules.required and "guests" in rules.required:
        qualifies = qualifies and plausible is True
    return Assessment(met=met, plausible=plausible, score=round(min(1.0, score), 2), qualifies=qualifies)


def _known(slots: Slots, criterion: Criterion) -> bool:
    return slots.has("budget") if criterion == "budget" else getattr(slots, criterion) is not None


def summary(slots: Slots) -> str:
    """As the catalog's example: ``Lead qualificado para buffet em 12/03, 120 pessoas.`` — plus place and money."""
    parts = [f"Lead qualificado para {slots.event_type or 'evento'}"]
    if slots.date is not None:
        parts[0] += f" em {replies.short_date(slots.date)}"
    if slots.guests is not None:
        parts.append(f"{slots.guests} pessoas")
    if slots.location:
        parts.append(slots.location)
    if slots.has("budget"):
        parts.append(f"orçamento {replies.money_range(slots)}")
    return ", ".join(parts) + "."
