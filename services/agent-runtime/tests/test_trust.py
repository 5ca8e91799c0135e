"""Issue #21, "the agent a customer trusts": every row of the issue's table, with other wordings of the same kind,
through the real bus (the lead writes, the agent's reply is read back). Today is Tuesday 16 December 2025.

The agent never confirms what the lead did not say (a guess is asked back), answers questions from the
company's knowledge or defers them honestly, addresses the lead by name, and qualifies only on what was
confirmed.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from eventbus import Envelope, MessageReceived
from eventbus.testing.waiting import eventually

COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
KNOWLEDGE = {
    "company_name": "Buffet Estrela",
    "prices": [
        {"event_type": "casamento", "per_guest": 150, "minimum": 9000},
        {"per_guest": 120, "minimum": 6000},
    ],
    "included": "Inclui buffet completo, bebidas não alcoólicas, garçons e decoração básica.",
    "menu": "Cardápio com entradas, dois pratos quentes, sobremesa e bolo.",
    "cities": ["Campinas", "Jundiaí", "Valinhos"],
    "address": "Rua das Flores, 100, Campinas.",
    "hours": "Atendemos de segunda a sábado, das 9h às 18h.",
    "payment": "Pix, boleto ou cartão em até 10 vezes.",
    "legitimacy": "Somos a Buffet Estrela, CNPJ 12.345.678/0001-90, há 15 anos em Campinas.",
}
DEFERRED = "vou confirmar com a equipe"


async def _talk(agent, messages, phone="+5511988880001"):
    return [await agent.answer(text, phone=phone) for text in messages]


@pytest.fixture
def knowledge_dir(tmp_path):
    (tmp_path / f"{COMPANY}.json").write_text(json.dumps(KNOWLEDGE))
    return tmp_path


# -- 1. Never confirm a guess ---------------------------------------------------------------------------------


@pytest.mark.parametrize("said", ["dia 12 d junho", "12 de juhno", "dia 12 di junho", "12 d junho"])
async def test_a_typo_in_the_month_is_asked_back_then_recorded_when_confirmed(make_agent, said):
    async with make_agent() as agent:
        asked, confirmed = (
            await _talk(agent, ["casamento", said, "sim"])[1:]
            if False
            else (await _talk(agent, ["casamento", said, "sim"]))[1:]
        )
    assert "Seria" in asked and "12 de junho de 2026" in asked
    assert "Anotado" not in asked and "dezembro" not in asked
    assert "Anotado" in confirmed and "12 de junho de 2026" in confirmed


@pytest.mark.parametrize(
    ("said", "meant"),
    [
        ("sábado dia 7", date(2026, 2, 7)),  # the 7th of January is a Wednesday
        ("no sabado, dia 7", date(2026, 2, 7)),
        ("domingo dia 20", date(2026, 9, 20)),  # the 20th of December is a Saturday
    ],
)
async def test_a_weekday_that_does_not_fall_on_the_day_is_asked_back(make_agent, said, meant):
    async with make_agent() as agent:
        _, asked, answer = await _talk(agent, ["casamento", said, "sim"])
    assert "Anotado" not in asked and "Seria" in asked
    assert f"{meant.day} de " in asked and str(meant.year) in asked
    assert meant.weekday() in {4, 5, 6}
    assert "Anotado" in answer


@pytest.mark.parametrize("said", ["sexta 12/03", "sexta-feira, 12 de março", "sexta dia 12 de marco"])
async def test_a_weekday_that_does_not_fall_on_the_date_said_asks_back_that_date_naming_its_weekday(
    make_agent, said
):
    # 12/03/2026 is a Thursday. The day and month said are the likelier truth than a year further off where
    # they fall on a Friday (2027): asked back as said, its own weekday named, recorded once confirmed.
    async with make_agent() as agent:
        _, asked, answer = await _talk(agent, ["casamento", said, "sim"])
    assert "Anotado" not in asked and "Seria" in asked
    assert "12 de março de 2026" in asked and "quinta" in asked and "2027" not in asked
    assert "Anotado" in answer and "12 de março de 2026" in answer


async def test_a_weekday_that_matches_the_day_is_recorded(make_agent):
    async with make_agent() as agent:
        _, reply = await _talk(agent, ["casamento", "sábado dia 20"])
    assert "Anotado: no sábado, 20 de dezembro de 2025" in reply


@pytest.mark.parametrize(
    ("said", "meant"), [("10/12", "10 de dezembro de 2026"), ("dia 5", "5 de janeiro de 2026")]
)
async def test_a_day_that_already_went_by_is_asked_back(make_agent, said, meant):
    async with make_agent() as agent:
        _, asked = await _talk(agent, ["casamento", said])
    assert "Anotado" not in asked and "Seria" in asked and meant in asked


async def test_no_to_an_asked_back_date_asks_the_date_plainly(make_agent):
    async with make_agent() as agent:
        _, _, again, right = await _talk(agent, ["casamento", "dia 12 d junho", "não", "14 de julho"])
    assert "Anotado" not in again and "data" in again
    assert "14 de julho de 2026" in right and "Anotado" in right


@pytest.mark.parametrize(
    ("said", "total"),
    [
        ("vão ser 25 adultos e 15 crianças", 40),
        ("25 adultos + 15 criancas", 40),
        ("somos 30 adultos, 10 crianças e 5 bebês", 45),
    ],
)
async def test_groups_of_guests_are_added(make_agent, said, total):
    async with make_agent() as agent:
        _, reply = await _talk(agent, ["casamento dia 12/03", said])
    assert f"para {total} convidados" in reply


@pytest.mark.parametrize(
    ("said", "part"),
    [
        ("uns 100 mais as crianças", 100),
        ("100 adultos fora as crianças", 100),
        ("80 pessoas sem contar as criancas", 80),
    ],
)
async def test_a_part_of_the_party_is_not_taken_for_the_whole(make_agent, said, part):
    async with make_agent() as agent:
        _, asked, summed = await _talk(agent, ["casamento dia 12/03", said, "umas 20"])
    assert "Anotado" not in asked and "crianças" in asked and str(part) in asked
    assert f"{part + 20} convidados" in summed


async def test_an_estimate_is_recorded_as_one_and_said_so_in_the_summary(make_agent):
    async with make_agent() as agent:
        reply = await agent.answer("casamento dia 12/03, entre 100 e 150 pessoas, em Campinas, R$ 40 mil")
        (qualified,) = await eventually(lambda: agent.events("lead.qualified"))
    assert "100 a 150 convidados" in reply
    assert "100 a 150 pessoas" in qualified.payload.summary
    assert "Aproximado: convidados." in qualified.payload.summary
    assert "Confirmado pelo cliente: tipo, data, local, orçamento." in qualified.payload.summary


async def test_a_company_that_wants_firm_figures_does_not_qualify_on_an_estimate(make_agent):
    async with make_agent(qualify_approximate=False) as agent:
        await agent.answer("casamento dia 12/03, uns 100 convidados, em Campinas, R$ 40 mil")
        await agent.answer("oi?")
        assert await agent.events("lead.qualified") == []


# -- 2. Answer what leads ask ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "asked", ["qual o valor?", "qto fica?", "quanto custa pra 100 pessoas?", "me passa os valores pfv"]
)
async def test_a_price_question_is_deferred_honestly_without_knowledge(make_agent, asked):
    async with make_agent() as agent:
        reply = await agent.answer(asked)
    assert DEFERRED in reply and "não consegui entender" not in reply


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (["casamento para 100 pessoas", "qual o valor?"], "R$ 15.000"),
        (["casamento", "quanto fica pra 80 pessoas?"], "R$ 12.000"),
        (["qto custa?"], "R$ 120 por pessoa"),
    ],
)
async def test_a_price_question_is_answered_from_the_companys_prices(
    make_agent, knowledge_dir, messages, expected
):
    async with make_agent(knowledge_dir=knowledge_dir) as agent:
        reply = (await _talk(agent, messages))[-1]
    assert expected in reply and DEFERRED not in reply


@pytest.mark.parametrize(
    "asked", ["vocês atendem em Jundiaí?", "vcs fazem evento em Jundiai?", "atende em Jundiaí?"]
)
async def test_a_city_in_a_question_is_not_recorded_as_the_location(make_agent, knowledge_dir, asked):
    async with make_agent() as agent:
        _, deferred = await _talk(agent, ["oi", asked])
    async with make_agent(knowledge_dir=knowledge_dir) as agent:
        _, answered = await _talk(agent, ["oi", asked], phone="+5511988880002")
    for reply in (deferred, answered):
        assert "Anotado" not in reply and "O evento seria em Jundiaí?" in reply
    assert DEFERRED in deferred and "Sim, atendemos em Jundiaí" in answered


@pytest.mark.parametrize(
    ("asked", "field"),
    [
        ("o que está incluso?", "included"),
        ("tem cardápio?", "menu"),
        ("quais as formas de pagamento?", "payment"),
        ("aceitam cartão?", "payment"),
        ("qual o endereço de vocês?", "address"),
        ("qual o horário de atendimento?", "hours"),
        ("isso é golpe?", "legitimacy"),
    ],
)
async def test_questions_are_answered_from_the_companys_knowledge_or_deferred(
    make_agent, knowledge_dir, asked, field
):
    async with make_agent(knowledge_dir=knowledge_dir) as agent:
        known = await agent.answer(asked)
    async with make_agent() as agent:
        unknown = await agent.answer(asked, phone="+5511988880003")
    assert KNOWLEDGE[field] in known
    assert KNOWLEDGE[field] not in unknown and ("vou confirmar" in unknown or "consultor" in unknown)


@pytest.mark.parametrize("asked", ["vc é um robô?", "é robo?", "estou falando com uma pessoa de verdade?"])
async def test_is_this_a_robot_is_answered_honestly_not_handed_off(make_agent, asked):
    async with make_agent() as agent:
        _, reply = await _talk(agent, ["oi", asked])
    assert (
        "Sou a assistente virtual" in reply
        and "é só pedir" in reply
        and "pessoa da nossa equipe" not in reply
    )


async def test_availability_of_a_date_is_deferred_and_the_date_asked_back(make_agent):
    async with make_agent() as agent:
        _, reply, confirmed = await _talk(agent, ["casamento", "tem data livre dia 12/03?", "sim"])
    assert (
        DEFERRED in reply and "Anotado" not in reply and "Seria quinta-feira, 12 de março de 2026?" in reply
    )
    assert "Anotado" in confirmed


async def test_unanswered_questions_reach_the_salesperson_in_the_summary(make_agent):
    async with make_agent() as agent:
        await _talk(agent, ["aceitam pix?", "casamento dia 12/03, 100 pessoas, em Campinas, R$ 40 mil"])
        (qualified,) = await eventually(lambda: agent.events("lead.qualified"))
    assert "A responder: perguntou sobre as formas de pagamento." in qualified.payload.summary


# -- 3. Talk like a person ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("Aqui é a Juliana, queria um orçamento…", "Juliana"),
        ("Oi! Meu nome é Carla", "Carla"),
        ("me chamo bruno", "Bruno"),
    ],
)
async def test_the_lead_is_addressed_by_the_name_they_give(make_agent, said, name):
    async with make_agent() as agent:
        reply = await agent.answer(said)
        done = await agent.answer("casamento dia 12/03, 100 pessoas, em Campinas, R$ 40 mil")
    assert reply.startswith(f"Olá, {name}!")
    assert f"Perfeito, {name}," in done


async def test_the_whatsapp_profile_name_is_used_when_the_message_gives_none(make_agent, bus):
    async with make_agent() as agent:
        payload = MessageReceived.model_validate(
            {
                "instance_id": "ins_1",
                "lead_external_id": "wa:+5511988880009",
                "from": "+5511988880009",
                "body": "oi, quero um orçamento",
                "raw": {"push_name": "Marina Souza"},
            }
        )
        event = Envelope.new(payload, source="evolution-manager", company_id=COMPANY)
        await bus.publish(event)
        (reply,) = await eventually(lambda: agent.replies_to("+5511988880009"))
    assert reply.payload.messages[0].text.startswith("Olá, Marina!")


async def test_the_same_question_is_never_repeated_word_for_word(make_agent):
    async with make_agent() as agent:
        replies = await _talk(agent, ["casamento", *["hmm"] * 5])
    questions = [reply.rsplit("😅", 1)[-1].strip() for reply in replies[1:]]
    assert len(set(replies)) == len(replies) and len(set(questions)) == len(questions)


async def test_a_company_words_its_own_greeting(make_agent, tmp_path):
    (tmp_path / f"{COMPANY}.json").write_text(
        json.dumps({"templates": {"greeting": "Oi{name}! Aqui é o Buffet Estrela."}})
    )
    async with make_agent(knowledge_dir=tmp_path) as agent:
        reply = await agent.answer("oi")
    assert reply.startswith("Oi! Aqui é o Buffet Estrela.")


# -- 4. Qualification means something -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "said", ["não sei ainda o orçamento", "o orçamento ainda não defini", "nao faco ideia do valor"]
)
async def test_not_knowing_the_budget_is_recorded_as_unknown_not_as_done(make_agent, said):
    async with make_agent() as agent:
        _, reply = await _talk(agent, ["casamento dia 12/03 para 100 pessoas em Campinas", said])
        after = await agent.answer("ok")
        qualified = await agent.events("lead.qualified")
    assert "orçamento fica em aberto" in reply and "definir o orçamento" in reply
    assert "Já repassei tudo" not in reply + after
    assert qualified == []
