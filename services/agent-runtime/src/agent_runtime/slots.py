"""Slot filling by rules: what one pt-BR message says about the event, with no network.

``extract`` reads a message in a fixed order — questions (read apart, then blanked: what a lead asks about is
never what they said), handoff and greeting, date, event type, guests, budget, location — and blanks out each
span it used, so that ``15 anos`` is not read again as a guest count, nor ``12/03`` as money. A reading that
may be a guess (``readings.Reading``) goes to ``Extraction.unsure``, to be asked back, not to ``slots``.
``expecting`` is the slot the agent asked for last: it lets a bare answer ("150", "Campinas", "uns 20 mil")
fill that slot.
"""

from __future__ import annotations

import datetime as dt
import re

from agent_runtime import names, questions
from agent_runtime.dates import find_date
from agent_runtime.numbers import parse_amount, scale, spell_out
from agent_runtime.places import city_in, locate
from agent_runtime.readings import Extraction, Question, Reading, SlotName, Slots
from agent_runtime.topics import Topic
from agent_runtime.vocabulary import (
    CITY_INDEX,
    EVENT_TYPES,
    GUEST_NOUNS,
    MONTHS,
    fold,
    normalize_folded,
)

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
_YES = re.compile(
    r"^\s*(?:sim|s|ss|isso|isso mesmo|isso ai|exato|exatamente|correto|certo|certissimo|confirmo|confirmado|pode ser"
    r"|aham|uhum|positivo|perfeito|e sim|e isso|claro|com certeza|isso msm|issu|yes)\b"
)
_NO = re.compile(r"^\s*(?:nao|n|nop|negativo|errado|nada disso|na verdade nao)\b(?!\s+sei)")
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
_BIRTHDAY = re.compile(r"\b(?:festa|comemoracao) d[eo]s? \d{1,3} anos\b")
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
    folded = fold(text)
    normalized, fixed = normalize_folded(folded)
    t = spell_out(normalized)
    found: dict[str, object] = {}
    unsure: list[Reading] = []
    greeting = bool(_GREETING.search(t))
    correction = bool(_CORRECTION.search(t))
    affirm = True if _YES.match(t) else False if _NO.match(t) else None
    asked: list[Question] = []
    for q in questions.find(t):  # what a lead asks about is never what they said: read apart, then blanked
        asked.append(_question(q, today))
        t = _blank(t, q.start, q.end)
    handoff = bool(_HANDOFF.search(t))
    for question in asked:
        if question.topic == "availability" and question.date is not None:
            unsure.append(Reading(slot="date", values=Slots(date=question.date), reason="question"))
        elif question.topic == "cities" and question.city is not None:
            unsure.append(Reading(slot="location", values=Slots(location=question.city), reason="question"))
    past = False
    hint: tuple[int, int] | None = None

    if (d := find_date(t, today, month_hint=month_hint if expecting == "date" else None)) is not None:
        doubt = d.doubt
        if doubt is None and any(w in fixed for w in t[d.start : d.end].split() if w in MONTHS):
            doubt = "typo"  # "12 de juhno" read as June: a guess
        if doubt is not None:
            unsure.append(Reading(slot="date", values=Slots(date=d.value), reason=doubt))
        elif d.value is not None:
            found["date"] = d.value
        past, hint = d.past, d.month
        t = _blank(t, d.start, d.end)

    for label, pattern in _EVENT_TYPES:
        if m := pattern.search(t):
            found["event_type"] = label
            t = _blank(t, m.start(), m.end())
            break
    else:
        if m := _BIRTHDAY.search(t):  # "festa de 50 anos do meu pai": a birthday, whatever the age but 15
            found["event_type"] = "aniversário"
            t = _blank(t, m.start(), m.end())

    approximate: list[SlotName] = []
    t = _guests(t, found, expecting, approximate, unsure)
    t = _budget(t, found, expecting, approximate)
    # A message that asked something answers the slot asked for only in words that name it ("em Campinas"):
    # what is left of "o que tá incluso?" is not a place.
    locate(text, t, found, None if asked else expecting)

    declined = None
    if (m := _DECLINED.search(t)) is not None:
        named = _declined_slot(t, m.start())
        declined = named or (
            expecting if expecting is not None and expecting not in _found_names(found) else None
        )
    found["approximate"] = tuple(approximate)
    return Extraction(
        slots=Slots.model_validate(found),
        handoff=handoff,
        greeting=greeting,
        correction=correction,
        declined=declined,
        past_date=past,
        month_hint=hint,
        unsure=tuple(unsure),
        questions=tuple(asked),
        affirm=affirm,
        name=names.said(text),
        folded=folded,
    )


