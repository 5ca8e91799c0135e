"""Never answer a question on a guessed topic (issue #21, round 7): a question whose topic the agent is not sure of
gets the honest generic deferral ("vou confirmar com a equipe") and a note naming it for the salesperson, never an
answer about something else. The topic is sure when a question frame of Portuguese names it ("onde fica" asks for
the address, "até onde" how far the team travels), or when the clause's topic words back the rules' guess.
Today is Tuesday 16 December 2025 (company time).
"""

from __future__ import annotations

from datetime import date

import pytest
from agent_runtime.answers import answer
from agent_runtime.conversation import Conversation, advance
from agent_runtime.knowledge import EMPTY
from agent_runtime.qualification import Rules
from agent_runtime.readings import Question, Slots
from agent_runtime.replies import Voice
from agent_runtime.slots import extract

TODAY = date(2025, 12, 16)
DEFERRED = "vou confirmar com a equipe"


def topics_of(said: str) -> list[str]:
    return [q.topic for q in extract(said, today=TODAY).questions]


# -- A frame names the topic: the fresh8 failures and other wordings of them -------------------------------------


@pytest.mark.parametrize(
    "said",
    [
        "onde que e o buffet de vcs?",  # fresh8: answered with the menu
        "onde é o buffet de vocês?",
        "o buffet fica onde?",
        "onde que é o salão?",
    ],
)
def test_where_the_buffet_is_asks_for_the_address_not_the_menu(said: str) -> None:
    assert topics_of(said) == ["address"]


@pytest.mark.parametrize(
    "said",
    [
        "ate onde vcs vao?",  # fresh8: answered with the address
        "até onde vocês atendem?",
        "vcs vão até onde?",
    ],
)
def test_how_far_the_team_goes_asks_about_travel_not_the_address(said: str) -> None:
    assert topics_of(said) == ["cities"]


def test_you_being_real_asks_about_the_agent_the_company_being_real_about_the_company() -> None:
    assert topics_of("você é de verdade?") == ["robot"]
    assert topics_of("a empresa é de verdade?") == ["scam"]


def test_changing_the_day_asks_about_rescheduling() -> None:
    assert topics_of("e se a gente precisar trocar o dia?") == ["cancellation"]


def test_a_frame_yields_to_a_word_that_names_another_topic() -> None:
    # "quanto é" frames a price, but what is asked the amount of is the deposit.
    assert topics_of("quanto é o sinal?") == ["payment"]
    assert topics_of("quanto ta o buffet completo?") == ["price"]


@pytest.mark.parametrize(
    "said",
    [
        "quanto preciso dar de adiantamento?",
        "qual o valor da entrada?",
        "qual o preço da parcela?",
        "qto é o sinal?",
    ],
)
def test_the_amount_of_a_deposit_or_an_instalment_asks_about_paying(said: str) -> None:
    assert topics_of(said) == ["payment"]  # "quanto preciso dar de adiantamento?" was answered with prices


@pytest.mark.parametrize("said", ["criança paga?", "menor de 10 anos paga meia?", "bebê de colo paga?"])
def test_whether_a_child_pays_asks_the_price_not_how_to_pay(said: str) -> None:
    assert topics_of(said) == ["price"]


# -- No sure topic: the honest generic deferral, never an answer on a guess --------------------------------------


@pytest.mark.parametrize(
    "said",
    [
        "a festa pode ir até meia noite?",  # was travel ("ir até")
        "onde posso ver o trabalho de vcs?",  # was the address ("onde")
        "onde da pra ver os eventos de vcs?",
        "quanto tempo antes preciso fechar?",  # was the price: "quanto" asks, "preciso" is not "preço"
        "pode levar bebida de fora?",  # was what is included ("fora"): the words say drinks
        "onde?",  # a question word and no topic word
        "ate quando?",
    ],
)
def test_a_question_whose_topic_is_a_guess_is_deferred_not_answered(said: str) -> None:
    assert topics_of(said) == ["other"]


def test_the_generic_deferral_names_the_question_for_the_salesperson() -> None:
    (question,) = extract("onde posso ver o trabalho de vcs?", today=TODAY).questions
    reply = answer(question, EMPTY, Slots(), Voice(), today=TODAY)
    assert DEFERRED in reply.text
    assert reply.note == "perguntou “onde posso ver o trabalho de vcs?”"


def test_the_note_never_copies_a_phone_number_and_stays_short() -> None:
    asked = "me liga no 11 98765-4321 pra falar do " + "assunto " * 20
    reply = answer(Question("other", asked=asked), EMPTY, Slots(), Voice(), today=TODAY)
    assert reply.note is not None
    assert "98765" not in reply.note and len(reply.note) <= 100


def test_a_deferred_question_records_nothing_and_leaves_a_note_in_the_conversation() -> None:
    state = Conversation()
    found = extract("a festa pode ir até meia noite?", today=TODAY, expecting=state.asked)
    step = advance(state, found, rules=Rules(), today=TODAY)
    reply = " ".join(step.paragraphs)
    assert DEFERRED in reply and "Atendemos" not in reply
    assert step.conversation.slots == state.slots
    assert step.conversation.notes == ("perguntou “a festa pode ir ate meia noite?”",)
