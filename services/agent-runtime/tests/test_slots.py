"""The pt-BR corpus: what each message says, read by the rules alone, with today fixed.

Today is Tuesday 16 December 2025 (company time). Each row: the message, the slot the agent asked for last
(or None), and the slots expected — every slot not named must stay unknown. ``budget`` is (min, max).
"""

from datetime import date

import pytest
from agent_runtime.readings import Slots
from agent_runtime.slots import extract

TODAY = date(2025, 12, 16)

CORPUS = [
    # event types, with typos, caps and emojis
    ("Olá, quero um orçamento para um buffet de 120 pessoas", None, {"event_type": "buffet", "guests": 120}),
    ("Oi! Vou casar dia 12/03 e seremos uns 80 convidados", None,
     {"event_type": "casamento", "date": date(2026, 3, 12), "guests": 80}),
    ("QUERO FAZER UM CASAMENTO EM CAMPINAS PARA 150 PESSOAS", None,
     {"event_type": "casamento", "guests": 150, "location": "Campinas"}),
    ("festa de 15 anos da minha filha, sábado que vem", None,
     {"event_type": "festa de 15 anos", "date": date(2025, 12, 20)}),
    ("casameto em 12 de março pra 200 pesoas 😍🎉", None,
     {"event_type": "casamento", "date": date(2026, 3, 12), "guests": 200}),
    ("aniversario de 40 anos", None, {"event_type": "aniversário"}),
    ("é um niver", None, {"event_type": "aniversário"}),
    ("festa de debutante", None, {"event_type": "festa de 15 anos"}),
    ("Formatura da turma de direito", None, {"event_type": "formatura"}),
    ("confraternização de fim de ano da empresa", None, {"event_type": "evento corporativo"}),
    ("festa da firma", None, {"event_type": "evento corporativo"}),
    ("chá de bebê 👶", None, {"event_type": "chá de bebê"}),
    ("batizado do meu sobrinho", None, {"event_type": "batizado"}),
    ("festa infantil do meu filho", None, {"event_type": "festa infantil"}),
    ("bodas de prata dos meus pais", None, {"event_type": "bodas"}),
    ("CASAMENTOOO!!!", None, {"event_type": "casamento"}),
    ("aniversáro", None, {"event_type": "aniversário"}),
    # dates
    ("12/03", "date", {"date": date(2026, 3, 12)}),
    ("dia 12.03", None, {"date": date(2026, 3, 12)}),
    ("20/12", None, {"date": date(2025, 12, 20)}),
    ("10/12", None, {}),  # gone six days ago: next year's is a guess, asked back (test_readings.py)
    ("12/03/2027", None, {"date": date(2027, 3, 12)}),
    ("12-3-26", None, {"date": date(2026, 3, 12)}),
    ("12 de março", None, {"date": date(2026, 3, 12)}),
    ("1º de maio", None, {"date": date(2026, 5, 1)}),
    ("dia vinte e cinco de dezembro", None, {"date": date(2025, 12, 25)}),
    ("dia 5", None, {}),  # the 5th went by this month: January's is asked back (test_readings.py)
    ("dia 20", None, {"date": date(2025, 12, 20)}),
    ("sábado que vem", None, {"date": date(2025, 12, 20)}),
    ("próximo sábado", None, {"date": date(2025, 12, 20)}),
    ("sabado da semana que vem", None, {"date": date(2025, 12, 27)}),
    ("na sexta-feira", None, {"date": date(2025, 12, 19)}),
    ("amanhã", None, {"date": date(2025, 12, 17)}),
    ("depois de amanhã", None, {"date": date(2025, 12, 18)}),
    ("daqui a 3 semanas", None, {"date": date(2026, 1, 6)}),
    ("em 10 dias", None, {"date": date(2025, 12, 26)}),
    ("Dia 20 de Dezembro de 2026", None, {"date": date(2026, 12, 20)}),
    ("dia 14 de fevereiro", None, {"date": date(2026, 2, 14)}),
    ("12/03/2024", None, {}),  # in the past: refused, see test_a_past_date_is_refused
    # guests
    ("150", "guests", {"guests": 150}),
    ("uns oitenta convidados", None, {"guests": 80}),
    ("cem", "guests", {"guests": 100}),
    ("cento e vinte convidados", None, {"guests": 120}),
    ("mil pessoas", None, {"guests": 1000}),
    ("somos 45", None, {"guests": 45}),
    ("na verdade são 150", None, {"guests": 150}),
    ("entre 100 e 120 pessoas", None, {"guests": 120}),
    ("80 a 100 convidados", None, {"guests": 100}),
    ("vai ter umas 60 pessoas", None, {"guests": 60}),
    ("200 PAX", None, {"guests": 200}),
    ("duzentos e cinquenta convidados", None, {"guests": 250}),
    # budget
    ("orçamento de R$ 15 mil", None, {"budget": (15000, 15000)}),
    ("R$15.000,00", None, {"budget": (15000, 15000)}),
    ("15k", None, {"budget": (15000, 15000)}),
    ("temos entre 10 e 12 mil pra gastar", None, {"budget": (10000, 12000)}),
    ("de 10 a 12 mil reais", None, {"budget": (10000, 12000)}),
    ("entre dez e doze mil", "budget", {"budget": (10000, 12000)}),
    ("uns 20 mil", "budget", {"budget": (20000, 20000)}),
    ("o valor seria 15.000", None, {"budget": (15000, 15000)}),
    ("quinze mil reais", None, {"budget": (15000, 15000)}),
    ("dois mil e quinhentos reais", None, {"budget": (2500, 2500)}),
    ("até 8 mil", None, {"budget": (None, 8000)}),
    ("a partir de 30 mil", None, {"budget": (30000, None)}),
    ("1,5 mil reais", None, {"budget": (1500, 1500)}),
    ("20000", "budget", {"budget": (20000, 20000)}),
    # location
    ("vai ser em São Paulo", None, {"location": "São Paulo"}),
    ("Campinas", "location", {"location": "Campinas"}),
    ("em curitiba", None, {"location": "Curitiba"}),
    ("no salão Estrela Dourada", None, {"location": "Salão Estrela Dourada"}),
    ("Formatura no Clube Atlético", None, {"event_type": "formatura", "location": "Clube Atlético"}),
    ("vamos fazer na chácara do meu tio em Atibaia", None, {"location": "Chácara do meu tio, Atibaia"}),
    ("O local é o Espaço Jardim das Flores", None, {"location": "Espaço Jardim das Flores"}),
    ("FESTA NO SALÃO DE FESTAS DO CONDOMÍNIO", None, {"location": "Salão de Festas do Condomínio"}),
    ("em Ribeirão Preto", None, {"location": "Ribeirão Preto"}),
    ("Em Pindamonhangaba", None, {"location": "Pindamonhangaba"}),
    # several slots at once
    ("confraternização da empresa dia 5, 60 pessoas, até 8 mil", None,
     {"event_type": "evento corporativo", "guests": 60, "budget": (None, 8000)}),  # "dia 5": asked back
    ("Casamento dia 12/03 em Campinas, 120 convidados, orçamento de 50 mil", None,
     {"event_type": "casamento", "date": date(2026, 3, 12), "location": "Campinas", "guests": 120,
      "budget": (50000, 50000)}),
    ("aniversario de 40 anos no salão Estrela Dourada, cem convidados", None,
     {"event_type": "aniversário", "guests": 100, "location": "Salão Estrela Dourada"}),
    ("FORMATURA DIA 20 DE MARÇO, 300 PESSOAS, R$ 90 MIL", None,
     {"event_type": "formatura", "date": date(2026, 3, 20), "guests": 300, "budget": (90000, 90000)}),
    # nothing to take
    ("oi, tudo bem?", None, {}),
    ("obrigada!", None, {}),
    ("👍", None, {}),
]  # fmt: skip


