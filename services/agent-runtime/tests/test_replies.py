"""What the agent says reads like a person: never the same reply twice in a row to one lead, never the same
question word for word, and every sentence in one table a company may reword."""

from datetime import date
from itertools import pairwise

import pytest
from agent_runtime.conversation import Conversation, advance
from agent_runtime.knowledge import Knowledge
from agent_runtime.qualification import Rules
from agent_runtime.replies import QUESTIONS, TEMPLATES, Voice
from agent_runtime.slots import extract

TODAY = date(2025, 12, 16)


def _replies(messages: list[str], knowledge: Knowledge | None = None) -> list[str]:
    state, said = Conversation(), []
    for text in messages:
        found = extract(text, today=TODAY, expecting=state.asked, month_hint=state.month_hint)
        turn = advance(state, found, rules=Rules(), today=TODAY, knowledge=knowledge or Knowledge())
        state = turn.conversation
        said.append(" ".join(turn.paragraphs))
    return said


QUALIFIED = ["oi", "casamento", "12/03/2026", "120 pessoas", "em Campinas", "40 mil"]


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param(["oi", "hmm", "hmm", "hmm", "hmm"], id="not understood, again and again"),
        pytest.param(
            ["oi", "qual o valor?", "qual o valor?", "qual o valor?"], id="the same question thrice"
        ),
        pytest.param(["oi", "vc é robô?", "vc é robô?"], id="robot twice"),
        pytest.param(["oi", "isso é golpe?", "isso é golpe?"], id="scam twice"),
        pytest.param(["oi", "vcs atendem em Jundiaí?", "vcs atendem em Jundiaí?"], id="city twice"),
        pytest.param([*QUALIFIED, "obrigada", "ok", "valeu", "👍"], id="thanks after qualifying"),
        pytest.param(
            [
                "oi",
                "aniversário",
                "20/06/2026",
                "50 pessoas",
                "Sorocaba",
                "não sei ainda o orçamento",
                "ok",
                "ok",
            ],
            id="an open end, then ok",
        ),
        pytest.param(["oi", "dia 6 d junho", "dia 6 d junho", "dia 6 d junho"], id="a check asked again"),
        pytest.param(["oi", "uns 80 mais as crianças", "uns 80 mais as crianças"], id="a part of the party"),
    ],
)
def test_no_two_consecutive_replies_to_one_lead_are_identical(messages: list[str]) -> None:
    said = _replies(messages)
    repeated = [(n, a) for n, (a, b) in enumerate(pairwise(said)) if a == b]
    assert repeated == []


def test_a_slot_is_never_asked_twice_in_the_same_words() -> None:
    for slot, variants in QUESTIONS.items():
        assert len(set(variants)) == len(variants) >= 3, slot


def test_every_template_with_variants_has_distinct_variants() -> None:
    for key, template in TEMPLATES.items():
        if not isinstance(template, str):
            assert len(set(template)) == len(template), key


def test_a_company_rewords_the_questions_and_confirmations() -> None:
    knowledge = Knowledge(
        templates={
            "ask_date": ["Pra quando é a festa?", "Qual o dia da festa?"],
            "confirmed": "Certo: {what}!",
        }
    )
    said = _replies(["oi", "casamento"], knowledge)
    assert said[-1] == "Certo: casamento! Pra quando é a festa?"


def test_dates_read_naturally_with_the_weekday_and_without_a_dangling_dia() -> None:
    said = _replies(["oi", "casamento", "7 de março de 2026"])[-1]
    assert "no sábado, 7 de março de 2026" in said and "no dia sábado" not in said


def test_the_name_the_lead_gives_is_used() -> None:
    assert _replies(["Oi, aqui é a Juliana, queria um orçamento"])[0].startswith("Olá, Juliana!")


def test_a_template_naming_a_field_the_agent_does_not_have_falls_back_to_ours() -> None:
    voice = Voice({"defer": "Sobre {assunto}, já volto."})
    assert "vou confirmar com a equipe" in voice.say("defer", topic="o cardápio")
