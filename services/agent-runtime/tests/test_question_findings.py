"""What the question-heavy fresh batch (``bench/data/agent_quality_fresh3.jsonl``, written before reading the
rules) found the rules missed, each as a rule, tested on other wordings of the same kind than the batch's.
Today is Tuesday 16 December 2025 (company time).
"""

from datetime import date

import pytest
from agent_runtime.answers import answer
from agent_runtime.knowledge import EMPTY, Knowledge
from agent_runtime.readings import Question, Slots
from agent_runtime.replies import Voice
from agent_runtime.slots import extract

TODAY = date(2025, 12, 16)


def _asked(text: str, **kwargs: object) -> tuple[str, ...]:
    return tuple(q.topic for q in extract(text, today=TODAY, **kwargs).questions)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        # Questions without "?", opened by words that only ask.
        ("qual valor pra 80 pessoas", "price"),
        ("quais opcoes de prato vcs tem", "menu"),
        ("o que ta incluso no buffet de voces", "included"),
        ("onde fica o espaço", "address"),
        ("como funciona o pagamento", "payment"),
        ("da pra parcelar no boleto", "payment"),
        ("em quantas vezes posso dividir", "payment"),
        ("gostaria de ver o cardápio", "menu"),
        ("tenho receio de ser golpe", "scam"),
        # A child's price is a price, whatever the verb.
        ("até que idade criança não paga?", "price"),
        ("bebê paga?", "price"),
        ("crianças pagam meia entrada?", "price"),
        # Parking and cancellation are topics of their own.
        ("vcs tem estacionamento?", "parking"),
        ("onde os convidados estacionam? tem manobrista?", "parking"),
        ("posso remarcar a data se precisar?", "cancellation"),
        ("tem multa se eu cancelar?", "cancellation"),
        ("se eu desistir vocês devolvem o sinal?", "cancellation"),
        # The plain subject before a generic opener says what is asked.
        ("a entrada é quanto?", "payment"),
        ("e o vinho, vcs servem?", "menu"),
        ("suco natural tem?", "menu"),
        ("cobram taxa pra vir até Itu?", "cities"),
        ("e a festa vai até que horas?", "hours"),
        ("qual seria o investimento pra isso?", "price"),
        ("vcs são reais mesmo?", "scam"),
        ("tem depoimentos de clientes?", "scam"),
    ],
)
def test_a_question_is_recognised_by_its_topic_and_never_recorded(text: str, topic: str) -> None:
    found = extract(text, today=TODAY, expecting="location")
    assert topic in {q.topic for q in found.questions}
    assert found.slots.location is None and found.slots.budget_min is None


@pytest.mark.parametrize(
    "text", ["14 de março vcs tem?", "o dia 7/11 ainda tá livre?", "3 de outubro tá vago?"]
)
def test_a_date_asked_about_is_checked_not_recorded(text: str) -> None:
    found = extract(text, today=TODAY, expecting="date")
    assert "availability" in {q.topic for q in found.questions}
    assert found.slots.date is None
    assert [r.slot for r in found.unsure] == ["date"]  # asked back ("Seria 14 de março?"), never confirmed


@pytest.mark.parametrize(
    "text", ["a qual eu já falei", "casamento dia 12/03", "festa de 15 anos em Campinas", "100 pessoas"]
)
def test_statements_are_not_taken_for_questions(text: str) -> None:
    assert _asked(text) == ()


@pytest.mark.parametrize("topic", ["parking", "cancellation"])
def test_parking_and_cancellation_are_answered_from_the_company_or_honestly_deferred(topic: str) -> None:
    known = Knowledge(
        parking="Estacionamento gratuito no local.", cancellation="Remarcação sem custo até 60 dias antes."
    )
    said = answer(Question(topic), known, Slots(), Voice(), today=TODAY).text  # type: ignore[arg-type]
    assert said in {known.parking, known.cancellation}
    deferred = answer(Question(topic), EMPTY, Slots(), Voice(), today=TODAY)  # type: ignore[arg-type]
    assert "vou confirmar com a equipe" in deferred.text and deferred.note is not None


@pytest.mark.parametrize(
    ("text", "event"),
    [
        ("festa de 40 anos da minha esposa", "aniversário"),
        ("comemoração dos 70 anos do vô", "aniversário"),
        ("festa de 15 da minha sobrinha", "festa de 15 anos"),
        ("20 anos de casados", "bodas"),
        ("nossos 25 anos de casamento", "bodas"),
    ],
)
def test_an_age_or_an_anniversary_names_the_event(text: str, event: str) -> None:
    assert extract(text, today=TODAY).slots.event_type == event


@pytest.mark.parametrize(
    ("text", "guests"), [("45 funcionários", 45), ("uns 300 alunos", 300), ("60 colaboradores", 60)]
)
def test_the_people_of_a_company_or_a_class_are_guests(text: str, guests: int) -> None:
    assert extract(text, today=TODAY).slots.guests == guests


@pytest.mark.parametrize("text", ["SP", "sp capital", "Sp mesmo"])
def test_a_state_code_alone_answers_where(text: str) -> None:
    assert extract(text, today=TODAY, expecting="location").slots.location == "São Paulo"


def test_a_state_code_inside_a_sentence_is_not_a_place() -> None:
    assert extract("sp e rj são longe", today=TODAY).slots.location is None


def test_a_bare_count_beside_a_question_answers_the_count_asked_for() -> None:
    found = extract("umas 90. tem estacionamento?", today=TODAY, expecting="guests")
    assert found.slots.guests == 90 and [q.topic for q in found.questions] == ["parking"]


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        # What fresh4 (written after round 3, then used for round 4) found, in other wordings.
        ("tem garagem pros convidados?", "parking"),
        ("da pra deixar o carro no local?", "parking"),
        ("e se eu quiser trocar a data depois?", "cancellation"),
        ("pra reservar a data tem que pagar antes?", "payment"),
        ("aceitam dinheiro?", "payment"),
        ("vocês faturam no cnpj? emitem nota?", "payment"),
        ("da pra confiar em vcs?", "scam"),
        ("isso é um chat bot?", "robot"),
        ("é alguém de verdade respondendo?", "robot"),
        ("vcs funcionam nos feriados?", "hours"),
        ("vcs trabalham no fim de semana?", "hours"),
        ("o salão é próprio?", "address"),
    ],
)
def test_round_four_wordings_are_recognised(text: str, topic: str) -> None:
    assert topic in _asked(text)