def _expected(slots: dict) -> Slots:
    fields = dict(slots)
    if "budget" in fields:
        fields["budget_min"], fields["budget_max"] = fields.pop("budget")
    return Slots.model_validate(fields)


_VALUES = {"event_type", "date", "guests", "location", "budget_min", "budget_max"}


@pytest.mark.parametrize(("text", "expecting", "slots"), CORPUS, ids=[row[0][:40] for row in CORPUS])
def test_corpus_message_yields_its_slots(text, expecting, slots) -> None:
    # The values; whether one is approximate is test_readings.py's
    assert extract(text, today=TODAY, expecting=expecting).slots.model_dump(include=_VALUES) == _expected(
        slots
    ).model_dump(include=_VALUES)


def test_corpus_has_at_least_sixty_messages() -> None:
    assert len(CORPUS) >= 60


def test_a_past_date_is_refused() -> None:
    found = extract("o evento é 12/03/2024", today=TODAY)
    assert found.past_date and found.slots.date is None


def test_a_month_alone_is_kept_as_a_hint_and_the_day_completes_it() -> None:
    first = extract("vai ser em março", today=TODAY)
    assert first.slots.date is None and first.month_hint == (2026, 3)
    second = extract("dia 14", today=TODAY, expecting="date", month_hint=first.month_hint)
    assert second.slots.date == date(2026, 3, 14)


