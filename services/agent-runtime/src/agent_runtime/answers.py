"""Answers to the questions leads ask, only from the company's knowledge (``knowledge.py``); what it does not
know is deferred honestly ("vou confirmar com a equipe") and noted for the salesperson."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from agent_runtime import hours
from agent_runtime.knowledge import Knowledge
from agent_runtime.readings import Question, Slots
from agent_runtime.replies import Voice, money, on_date


@dataclass(frozen=True)
class Answer:
    text: str
    note: str | None = None  # for the salesperson, when the agent could not answer


_DEFERRED = {
    "price": "os valores",
    "included": "o que está incluso",
    "menu": "o cardápio",
    "cities": "o atendimento na sua cidade",
    "availability": "a disponibilidade da data",
    "payment": "as formas de pagamento",
    "address": "o endereço",
    "hours": "o horário de atendimento",
    "scam": "a empresa",
    "parking": "o estacionamento",
    "cancellation": "cancelamento e remarcação",
    "photos": "fotos e vídeos dos nossos eventos",
    "other": "a sua pergunta",
}


def answer(
    question: Question, knowledge: Knowledge, slots: Slots, voice: Voice, *, today: dt.date, turn: int = 0
) -> Answer:
    """``turn`` picks the wording among a template's variants: the same question asked again is not answered
    word for word."""
    topic = question.topic
    if topic == "robot":
        company = f"da {knowledge.company_name}" if knowledge.company_name else "da nossa equipe"
        return Answer(voice.say("robot", turn, of_company=company))
    if topic == "scam":
        if knowledge.legitimacy:
            return Answer(voice.say("scam", legitimacy=knowledge.legitimacy))
        return Answer(voice.say("scam_unknown", turn), note="perguntou se a empresa é confiável")
    if topic == "price" and (text := _price(question, knowledge, slots, voice)) is not None:
        return Answer(text)
    if topic == "cities" and question.city is not None and knowledge.serves(question.city):
        return Answer(voice.say("city_served", turn, city=question.city))
    if topic == "cities" and question.city is None and knowledge.cities:
        return Answer(
            f"Atendemos em {_list(knowledge.cities)}." + (f" {knowledge.travel}" if knowledge.travel else "")
        )
    for field in ("included", "menu", "payment", "address", "hours", "parking", "cancellation"):
        if topic == field and (text := getattr(knowledge, field)):
            return Answer(str(text))
    if topic == "hours" and (opening := hours.describe(knowledge.business_hours)):
        return Answer(f"Atendemos {opening}.")
    what = _DEFERRED[topic]
    if topic == "cities" and question.city is not None:
        what = f"o atendimento em {question.city}"
    if topic == "availability" and question.date is not None:
        what = f"a disponibilidade {on_date(question.date, today=today)}"
    note = f"perguntou sobre {what}"
    if topic == "other" and question.asked:
        # No topic was sure ("never answer on a guess"): the note names the question itself, for the team.
        note = f"perguntou “{_quoted(question.asked)}”"
    return Answer(voice.say("defer", turn, topic=what), note=note)


_LONG_NUMBER = re.compile(r"\d[\d .-]{4,}\d")  # a phone or a document number, never copied into a note
_NOTE_MAX = 80


def _quoted(asked: str) -> str:
    text = _LONG_NUMBER.sub("…", asked.strip())
    return text if len(text) <= _NOTE_MAX else text[: _NOTE_MAX - 1].rstrip() + "…"


def _price(question: Question, knowledge: Knowledge, slots: Slots, voice: Voice) -> str | None:
    row = knowledge.price_for(slots.event_type)
    if row is None:
        return None
    event = slots.event_type or "eventos"
    guests = question.guests or slots.guests
    if guests:
        total = max(row.minimum, row.per_guest * guests)
        return voice.say(
            "price_total", event=event, guests=guests, total=money(total), per_guest=money(row.per_guest)
        )
    return voice.say(
        "price_per_guest", event=event, per_guest=money(row.per_guest), minimum=money(row.minimum)
    )


def _list(items: tuple[str, ...]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " e " + items[-1]