def _question(q: questions.Asked, today: dt.date) -> Question:
    clause = q.clause
    date = None
    if q.topic == "availability" and (d := find_date(clause, today)) is not None and not d.past:
        date = d.value
    guests = None
    if m := _GUEST_NOUN.search(clause):
        value = parse_amount(m.group(1))
        guests = int(value) if value is not None and 1 <= value <= 100_000 else None
    city = _city_named(clause)
    topic: Topic = "cities" if q.topic == "other" and city is not None else q.topic  # "fazem festa em Itu?"
    return Question(topic, city=city, date=date, guests=guests, asked=q.context or clause)


def _city_named(clause: str) -> str | None:
    city = city_in(clause)
    return CITY_INDEX[city] if city else None


_SLOT_WORDS: tuple[tuple[SlotName, re.Pattern[str]], ...] = (
    ("budget", re.compile(r"\b(?:orcamento|valor|verba|quanto (?:investir|gastar|pagar)|investir|gastar)\b")),
    ("date", re.compile(r"\b(?:data|dia|quando|mes)\b")),
    ("guests", re.compile(r"\b(?:pessoas|convidados|quantos|quantas|quantidade)\b")),
    ("location", re.compile(r"\b(?:local|lugar|onde|cidade|espaco|salao)\b")),
    ("event_type", re.compile(r"\b(?:tipo de (?:evento|festa)|que (?:evento|festa))\b")),
)


def _declined_slot(t: str, at: int) -> SlotName | None:
    """The slot a "não sei" names in its sentence ("não sei ainda o orçamento", "a data ainda não sei")."""
    start = max(t.rfind(c, 0, at) for c in ".;!?,") + 1
    ends = [i for i in (t.find(c, at) for c in ".;!?,") if i != -1]
    sentence = t[start : min(ends) if ends else len(t)]
    for slot, pattern in _SLOT_WORDS:
        if pattern.search(sentence):
            return slot
    return None


def _found_names(found: dict[str, object]) -> set[str]:
    return {"budget" if k.startswith("budget") else k for k in found}


def _blank(text: str, start: int, end: int) -> str:
    # A separator rather than nothing: the words on either side must not join into a new match.
    return text[:start] + " ; " + text[end:]