@pytest.mark.parametrize(
    "text", ["quero falar com atendente", "HUMANO", "quero falar com uma pessoa", "falar com um vendedor"]
)
def test_asking_for_a_person_is_a_handoff(text) -> None:
    assert extract(text, today=TODAY).handoff


def test_not_knowing_yet_declines_the_slot_asked() -> None:
    assert extract("ainda não sei", today=TODAY, expecting="budget").declined == "budget"


def test_correction_is_noticed() -> None:
    assert extract("na verdade são 150", today=TODAY).correction


@pytest.mark.parametrize(
    ("text", "slots"),
    [
        # a number word is never "corrected" into another word ("quarenta" was read as "quarta", a Wednesday)
        ("quarenta convidados", {"guests": 40}),
        ("quarenta convidados vai ser em sao paulo", {"guests": 40, "location": "São Paulo"}),
        # groups added, and what follows them still read
        ("vão ser 100 adultos e 20 crianças em Campinas", {"guests": 120, "location": "Campinas"}),
        # a day and month gone by months ago plainly mean next year: recorded, not asked back
        ("16 de outubro", {"date": date(2026, 10, 16)}),
    ],
)
def test_found_by_the_quality_benchmark(text, slots) -> None:
    found = extract(text, today=TODAY)
    assert found.slots.model_dump(include=_VALUES) == _expected(slots).model_dump(include=_VALUES)
    assert found.unsure == ()


def test_a_statement_before_a_question_is_still_read() -> None:
    """Only the question is blanked: "e" (and) does not open one."""
    found = extract("casamento dia 12/03 e pra 100 pessoas, qual o valor?", today=TODAY)
    assert found.slots.guests == 100 and found.slots.date == date(2026, 3, 12)
    assert [q.topic for q in found.questions] == ["price"]


def test_a_date_with_a_dot_in_a_question_is_one_date() -> None:
    (reading,) = extract("tem data livre dia 12.03?", today=TODAY).unsure
    assert reading.reason == "question" and reading.values.date == date(2026, 3, 12)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Aqui é a Juliana", "Juliana"),
        ("oi, a Maria indicou vocês", None),
        ("Boa tarde, o Pedro me passou o contato", None),
    ],
)
def test_only_an_introduction_names_the_lead(text, name) -> None:
    assert extract(text, today=TODAY).name == name
