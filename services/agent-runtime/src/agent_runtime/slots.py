"""Slot filling by rules: what one pt-BR message says about the event, with no network.

``extract`` reads a message in a fixed order — handoff and greeting, date, event type, guests, budget,
location — and blanks out each span it used, so that ``15 anos`` is not read again as a guest count, nor
``12/03`` as money. ``expecting`` is the slot the agent asked for last: it lets a bare answer ("150",
"Campinas", "uns 20 mil") fill that slot.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent_runtime.dates import find_date
from agent_runtime.numbers import parse_amount, scale, spell_out
from agent_runtime.vocabulary import (
    CITY_INDEX,
    EVENT_TYPES,
    GENERIC_EVENT_TYPES,
    GUEST_NOUNS,
    MONTHS,
    WEEKDAYS,
    fold,
    normalize,
)

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
        update = found.model_dump(exclude_none=True)
        if "budget_min" in update or "budget_max" in update:
            update.setdefault("budget_min", None)
            update.setdefault("budget_max", None)
        if (
            "event_type" in update
            and self.event_type is not None
            and update["event_type"] in GENERIC_EVENT_TYPES
            and self.event_type not in GENERIC_EVENT_TYPES
        ):
            del update["event_type"]  # "o buffet do casamento": still a wedding
        return self.model_copy(update=update)


@dataclass(frozen=True)
class Extraction:
    """What one message says: slots, and the intents around them."""

    slots: Slots = field(default_factory=Slots)
    handoff: bool = False
    greeting: bool = False
    correction: bool = False
    declined: SlotName | None = None  # "ainda não sei" to the slot we asked for
    past_date: bool = False
    month_hint: tuple[int, int] | None = None


_HANDOFF = re.compile(
    r"\b(?:atendente|humano|humana|atendimento humano|pessoa de verdade|pessoa real|gente de verdade"
    r"|falar com (?:um |uma |o |a |algum |alguem)?(?:pessoa|alguem|vendedor|vendedora|consultor|consultora"
    r"|gerente|responsavel|dono|dona)|robo nao|nao quero (?:falar com )?(?:um )?robo)\b"
)
_GREETING = re.compile(r"^\s*(?:oi+|ola|ei|opa|eai|e ai|bom dia|boa tarde|boa noite|tudo bem|hello|hi)\b")
_CORRECTION = re.compile(
    r"\b(?:na verdade|corrigindo|correcao|quer dizer|alias|me enganei|errei|mudou|mudamos|mudança|"
    r"nao e mais|agora sao|agora e|melhor dizendo|retificando)\b"
)
_DECLINED = re.compile(r"\b(?:nao sei|ainda nao (?:sei|defini|decidi|temos|tenho)|sem ideia|nao faco ideia"
                       r"|a definir|indefinid[oa]|nao defini)\b")  # fmt: skip

# Bounded: an unbounded ``\d+(?:[.,]\d+)*`` retried at every digit of "1.1.1.…" is quadratic (issue #20: 15 s
# on 40k characters). No amount or head count has more than 12 digits or 4 groups; a longer run still matches
# in part, and ``parse_amount`` or the range checks refuse it.
_NUM = r"(\d{1,12}(?:[.,]\d{1,12}){0,4})"
_NOUN = "|".join(GUEST_NOUNS)
_APPROX = (
    r"(?:uns|umas|cerca de|aproximadamente|aprox|mais ou menos|quase|ate|no maximo|no minimo|por volta de)"
)
_GUEST_RANGE = re.compile(rf"\b(?:entre\s+|de\s+)?(\d+)\s*(?:a|e|ou|-|/)\s*(\d+)\s*(?:mil\s+)?({_NOUN})\b")
_GUEST_NOUN = re.compile(rf"\b(?:{_APPROX}\s+)?{_NUM}\s*(mil\s+)?({_NOUN})\b")
_GUEST_VERB = re.compile(
    rf"\b(?:somos|seremos|serao|sao|vao ser|vai ter|vao|virao|teremos|para|pra|p/)\s+(?:{_APPROX}\s+)?"
    r"(\d{1,4})\b(?!\s*(?:mil|k\b|reais|r\$|/|[.,]\d|de\s|anos|h\b|horas|dias))"
)
_MONEY_CUE = r"(?:orcamento|verba|valor|investir|investimento|gastar|pagar|budget|custo|preco)"
_MULT = r"(mil|k|milhao|milhoes|mi)"
_MONEY_RANGE = re.compile(
    rf"\b(?:entre|de)\s+(?:r\$\s*)?{_NUM}\s*{_MULT}?\s*(?:reais\s+)?(?:e|a|ate)\s+(?:r\$\s*)?{_NUM}\s*{_MULT}?"
    r"(\s*reais)?"
)
_MONEY = re.compile(
    rf"(?:(\bate|\bno maximo|\ba partir de|\bno minimo|\bacima de|\bmais de|\bmenos de)\s+)?"
    rf"(r\$\s*)?{_NUM}\s*{_MULT}?(?:\b|(?<=k))(\s*(?:reais|conto|contos|pila)\b)?"
)
_VENUE_WORDS = (
    r"salao|espaco|chacara|sitio|buffet|clube|hotel|restaurante|igreja|fazenda|casa de festas?|condominio"
    r"|pousada|praia|sede|escritorio|quinta|galpao|rooftop|terraco|area de lazer|casa d[aoe]s?\s+\w+|minha casa"
)
_VENUE = re.compile(rf"\b(?:no|na|em|num|numa)\s+((?:{_VENUE_WORDS})\b[^,.;!?]*)")
_LOCAL_SAID = re.compile(
    r"\b(?:local|lugar|endereco|cidade)\s*(?:e|:|sera|vai ser|seria|fica|eh)?\s*(?:no|na|em)?\s+([^,.;!?]+)"
)
_IN_PLACE = re.compile(r"\b(?:em|aqui em|la em|cidade de|regiao de)\s+([a-z][a-z ]+)")
_STOP = re.compile(  # the space run taken whole and only from its start: linear on any run of spaces
    r"(?<!\s)\s++(?:para|pra|com|dia|no dia|em|e|mas|que|porque|pois|umas?|uns|cerca|por|de \d|ate|orcamento)\b.*$"
)
_NOT_PLACES = frozenset(MONTHS) | frozenset(WEEKDAYS) | {
    "casa", "breve", "torno", "media", "principio", "geral", "festa", "evento", "aberto", "definir", "duvida",
    "janeiro", "ferias", "junho", "julho", "setembro", "mente", "vista", "cima", "baixo",
}  # fmt: skip
_PARTICLES = frozenset({"de", "do", "da", "dos", "das", "e"})
# Longest names first, so "sao jose dos campos" wins over "campos"; two-letter codes ("sp", "bh") only after a
# preposition: alone they are too often something else.
_CITY_NAMES = sorted(CITY_INDEX, key=len, reverse=True)
_CITY = re.compile(
    r"\b(?:em|de|no|na)\s+(" + "|".join(re.escape(n) for n in _CITY_NAMES if len(n) <= 3) + r")\b"
    r"|\b(" + "|".join(re.escape(n) for n in _CITY_NAMES if len(n) > 3) + r")\b"
)
_EVENT_TYPES = [
    (label, re.compile(r"\b(?:" + "|".join(re.escape(p) for p in phrases) + r")\b"))
    for label, phrases in EVENT_TYPES.items()
]


#: What the rules read of one message by default (``AGENT_MAX_INPUT_CHARS``): the patterns below are linear, and
#: this keeps the constant small too (65,536 characters of "1.1.1…" read whole take ~0.1 s of CPU; 2,000, ~3 ms).
MAX_INPUT_CHARS = 2000


def extract(text: str, *, today: dt.date, expecting: SlotName | None = None,
            month_hint: tuple[int, int] | None = None, limit: int | None = MAX_INPUT_CHARS) -> Extraction:  # fmt: skip
    """Everything one message says (its first ``limit`` characters); ``today`` is the company's local date."""
    text = text[:limit]
    t = spell_out(normalize(text))
    found: dict[str, object] = {}
    handoff = bool(_HANDOFF.search(t))
    greeting = bool(_GREETING.search(t))
    correction = bool(_CORRECTION.search(t))
    past = False
    hint: tuple[int, int] | None = None

    if (d := find_date(t, today, month_hint=month_hint if expecting == "date" else None)) is not None:
        if d.value is not None:
            found["date"] = d.value
        past, hint = d.past, d.month
        t = _blank(t, d.start, d.end)

    for label, pattern in _EVENT_TYPES:
        if m := pattern.search(t):
            found["event_type"] = label
            t = _blank(t, m.start(), m.end())
            break

    t = _guests(t, found, expecting)
    t = _budget(t, found, expecting)
    _location(text, t, found, expecting)

    declined = None
    if expecting is not None and expecting not in _found_names(found) and _DECLINED.search(t):
        declined = expecting
    return Extraction(
        slots=Slots.model_validate(found),
        handoff=handoff,
        greeting=greeting,
        correction=correction,
        declined=declined,
        past_date=past,
        month_hint=hint,
    )


