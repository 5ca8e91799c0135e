"""One lead's conversation: its state, and the pure step from a message to the next state and the reply.

``advance`` does no I/O: the handler loads the state, calls it, and stores the new state together with the
reply (``store``), so that the same received message always yields the same, single answer.

What the agent records is only what the lead said plainly or confirmed: a reading that may be a guess (a
misspelt month, a weekday that is not that day's, a part of a head count, a value the model read) waits in
``pending`` and is asked back; a question is answered (``answers``), never taken as a value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from agent_runtime import answers, hours, replies
from agent_runtime.knowledge import EMPTY, Knowledge
from agent_runtime.qualification import Assessment, Rules, assess
from agent_runtime.readings import SLOT_ORDER, Extraction, Reading, SlotName, Slots
from agent_runtime.replies import Voice


class Conversation(BaseModel):
    """Stored per lead (JSON, with a TTL). ``version`` counts applied turns: a commit that finds another
    version stored knows the state moved under it."""

    model_config = ConfigDict(frozen=True)

    version: int = 0
    slots: Slots = Field(default_factory=Slots)
    asked: SlotName | None = None
    attempts: dict[str, int] = Field(default_factory=dict)
    declined: tuple[SlotName, ...] = ()
    month_hint: tuple[int, int] | None = None
    qualified: bool = False
    budget_questioned: bool = False
    #: The received event whose answer stored this state (``Store.commit_many``). Versions restart at 0 when the
    #: conversation expires or Redis loses it; this does not repeat, so a remembered state is checked by it.
    made_by: str | None = None
    #: A reading asked back and not yet confirmed, and how many times it was asked.
    pending: Reading | None = None
    pending_asks: int = 0
    #: The lead's first name (from a message or the WhatsApp profile), to address them by.
    name: str | None = None
    #: Questions the agent could not answer from the company's knowledge: for the salesperson.
    notes: tuple[str, ...] = ()
    #: The local day the lead was last told the team is out of hours (said once a day, not every message).
    out_of_hours_told: dt.date | None = None


@dataclass(frozen=True)
class Turn:
    conversation: Conversation
    paragraphs: list[str]
    qualification: Assessment | None = None  # set on the turn that qualifies the lead, and only then
    handoff: bool = False
    changed: list[SlotName] = field(default_factory=list)


def media_turn(conversation: Conversation, media_type: str | None) -> Turn:
    text = replies.MEDIA.get(media_type or "", replies.MEDIA_DEFAULT)
    return Turn(conversation.model_copy(update={"version": conversation.version + 1}), [text])


def advance(
    conversation: Conversation,
    found: Extraction,
    *,
    rules: Rules,
    knowledge: Knowledge = EMPTY,
    today: dt.date | None = None,
    profile_name: str | None = None,
    now: dt.datetime | None = None,
) -> Turn:
    """The conversation after one text message, and what to answer; ``now`` is the company's local time (the
    business hours are checked against it; None: not checked)."""
    first = conversation.version == 0
    version = conversation.version + 1
    name = found.name or conversation.name or profile_name
    voice = Voice(knowledge.templates, name=name)
    before = conversation.slots
    heard = found.slots

    pending, pending_asks, affirmed, denied = _resolve(conversation, found)
    if affirmed is not None:
        heard = heard.merged(affirmed)
    slots = before.merged(heard)
    closed = _out_of_hours(conversation, knowledge, now, voice)
    told = now.date() if closed and now is not None else conversation.out_of_hours_told
    if found.handoff or _asks_for_person(found, knowledge):
        state = conversation.model_copy(
            update={"version": version, "slots": slots, "name": name, "out_of_hours_told": told}
        )
        return Turn(state, [voice.say("handoff"), *([closed] if closed else [])], handoff=True)
    if pending is None:
        # A new reading to check: one at a time, the first that the message did not also state plainly.
        fresh = [r for r in found.unsure if not heard.has(r.slot)]
        fresh = [r for r in fresh if not (r.reason == "question" and slots.has(r.slot))]
        if fresh:
            pending, pending_asks = fresh[0], 0

    changed = [s for s in SLOT_ORDER if heard.has(s) and _value(slots, s) != _value(before, s)]
    corrected = any(before.has(s) for s in changed)
    declined = conversation.declined
    if found.declined and found.declined not in declined and not slots.has(found.declined):
        declined = (*declined, found.declined)
    month_hint = None if slots.date is not None else (found.month_hint or conversation.month_hint)

    paragraphs: list[str] = []
    if first:
        paragraphs.append(voice.say("greeting"))
    if closed:
        paragraphs.append(closed)
    notes = list(conversation.notes)
    for question in found.questions:
        reply = answers.answer(question, knowledge, slots, voice, today=today or dt.date.min, turn=version)
        paragraphs.append(reply.text)
        if reply.note and reply.note not in notes:
            notes.append(reply.note)
    if found.past_date:
        paragraphs.append(voice.say("past_date"))
    if confirmed := replies.confirmation(changed, slots, corrected=corrected, today=today, voice=voice):
        paragraphs.append(confirmed)
    if found.declined and found.declined in declined and found.declined not in conversation.declined:
        paragraphs.append(voice.say("declined", slot=replies.SLOT_LABELS[found.declined]))

    effective = _rules(rules, knowledge)
    assessment = assess(slots, effective)
    update: dict[str, object] = {
        "version": version,
        "slots": slots,
        "month_hint": month_hint,
        "name": name,
        "notes": tuple(notes),
        "out_of_hours_told": told,
    }
    attempts = dict(conversation.attempts)
    qualification = None
    asked: SlotName | None = None
    if conversation.qualified:
        paragraphs.append(voice.say("after_qualified", version))
    elif pending is not None:
        paragraphs.append(_check(pending, pending_asks, voice, today))
        asked = pending.slot
        pending_asks += 1
    elif assessment.qualifies:
        paragraphs.append(voice.say("qualified"))
        qualification = assessment
        update["qualified"] = True
    else:
        missing = [s for s in slots.missing() if s not in declined]
        if denied is not None and denied in missing:  # "não" to "Seria 12 de junho?": ask it plainly
            missing.remove(denied)
            missing.insert(0, denied)
        for slot in list(missing):  # asked enough times in every wording we have: the salesperson's, then
            if attempts.get(slot, 0) >= replies.MAX_ASKS:
                missing.remove(slot)
                declined = (*declined, slot)
                paragraphs.append(voice.say("gave_up", slot=replies.SLOT_LABELS[slot]))
        understood = (
            bool(changed)
            or found.greeting
            or found.declined
            or found.past_date
            or month_hint
            or found.questions
            or found.affirm is not None
            or found.name
        )
        if not understood and not first:
            paragraphs.append(voice.say("not_understood", version - 2))
        if month_hint is not None and "date" in missing:
            year, month = month_hint
            paragraphs.append(voice.say("month_day", month=replies.month_name(year, month)))
            asked = "date"
        elif missing:
            asked = missing[0]
            ask = voice.ask(asked, attempts.get(asked, 0))
            paragraphs.append(voice.say("ask_again", question=ask) if denied == asked else ask)
            attempts[asked] = attempts.get(asked, 0) + 1
        elif assessment.plausible is False and not conversation.budget_questioned and slots.guests:
            minimum = round(slots.guests * effective.min_budget_per_guest)
            paragraphs.append(
                voice.say("implausible_budget", guests=slots.guests, minimum=replies.money(minimum))
            )
            asked = "budget"
            update["budget_questioned"] = True
        else:
            unknown = [s for s in effective.required if s in SLOT_ORDER and not slots.has(s)]
            if unknown:  # asked and answered "não sei": not qualified, and said so
                paragraphs.append(voice.say("open_end", version, slots=replies.join_labels(unknown)))
            else:
                paragraphs.append(voice.say("after_qualified", version))
    update |= {
        "asked": asked,
        "attempts": attempts,
        "declined": declined,
        "pending": pending,
        "pending_asks": pending_asks if pending is not None else 0,
    }
    return Turn(conversation.model_copy(update=update), paragraphs, qualification, changed=changed)


def _resolve(
    conversation: Conversation, found: Extraction
) -> tuple[Reading | None, int, Slots | None, SlotName | None]:
    """The pending reading after this message: (still pending, times asked, what was confirmed, slot denied)."""
    pending = conversation.pending
    if pending is None:
        return None, 0, None, None
    if found.slots.has(pending.slot):
        if pending.reason == "partial" and pending.values.guests and found.slots.guests:
            # "E crianças, quantas?" — "umas 20": the whole is the sum of both parts.
            approximate = tuple({*pending.values.approximate, *found.slots.approximate})
            return (
                None,
                0,
                Slots(guests=pending.values.guests + found.slots.guests, approximate=approximate),
                None,
            )
        return None, 0, None, None  # the lead said it plainly: that value, not ours
    if found.affirm is True and pending.reason != "partial" and pending.values.has(pending.slot):
        return None, 0, pending.values, None
    if found.affirm is False:
        return None, 0, None, pending.slot
    if any(r.slot != pending.slot for r in found.unsure) or conversation.pending_asks >= 2:
        return None, 0, None, None  # moved on, or asked twice already: let it go and ask the slot plainly
    return pending, conversation.pending_asks, None, None


def _check(reading: Reading, asks: int, voice: Voice, today: dt.date | None) -> str:
    values = reading.values
    if reading.slot == "date":
        if values.date is None:
            return voice.say("past_date") if reading.reason == "past" else voice.ask("date", asks)
        if reading.reason in {"weekday", "weekday_off"}:
            return voice.say(
                "check_weekday" if reading.reason == "weekday" else "check_weekday_off",
                asks,
                on_weekday=("num " if values.date.weekday() >= 5 else "numa ")
                + replies.WEEKDAY_NAMES[values.date.weekday()],
                day=values.date.day,
                date=replies.long_date(values.date, today=today),
            )
        return voice.say("check", asks, what=replies.long_date(values.date, today=today))
    if reading.slot == "guests" and reading.reason == "partial":
        group, many = _GROUPS.get(reading.missing or "", ("os demais", "quantos"))
        return voice.say("check_partial", asks, missing=group, how_many=many, part=values.guests)
    if reading.slot == "location" and values.location:
        return voice.say("check_city", asks, city=values.location)
    return voice.say("check", asks, what=replies.describe(reading.slot, values, today=today))


#: A group of guests as a reply names it, and the word that counts it.
_GROUPS = {
    "criancas": ("as crianças", "quantas"),
    "adultos": ("os adultos", "quantos"),
    "adolescentes": ("os adolescentes", "quantos"),
    "jovens": ("os jovens", "quantos"),
    "idosos": ("os idosos", "quantos"),
    "bebes": ("os bebês", "quantos"),
    "familia": ("a família", "quantas pessoas"),
    "familiares": ("os familiares", "quantos"),
    "acompanhantes": ("os acompanhantes", "quantos"),
}


def _rules(rules: Rules, knowledge: Knowledge) -> Rules:
    required = knowledge.required if knowledge.required is not None else rules.required
    approximate_ok = (
        knowledge.approximate_ok if knowledge.approximate_ok is not None else rules.approximate_ok
    )
    return Rules(
        required=required,
        min_budget_per_guest=rules.min_budget_per_guest,
        approximate_ok=approximate_ok,
        min_score=knowledge.min_score if knowledge.min_score is not None else rules.min_score,
    )


def _asks_for_person(found: Extraction, knowledge: Knowledge) -> bool:
    """One of the company's handoff keywords, as a whole word or phrase of the message."""
    if not knowledge.handoff_keywords:
        return False
    said = f" {' '.join(found.folded.split())} "
    return any(f" {keyword} " in said for keyword in knowledge.handoff_keywords)


def _out_of_hours(
    conversation: Conversation, knowledge: Knowledge, now: dt.datetime | None, voice: Voice
) -> str:
    """What to say about the team being away, once a local day; "" within hours, without hours or said today."""
    if now is None or not knowledge.business_hours or conversation.out_of_hours_told == now.date():
        return ""
    if hours.is_open(knowledge.business_hours, now):
        return ""
    if knowledge.out_of_hours_reply:
        return knowledge.out_of_hours_reply
    return voice.say("out_of_hours", hours=hours.describe(knowledge.business_hours))


def _value(slots: Slots, slot: SlotName) -> object:
    if slot == "budget":
        return (slots.budget_min, slots.budget_max)
    return getattr(slots, slot)