def _guests(
    t: str,
    found: dict[str, object],
    expecting: SlotName | None,
    approximate: list[SlotName],
    unsure: list[Reading],
) -> str:
    groups = list(_GROUP.finditer(t))
    if len(groups) >= 2:  # "25 adultos e 15 crianças": the whole is the sum
        found["guests"] = sum(int(g.group(2)) for g in groups)
        if any(g.group(1) for g in groups) or any(_approx_after(t, g.end()) for g in groups):
            approximate.append("guests")
        for g in reversed(groups):  # from the end: a blank changes the length of what comes after it
            t = _blank(t, g.start(), g.end())
        return t
    if len(groups) == 1 and (other := _OTHER_GROUP.search(t, groups[0].end())):
        # "uns 100 adultos mais as crianças": a part, not the whole; asked for the rest, not recorded.
        g = groups[0]
        part = Slots(guests=int(g.group(2)), approximate=("guests",) if g.group(1) else ())
        unsure.append(Reading(slot="guests", values=part, reason="partial", missing=other.group(1)))
        return _blank(_blank(t, other.start(), other.end()), g.start(), g.end())
    if m := _PART.search(t):  # "uns 100 mais as crianças"
        part = Slots(guests=int(m.group(2)), approximate=("guests",) if m.group(1) else ())
        unsure.append(Reading(slot="guests", values=part, reason="partial", missing=m.group(3)))
        return _blank(t, m.start(), m.end())
    if m := _GUEST_RANGE.search(t):
        low, high = int(m.group(1)), int(m.group(2))
        if 0 < low <= high:
            found["guests"] = high  # plan for the top of the range
            if low < high:
                found["guests_min"] = low
                approximate.append("guests")
            return _blank(t, m.start(), m.end())
    if m := _GUEST_NOUN.search(t):
        value = parse_amount(m.group(1))
        if value is not None:
            value = scale(value, "mil" if m.group(2) else None)
            if 1 <= value <= 100_000:
                found["guests"] = int(value)
                if _approx_before(t, m.start()) or _approx_after(t, m.end()) or _APPROX_RE.match(m.group(0)):
                    approximate.append("guests")
                if (rest := _OTHER_GROUP.search(t, m.end())) is not None:
                    part = Slots(guests=int(value), approximate=tuple(approximate))
                    del found["guests"]
                    approximate.clear()
                    unsure.append(
                        Reading(slot="guests", values=part, reason="partial", missing=rest.group(1))
                    )
                    t = _blank(t, rest.start(), rest.end())
                return _blank(t, m.start(), m.end())
    if m := _GUEST_VERB.search(t):
        value = int(m.group(1))
        if 2 <= value <= 5000 and not _looks_like_money(t, m.end()):
            found["guests"] = value
            if re.search(rf"\b{_APPROX}\s", m.group(0)) or _approx_after(t, m.end()):
                approximate.append("guests")
            if (rest := _OTHER_GROUP.search(t, m.end())) is not None:
                del found["guests"]
                if "guests" in approximate:
                    approximate.remove("guests")
                part = Slots(guests=value)
                unsure.append(Reading(slot="guests", values=part, reason="partial", missing=rest.group(1)))
            return _blank(t, m.start(), m.end())
    # A bare count answers the question asked, also beside a question of the lead's ("uns 130. aceitam pix?").
    if expecting == "guests" and (m := re.fullmatch(rf"\s*({_APPROX}\s+)?(\d{{1,4}})[\s.!;]*", t)):
        found["guests"] = int(m.group(2))
        if m.group(1):
            approximate.append("guests")
        return _blank(t, m.start(), m.end())
    return t


_GROUPS = r"adultos|criancas|adolescentes|jovens|idosos|bebes|homens|mulheres|convidados adultos"
_GROUP = re.compile(rf"\b({_APPROX}\s)?(\d{{1,5}})\s({_GROUPS})\b")
# The rest of the party named without a number: "mais as crianças", "fora os adultos", "+ crianças".
_OTHER_GROUP = re.compile(
    r"(?:\bmais|\bfora|\bsem contar|\balem d[aeo]s?|\+|\be)\s(?:as |os |umas |uns |algumas |alguns |a |o )?"
    r"(?:(?:mais )?(criancas|adultos|adolescentes|jovens|idosos|bebes|familia|familiares|acompanhantes)\b)"
)
_PART = re.compile(rf"\b({_APPROX}\s)?(\d{{1,5}})\s?{_OTHER_GROUP.pattern}")
_APPROX_END = re.compile(rf"\b{_APPROX}\s$")
_APPROX_RE = re.compile(rf"\b{_APPROX}\s")
_APPROX_AFTER = re.compile(
    r"\s?(?:mais ou menos|aproximadamente|por ai|ou mais|ou menos|\+-|\+/-|no maximo)\b"
)


def _approx_before(t: str, at: int) -> bool:
    return bool(_APPROX_END.search(t, max(0, at - 24), at))


def _approx_after(t: str, at: int) -> bool:
    return bool(_APPROX_AFTER.match(t, at))


def _looks_like_money(t: str, end: int) -> bool:
    return bool(re.match(r"\s*(?:mil|k|reais|r\$)", t[end:]))


def _budget(t: str, found: dict[str, object], expecting: SlotName | None, approximate: list[SlotName]) -> str:
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
                if low < high:
                    approximate.append("budget")
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
        if _approx_before(t, m.start()) or _approx_after(t, m.end()):
            approximate.append("budget")  # "uns 20 mil", "20 mil mais ou menos"
        if bound in {"ate", "no maximo", "menos de"}:
            found["budget_max"] = amount
        elif bound in {"a partir de", "no minimo", "acima de", "mais de"}:
            found["budget_min"] = amount
        else:
            found["budget_min"] = found["budget_max"] = amount
        return _blank(t, m.start(), m.end())
    return t