def _found_names(found: dict[str, object]) -> set[str]:
    return {"budget" if k.startswith("budget") else k for k in found}


def _blank(text: str, start: int, end: int) -> str:
    # A separator rather than nothing: the words on either side must not join into a new match.
    return text[:start] + " ; " + text[end:]


def _guests(t: str, found: dict[str, object], expecting: SlotName | None) -> str:
    if m := _GUEST_RANGE.search(t):
        low, high = int(m.group(1)), int(m.group(2))
        if 0 < low <= high:
            found["guests"] = high  # plan for the top of the range
            return _blank(t, m.start(), m.end())
    if m := _GUEST_NOUN.search(t):
        value = parse_amount(m.group(1))
        if value is not None:
            value = scale(value, "mil" if m.group(2) else None)
            if 1 <= value <= 100_000:
                found["guests"] = int(value)
                return _blank(t, m.start(), m.end())
    if m := _GUEST_VERB.search(t):
        value = int(m.group(1))
        if 2 <= value <= 5000 and not _looks_like_money(t, m.end()):
            found["guests"] = value
            return _blank(t, m.start(), m.end())
    if expecting == "guests" and (m := re.fullmatch(rf"\s*(?:{_APPROX}\s+)?(\d{{1,4}})\s*[.!]?\s*", t)):
        found["guests"] = int(m.group(1))
        return _blank(t, m.start(), m.end())
    return t


