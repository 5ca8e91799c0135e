"""The conversation step, without I/O: what it asks, confirms, corrects and when it qualifies."""

from datetime import date, timedelta

from agent_runtime import replies
from agent_runtime.conversation import Conversation, advance
from agent_runtime.dates import find_date
from agent_runtime.qualification import Rules, assess
from agent_runtime.readings import Slots
from agent_runtime.slots import extract
from hypothesis import given
from hypothesis import strategies as st

TODAY = date(2025, 12, 16)
RULES = Rules()


def say(conversation, text):
    found = extract(text, today=TODAY, expecting=conversation.asked, month_hint=conversation.month_hint)
    return advance(conversation, found, rules=RULES)


def test_first_reply_greets_and_asks_for_the_event_type():
    turn = say(Conversation(), "oi")
    assert turn.paragraphs[0] == replies.GREETING
    assert turn.conversation.asked == "event_type"


def test_each_reply_confirms_and_asks_the_next_missing_slot():
    turn = say(Conversation(), "casamento dia 12/03")
    assert "casamento" in turn.paragraphs[1] and "12 de março de 2026" in turn.paragraphs[1]
    assert turn.conversation.asked == "guests"


def test_asking_again_uses_other_words():
    first = say(Conversation(), "casamento")
    second = say(first.conversation, "hmm")
    assert first.paragraphs[-1] != second.paragraphs[-1]
    assert replies.NOT_UNDERSTOOD in second.paragraphs


def test_correction_replaces_the_value_and_says_so():
    turn = say(say(Conversation(), "casamento para 120 pessoas").conversation, "na verdade são 150")
    assert turn.conversation.slots.guests == 150
    assert any(p.startswith("Corrigido") for p in turn.paragraphs)


def test_qualifies_once_and_never_again():
    turn = say(Conversation(), "casamento dia 12/03, 100 pessoas, em Campinas, R$ 30 mil")
    assert turn.qualification is not None and turn.conversation.qualified
    later = say(turn.conversation, "na verdade são 120")
    assert later.qualification is None


def test_implausible_budget_is_questioned_not_qualified():
    turn = say(Conversation(), "casamento dia 12/03, 300 pessoas, em Campinas, R$ 2 mil")
    assert turn.qualification is None
    assert "flexibilidade" in turn.paragraphs[-1]


def test_score_is_between_zero_and_one_and_grows_with_detail():
    few = assess(Slots(guests=100), RULES).score
    full = assess(
        Slots(
            event_type="casamento", date=TODAY, guests=100, location="X", budget_min=30000, budget_max=30000
        ),
        RULES,
    ).score
    assert 0 <= few < full <= 1


def test_declined_slot_is_not_asked_again():
    first = say(say(Conversation(), "casamento dia 12/03 para 80 pessoas em Campinas").conversation, "")
    turn = say(first.conversation, "ainda não sei")
    assert "budget" in turn.conversation.declined and turn.conversation.asked != "budget"


@given(day=st.integers(1, 31), month=st.integers(1, 12), offset=st.integers(0, 800))
def test_a_date_without_a_year_is_never_in_the_past(day, month, offset):
    today = TODAY + timedelta(days=offset)
    found = find_date(f"{day}/{month}", today)
    if found is not None and found.value is not None:
        assert found.value >= today


def test_long_replies_are_split_at_sentences_and_short_ones_packed():
    text = ["Primeira frase bem comprida aqui. Segunda frase também comprida.", "Terceira?"]
    assert replies.split(text, 40) == [
        "Primeira frase bem comprida aqui.",
        "Segunda frase também comprida. Terceira?",
    ]
