"""One lead's conversation: its state, and the pure step from a message to the next state and the reply.

``advance`` does no I/O: the handler loads the state, calls it, and stores the new state together with the
reply (``store``), so that the same received message always yields the same, single answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from agent_runtime import replies
from agent_runtime.qualification import Assessment, Rules, assess
from agent_runtime.slots import SLOT_ORDER, Extraction, SlotName, Slots


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


def advance(conversation: Conversation, found: Extraction, *, rules: Rules) -> Turn:
    """The conversation after one text message, and what to answer."""
    first = conversation.version == 0
    version = conversation.version + 1
    before = conversation.slots
    slots = before.merged(found.slots)
    if found.handoff:
        state = conversation.model_copy(update={"version": version, "slots": slots})
        return Turn(state, [replies.HANDOFF], handoff=True)

    changed = [s for s in SLOT_ORDER if found.slots.has(s) and _value(slots, s) != _value(before, s)]
    corrected = any(before.has(s) for s in changed)
    declined = conversation.declined
    if found.declined and found.declined not in declined:
        declined = (*declined, found.declined)
    month_hint = None if slots.date is not None else (found.month_hint or conversation.month_hint)

    paragraphs: list[str] = []
    if first:
        paragraphs.append(replies.GREETING)
    if found.past_date:
        paragraphs.append(replies.PAST_DATE)
    if confirmed := replies.confirmation(changed, slots, corrected=corrected):
        paragraphs.append(confirmed)

    assessment = assess(slots, rules)
    update: dict[str, object] = {
        "version": version,
        "slots": slots,
        "declined": declined,
        "month_hint": month_hint,
    }
    attempts = dict(conversation.attempts)
    qualification = None
    asked: SlotName | None = None
    if conversation.qualified:
        paragraphs.append(replies.after_qualified())
    elif assessment.qualifies:
        paragraphs.append(replies.qualified())
        qualification = assessment
        update["qualified"] = True
    else:
        missing = [s for s in slots.missing() if s not in declined]
        understood = bool(changed) or found.greeting or found.declined or found.past_date or month_hint
        if not understood and not first:
            paragraphs.append(replies.NOT_UNDERSTOOD)
        if month_hint is not None and "date" in missing:
            year, month = month_hint
            paragraphs.append(replies.MONTH_DAY.format(month=replies.month_name(year, month)))
            asked = "date"
        elif missing:
            asked = missing[0]
            paragraphs.append(replies.ask(asked, attempts.get(asked, 0)))
            attempts[asked] = attempts.get(asked, 0) + 1
        elif assessment.plausible is False and not conversation.budget_questioned and slots.guests:
            minimum = round(slots.guests * rules.min_budget_per_guest)
            paragraphs.append(replies.implausible_budget(slots.guests, minimum))
            asked = "budget"
            update["budget_questioned"] = True
        else:
            # Everything asked and answered (or declined): a person takes it from here, unqualified.
            paragraphs.append(replies.after_qualified())
    update["asked"] = asked
    update["attempts"] = attempts
    return Turn(conversation.model_copy(update=update), paragraphs, qualification, changed=changed)


def _value(slots: Slots, slot: SlotName) -> object:
    if slot == "budget":
        return (slots.budget_min, slots.budget_max)
    return getattr(slots, slot)