def _looks_like_money(t: str, end: int) -> bool:
    return bool(re.match(r"\s*(?:mil|k|reais|r\$)", t[end:]))


def _budget(t: str, found: dict[str, object], expecting: SlotName | None) -> str:
    cue = bool(re.search(_MONEY_CUE, t)) or expecting == "budget"
    if m := _MONEY_RANGE.search(t):
        low, high = parse_amount(m.group(1)), parse_amount(m.group(3))
        marked = bool(m.group(2) or m.group(4) or m.group(5) or "r$" in m.group(0))
        if low is not None and high is not None and (marked or cue):
            mult = m.group(4) or m.group(2)
            high = scale(high, m.group(4) or m.group(2))
            low = scale(low, m.group(2) or (mult if low < high / 100 else None))  # "10 e 12 mil"
            if 0 < low <= high:
                found["budget_min"], found["budget_max"] = round(low), round(high)
                return _blank(t, m.start(), m.end())
    for m in _MONEY.finditer(t):
        bound, currency, number, mult, unit = m.groups()
        value = parse_amount(number)
        if value is None:
            continue
        value = scale(value, mult)
        marked = bool(currency or mult or unit)
        if not (marked or (cue and value >= 100)):
            continue
        if value < 100:  # "R$ 15" is a slip for fifteen thousand far less often than not money at all
            continue
        amount = round(value)
        if bound in {"ate", "no maximo", "menos de"}:
            found["budget_max"] = amount
        elif bound in {"a partir de", "no minimo", "acima de", "mais de"}:
            found["budget_min"] = amount
        else:
            found["budget_min"] = found["budget_max"] = amount
        return _blank(t, m.start(), m.end())
    return t


def _location(original: str, t: str, found: dict[str, object], expecting: SlotName | None) -> None:
    place: str | None = None
    if m := _LOCAL_SAID.search(t):
        place = _trim(m.group(1))
    if place is None and (m := _VENUE.search(t)):
        place = _trim(m.group(1))
    city = _city(t)
    if place is None and city is None and (m := _IN_PLACE.search(t)):
        candidate = _trim(m.group(1))
        if candidate and _capitalized(original, candidate):
            place = candidate
    if place is None and city is None and expecting == "location" and not found:
        candidate = _trim(re.sub(r"^\s*(?:vai ser |sera |e |fica )?(?:no |na |em |num |numa )?", "", t))
        if candidate and len(candidate.split()) <= 5 and not re.search(r"\d", candidate):
            place = candidate
    city_name = CITY_INDEX[city] if city else None
    if place and city_name and fold(city_name) not in place:
        found["location"] = f"{_as_written(original, place)}, {city_name}"  # "Chácara do tio, Atibaia"
    elif place:
        found["location"] = CITY_INDEX.get(place) or _as_written(original, place)
    elif city_name:
        found["location"] = city_name


def _as_written(original: str, place: str) -> str:
    """``place`` with the lead's own accents and capitals ("salao estrela" → "Salão Estrela"); title case
    when the lead shouted, a capital first letter when they wrote all in lower case."""
    words = re.findall(r"[^\W_]+", original)
    folded = [fold(w) for w in words]
    wanted = place.split()
    for i in range(len(words) - len(wanted) + 1):
        if folded[i : i + len(wanted)] == wanted:
            text = " ".join(words[i : i + len(wanted)])
            break
    else:
        text = place  # typo-corrected on the way: our spelling, then
    if text.isupper() or text.islower():
        return " ".join(
            w.lower() if w.lower() in _PARTICLES and n else w.capitalize() for n, w in enumerate(text.split())
        ) if text.isupper() else text[:1].upper() + text[1:]  # fmt: skip
    return text[:1].upper() + text[1:]


def _trim(text: str) -> str | None:
    text = _STOP.sub("", text.strip(" ;:")).strip(" ;:")
    words = text.split()
    if len(words) > 1 and words[0] in {"o", "a", "os", "as"}:
        words = words[1:]
    if not words or words[0] in _NOT_PLACES or any(w in _NOT_PLACES for w in words[:1]):
        return None
    if words[0] in {"sim", "nao", "ok", "obrigado", "obrigada", "blz", "beleza", "valeu"}:
        return None
    return " ".join(words[:6])


def _city(t: str) -> str | None:
    m = _CITY.search(t)
    return (m.group(1) or m.group(2)) if m else None


def _capitalized(original: str, candidate: str) -> bool:
    """Did the lead write the place as a proper noun ("em Campinas"), or shout the whole message?"""
    first = candidate.split()[0]
    letters = [c for c in original if c.isalpha()]
    shouting = bool(letters) and all(c.isupper() for c in letters)
    words = re.findall(r"[^\W\d_]+", original)
    return shouting or any(fold(w) == first and w[:1].isupper() for w in words)
