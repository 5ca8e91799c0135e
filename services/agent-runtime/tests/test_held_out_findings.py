"""What the independent held-out corpus (``bench/data/agent_quality_held_out.jsonl``) found the rules misread or
missed, each as a rule with other wordings of the same kind. Today is Tuesday 16 December 2025 (company time).
"""

from datetime import date

import pytest
from agent_runtime.readings import Slots
from agent_runtime.slots import extract

TODAY = date(2025, 12, 16)


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("6 jun", date(2026, 6, 6)),
        ("1 set", date(2026, 9, 1)),
        ("dia 17 abr", date(2026, 4, 17)),
        ("casamento 22 mai", date(2026, 5, 22)),
        ("14 de fev", date(2026, 2, 14)),
    ],
)
def test_a_month_abbreviated_after_the_day_is_read(text, meant) -> None:
    found = extract(text, today=TODAY)
    assert found.slots.date == meant and found.unsure == ()


@pytest.mark.parametrize("text", ["o mar estava lindo", "set de fotos", "jun"])
def test_an_abbreviation_without_a_day_is_not_a_date(text) -> None:
    found = extract(text, today=TODAY)
    assert found.slots.date is None and found.unsure == ()


@pytest.mark.parametrize(
    ("text", "budget"),
    [
        ("no maximo 15 mil", (None, 15000)),
        ("orçamento no máximo 40 mil", (None, 40000)),
        ("no minimo 20 mil", (20000, None)),
    ],
)
def test_a_bound_on_the_budget_is_a_bound_not_a_figure(text, budget) -> None:
    # "máximo" was typo-corrected into "próximo", and the bound lost.
    slots = extract(text, today=TODAY, expecting="budget").slots
    assert (slots.budget_min, slots.budget_max) == budget


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("dia vinte e um de julho", date(2026, 7, 21)),
        ("vinte e uma pessoas", None),
    ],
)
def test_a_number_said_in_words_ending_in_um_is_one_number(text, meant) -> None:
    found = extract(text, today=TODAY)
    assert found.slots.date == meant
    if meant is None:
        assert found.slots.guests == 21


@pytest.mark.parametrize("text", ["3 de jnho", "dia 5 de mrco", "12 de agsto"])
def test_a_short_misspelt_month_is_asked_back_not_dropped(text) -> None:
    found = extract(text, today=TODAY)
    (reading,) = found.unsure
    assert found.slots.date is None and reading.reason == "typo" and reading.values.date is not None


@pytest.mark.parametrize("text", ["o dia vai ser 2", "vai ser dia 2", "dia 2", "2"])
def test_the_day_completes_a_month_given_before(text) -> None:
    found = extract(text, today=TODAY, expecting="date", month_hint=(2026, 7))
    assert found.slots.date == date(2026, 7, 2)


def test_a_weekday_off_the_day_and_month_said_keeps_that_date() -> None:
    (reading,) = extract("sábado dia 20 de novembro de 2026", today=TODAY).unsure
    assert reading.reason == "weekday_off" and reading.values.date == date(2026, 11, 20)  # a Friday


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("preço pfv", "price"),
        ("e o preço?", "price"),
        ("valores por favor", "price"),
        ("qual o valor do pacote?", "price"),
        ("fica onde?", "address"),
        ("onde fica o espaço?", "address"),
        ("vcs tem loja fisica?", "address"),
        ("vcs fazem churrasco?", "menu"),
        ("tem opção vegetariana?", "menu"),
        ("a agenda de junho ta aberta?", "availability"),
        ("cobram deslocamento pra Itu?", "cities"),
        ("ate que horas vcs atendem?", "hours"),
        ("vcs sao empresa seria?", "scam"),
        ("o que ta incluso?", "included"),
        # the fresh batches' (round 2): what a clause is plainly about wins over a shared word
        ("a bebida ta inclusa no valor?", "included"),
        ("as mesas e cadeiras ja vem junto?", "included"),
        ("o que vcs servem de entrada?", "menu"),
        ("qual o valor da entrada?", "payment"),
        ("aceitam transferencia?", "payment"),
        ("tem desconto?", "price"),
        ("vcs ficam perto do centro?", "address"),
        ("nao é furada ne?", "scam"),
        ("como sei que vcs existem mesmo?", "scam"),
    ],
)
def test_questions_leads_ask_are_recognised_and_never_recorded(text, topic) -> None:
    for expecting in (None, "location", "budget"):
        found = extract(text, today=TODAY, expecting=expecting)
        assert [q.topic for q in found.questions] == [topic]
        assert found.slots.model_dump(exclude={"approximate"}) == Slots().model_dump(exclude={"approximate"})


def test_a_statement_with_a_comma_before_a_question_is_still_read() -> None:
    found = extract("casamento dia 12/03, tem como?", today=TODAY)
    assert found.slots.event_type == "casamento" and found.slots.date == date(2026, 3, 12)


@pytest.mark.parametrize(
    ("text", "city"), [("la em americana", "Americana"), ("vai ser em paulinia", "Paulínia")]
)
def test_cities_of_the_region_are_known_in_lower_case(text, city) -> None:
    assert extract(text, today=TODAY).slots.location == city


@pytest.mark.parametrize("text", ["aqui é a Marília", "preço", "seria ótimo", "cadeiras", "fica perto"])
def test_common_words_are_not_typo_corrected_into_places(text) -> None:
    assert extract(text, today=TODAY).slots.location is None
