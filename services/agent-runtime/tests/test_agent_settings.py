"""Per-company agent settings (issue #24, item 5): agent-runtime keeps them in its own Redis key, serves them to
backoffice-api over its admin API, validates them (422 naming the field), and they take effect without a restart.
The clock is Tuesday 16 December 2025, 09:00 in São Paulo."""

from __future__ import annotations

import json

import pytest
from agent_runtime.agent_settings import AgentSettings, CompanySettings
from agent_runtime.knowledge import Library

COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
OTHER = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2D"
AUTH = {"Authorization": "Bearer dev-service-token"}
PATH = f"/v1/companies/{COMPANY}/agent-settings"
QUALIFYING = "Casamento dia 20 de março, 100 pessoas, em Campinas, entre 25 e 30 mil"


async def _save(agent, settings: dict, company: str = COMPANY):
    return await agent.http.put(
        f"/v1/companies/{company}/agent-settings",
        headers=AUTH,
        json={"settings": settings, "updated_by": "key_1"},
    )


async def test_a_company_without_settings_reads_the_defaults(make_agent):
    async with make_agent() as agent:
        response = await agent.http.get(PATH, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "default" and body["company_id"] == COMPANY
    assert body["settings"]["handoff_on_human_reply"] is True and body["settings"]["greeting"] is None


async def test_the_knowledge_file_is_the_seed_until_settings_are_saved(make_agent, tmp_path):
    (tmp_path / f"{COMPANY}.json").write_text(
        json.dumps({"address": "Rua das Flores, 100", "templates": {"greeting": "Oi{name}! Buffet Estrela."}})
    )
    async with make_agent(knowledge_dir=tmp_path) as agent:
        seeded = (await agent.http.get(PATH, headers=AUTH)).json()
        saved = (await _save(agent, {"greeting": "Olá{name}, aqui é a Estrela"})).json()
        again = (await agent.http.get(PATH, headers=AUTH)).json()
    assert seeded["source"] == "file"
    assert seeded["settings"]["greeting"] == "Oi{name}! Buffet Estrela."
    assert seeded["settings"]["knowledge"]["address"] == "Rua das Flores, 100"
    assert saved["source"] == again["source"] == "stored" and again["updated_by"] == "key_1"
    assert again["settings"]["greeting"] == "Olá{name}, aqui é a Estrela"


async def test_the_admin_routes_need_backoffice_apis_credential(make_agent):
    async with make_agent() as agent:
        missing = await agent.http.get(PATH)
        wrong = await agent.http.put(PATH, headers={"Authorization": "Bearer nope"}, json={"settings": {}})
    assert missing.status_code == wrong.status_code == 401


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"score_threshold": 1.5}, "score_threshold"),
        ({"qualify_on": ["budget", "horoscope"]}, "qualify_on"),
        ({"qualify_on": []}, "qualify_on"),
        ({"business_hours": [{"days": ["mon"], "opens": "18:00", "closes": "09:00"}]}, "business_hours"),
        ({"business_hours": [{"days": ["someday"], "opens": "09:00", "closes": "18:00"}]}, "business_hours"),
        ({"handoff_keywords": ["x"]}, "handoff_keywords"),
        ({"greeting": ""}, "greeting"),
        ({"knowledge": {"prices": [{"per_guest": -1}]}}, "knowledge"),
        ({"greting": "typo"}, "greting"),
    ],
)
async def test_invalid_settings_are_refused_naming_the_field(make_agent, given, field):
    async with make_agent() as agent:
        response = await _save(agent, given)
        after = (await agent.http.get(PATH, headers=AUTH)).json()
    assert response.status_code == 422
    assert field in json.dumps(response.json())
    assert after["source"] == "default"  # nothing saved


