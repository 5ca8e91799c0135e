"""When a lead is worth a salesperson's call, how sure we are, and the one-line summary they read.

Criteria carry the catalog's names (``budget``, ``date``, ``location``) plus ``guests``. By default a lead
qualifies once all four are known *and* the budget is plausible for the guest count: a party for 300 on
R$ 2.000 is a conversation to have, not a deal to hand over.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent_runtime import replies
from agent_runtime.readings import SLOT_ORDER, Slots

Criterion = str
CRITERIA: tuple[Criterion, ...] = ("budget", "date", "location", "guests")


@dataclass(frozen=True)
class Rules:
    required: tuple[Criterion, ...] = CRITERIA
    #: BRL per guest below which a budget is not plausible (a simple buffet costs more than this).
    min_budget_per_guest: float = 50.0
    #: Whether an estimate ("uns 100", "entre 10 e 12 mil") meets a criterion (``AGENT_QUALIFY_APPROXIMATE``).
    approximate_ok: bool = True
    #: The score a lead needs besides the required criteria (a company's ``score_threshold``).
    min_score: float = 0.0


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
    firm = met if rules.approximate_ok else tuple(c for c in met if c not in slots.approximate)
    qualifies = all(c in firm for c in rules.required) and plausible is not False
    if "budget" in rules.required and "guests" in rules.required:
        qualifies = qualifies and plausible is True
    qualifies = qualifies and round(min(1.0, score), 2) >= rules.min_score
    return Assessment(met=met, plausible=plausible, score=round(min(1.0, score), 2), qualifies=qualifies)


def _known(slots: Slots, criterion: Criterion) -> bool:
    return slots.has("budget") if criterion == "budget" else getattr(slots, criterion) is not None


def summary(slots: Slots, *, notes: tuple[str, ...] = ()) -> str:
    """As the catalog's example: ``Lead qualificado para buffet em 12/03, 120 pessoas.`` — plus place and money,
    then what the lead confirmed, what is an estimate, and the questions left for the salesperson."""
    text = _facts(slots)
    known = [slot for slot in SLOT_ORDER if slots.has(slot)]
    firm = [_LABELS[c] for c in known if c not in slots.approximate]
    rough = [_LABELS[c] for c in known if c in slots.approximate]
    text += f" Confirmado pelo cliente: {', '.join(firm) or 'nada'}."
    if rough:
        text += f" Aproximado: {', '.join(rough)}."
    if notes:
        text += f" A responder: {'; '.join(notes)}."
    return text


_LABELS = {
    "event_type": "tipo",
    "date": "data",
    "guests": "convidados",
    "location": "local",
    "budget": "orçamento",
}


def _facts(slots: Slots) -> str:
    parts = [f"Lead qualificado para {slots.event_type or 'evento'}"]
    if slots.date is not None:
        parts[0] += f" em {replies.short_date(slots.date)}"
    if slots.guests is not None:
        if slots.guests_min is not None:
            parts.append(f"{slots.guests_min} a {slots.guests} pessoas")
        else:
            parts.append(f"{'~' if 'guests' in slots.approximate else ''}{slots.guests} pessoas")
    if slots.location:
        parts.append(slots.location)
    if slots.has("budget"):
        parts.append(f"orçamento {replies.money_range(slots)}")
    return ", ".join(parts) + "."