async def test_a_saved_greeting_greets_the_next_lead_without_a_restart(make_agent):
    async with make_agent() as agent:
        before = await agent.answer("oi", phone="+5511900000001")
        assert (await _save(agent, {"greeting": "Olá{name}! Aqui é o Buffet Estrela 🎉"})).status_code == 200
        after = await agent.answer("oi, aqui é a Juliana", phone="+5511900000002")
    assert "Buffet Estrela" not in before
    assert after.startswith("Olá, Juliana! Aqui é o Buffet Estrela 🎉")


async def test_settings_are_per_company(make_agent):
    async with make_agent() as agent:
        await _save(agent, {"greeting": "Olá! Buffet Estrela."}, company=OTHER)
        ours = await agent.answer("oi")
    assert "Buffet Estrela" not in ours


async def test_out_of_hours_the_agent_answers_and_says_once_when_the_team_is_back(make_agent):
    hours = [{"days": ["mon", "tue", "wed", "thu", "fri"], "opens": "10:00", "closes": "18:00"}]
    async with make_agent() as agent:
        await _save(agent, {"business_hours": hours})
        first, second = await agent.answer("oi"), await agent.answer("é um casamento")
        await _save(agent, {"business_hours": hours, "out_of_hours_reply": "Voltamos às 10h, tá?"})
        own = await agent.answer("oi", phone="+5511900000003")
    assert "segunda a sexta, das 10h às 18h" in first  # 09:00 on a Tuesday: before opening
    assert "Qual é a data" not in first and "das 10h" not in second and "Anotado" in second
    assert "Voltamos às 10h, tá?" in own


async def test_within_business_hours_nothing_is_said_about_them(make_agent):
    async with make_agent() as agent:
        await _save(agent, {"business_hours": [{"days": ["tue"], "opens": "08:00", "closes": "18:00"}]})
        reply = await agent.answer("oi")
    assert "Nossa equipe atende" not in reply


async def test_a_company_handoff_keyword_hands_the_lead_to_a_person(make_agent):
    async with make_agent() as agent:
        await _save(agent, {"handoff_keywords": ["Reclamação", "gerente geral"]})
        plain = await agent.answer("casamento", phone="+5511900000004")
        handed = await agent.answer("tenho uma reclamacao sobre o evento", phone="+5511900000004")
        (created,) = await agent.events("lead.created")
        flag = await agent.http.get(
            f"/v1/leads/{created.payload.lead_id}/handoff", headers=AUTH, params={"company_id": COMPANY}
        )
    assert "Anotado" in plain
    assert flag.json()["active"] is True and "Anotado" not in handed


async def test_the_qualifying_slots_and_score_threshold_are_the_companys(make_agent):
    async with make_agent() as agent:
        await _save(agent, {"qualify_on": ["date", "guests"]})
        await agent.answer("casamento dia 20 de março, 100 pessoas", phone="+5511900000005")
        await _save(agent, {"score_threshold": 1.0})
        await agent.answer(QUALIFYING, phone="+5511900000006")
        qualified = await agent.events("lead.qualified")
    # The first qualifies on date and guests alone; the second, every slot known but the budget a range, scores
    # 0.95 < 1.0: not qualified (without the threshold it would be).
    assert len(qualified) == 1 and qualified[0].payload.criteria == ["date", "guests"]


async def test_another_replica_sees_a_save_within_the_ttl(bus):
    here = CompanySettings(bus, Library(None), ttl=60)
    there = CompanySettings(bus, Library(None), ttl=0)
    await there.refresh([COMPANY])
    assert there.of(COMPANY).templates == {}
    await here.save(COMPANY, AgentSettings(greeting="Olá!"), updated_by=None)
    await there.refresh([COMPANY])
    assert there.of(COMPANY).templates == {"greeting": "Olá!"}
    assert here.of(COMPANY).templates == {"greeting": "Olá!"}  # the saving replica, at once


async def test_the_cache_is_bounded(bus):
    settings = CompanySettings(bus, Library(None), ttl=60, capacity=3)
    await settings.refresh([f"cmp_{n}" for n in range(10)])
    assert len(settings._cache) == 3
