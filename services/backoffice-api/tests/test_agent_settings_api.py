"""``/v1/admin/agent-settings`` (issue #24, item 5): a company's agent settings, owned by agent-runtime and
reached over its admin API; scope ``admin``; validated here, 422 naming the field; each company its own."""

from __future__ import annotations

import json

import httpx
import pytest

COMPANY, OTHER = "cmp_A", "cmp_B"
PATH = "/v1/admin/agent-settings"
SETTINGS = {
    "greeting": "Olá{name}! Aqui é o Buffet Estrela 😊",
    "business_hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "opens": "09:00", "closes": "18:00"}],
    "out_of_hours_reply": "Nossa equipe volta amanhã às 9h.",
    "qualify_on": ["date", "guests", "budget"],
    "score_threshold": 0.6,
    "handoff_keywords": ["gerente"],
    "handoff_on_human_reply": False,
    "knowledge": {
        "prices": [{"event_type": "casamento", "per_guest": 150, "minimum": 9000}],
        "cities": ["Campinas", "Valinhos"],
        "address": "Rua das Flores, 100, Campinas",
    },
}


async def test_settings_are_saved_at_agent_runtime_and_read_back(client, make_key, upstreams):
    headers = {"X-API-Key": await make_key(scopes=("admin",))}
    before = await client.get(PATH, headers=headers)
    saved = await client.put(PATH, json=SETTINGS, headers=headers)
    after = await client.get(PATH, headers=headers)
    assert before.status_code == 200 and before.json()["source"] == "default"
    assert saved.status_code == 200, saved.text
    body = after.json()
    assert body["source"] == "stored" and body["updated_by"].startswith("key_")
    assert body["settings"]["greeting"] == SETTINGS["greeting"]
    assert body["settings"]["business_hours"][0]["opens"] == "09:00:00"
    assert body["settings"]["handoff_on_human_reply"] is False
    [put] = [r for r in upstreams.requests if r.method == "PUT"]
    assert put.url.path == f"/v1/companies/{COMPANY}/agent-settings"  # the key's company, never the body's
    assert json.loads(put.content)["settings"]["knowledge"]["cities"] == ["Campinas", "Valinhos"]


async def test_each_company_reads_only_its_own(client, make_key):
    ours = {"X-API-Key": await make_key(scopes=("admin",))}
    theirs = {"X-API-Key": await make_key(company=OTHER, scopes=("admin",))}
    await client.put(PATH, json=SETTINGS, headers=ours)
    assert (await client.get(PATH, headers=theirs)).json()["source"] == "default"


async def test_the_admin_scope_is_needed(client, make_key):
    without = {"X-API-Key": await make_key(scopes=("leads:read", "leads:write", "ops:admin"))}
    assert (await client.get(PATH)).status_code == 401
    assert (await client.get(PATH, headers=without)).status_code == 403
    assert (await client.put(PATH, json=SETTINGS, headers=without)).status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"score_threshold": 2}, "score_threshold"),
        ({"qualify_on": ["budget", "budget"]}, "qualify_on"),
        ({"qualify_on": ["vibes"]}, "qualify_on"),
        ({"business_hours": [{"days": ["mon"], "opens": "18:00", "closes": "09:00"}]}, "business_hours"),
        ({"handoff_keywords": [""]}, "handoff_keywords"),
        ({"knowledge": {"prices": [{"per_guest": -5}]}}, "knowledge.prices"),
        ({"greeting": "x" * 501}, "greeting"),
        ({"greting": "typo"}, "greting"),
    ],
)
async def test_invalid_settings_are_422_naming_the_field_and_never_forwarded(
    client, make_key, upstreams, change, field
):
    headers = {"X-API-Key": await make_key(scopes=("admin",))}
    response = await client.put(PATH, json=SETTINGS | change, headers=headers)
    assert response.status_code == 422
    assert any(p["field"].startswith(field) for p in response.json()["error"]["problems"])
    assert not [r for r in upstreams.requests if r.method == "PUT"]


async def test_agent_runtimes_own_refusal_is_a_422_naming_the_field(client, make_key, upstreams, monkeypatch):
    def refuse(request: httpx.Request) -> httpx.Response:
        problems = [{"field": "settings.greeting", "rule": "value_error", "problem": "not allowed"}]
        return httpx.Response(422, json={"error": {"code": "invalid", "message": "x", "problems": problems}})

    monkeypatch.setattr(upstreams, "_agent_settings", refuse)
    headers = {"X-API-Key": await make_key(scopes=("admin",))}
    response = await client.put(PATH, json=SETTINGS, headers=headers)
    assert response.status_code == 422
    assert [p["field"] for p in response.json()["error"]["problems"]] == ["greeting"]


async def test_agent_runtime_unavailable_is_a_502_after_retries(client, make_key, upstreams):
    headers = {"X-API-Key": await make_key(scopes=("admin",))}
    upstreams.fail["agent"] = 10
    response = await client.get(PATH, headers=headers)
    assert response.status_code == 502


async def test_the_typed_client_reads_and_replaces_the_settings(app, make_key, upstreams):
    from datetime import time

    from backoffice_client import AsyncBackofficeClient, ValidationFailed, models

    key = await make_key(scopes=("admin",))
    settings = models.AgentSettings(
        greeting="Olá{name}!",
        business_hours=[models.AgentOpeningHours(days=["sat"], opens=time(9), closes=time(13))],
        qualify_on=["date", "budget"],
        knowledge=models.AgentKnowledge(prices=[models.AgentPrice(event_type="casamento", per_guest=150)]),
    )
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    async with http, AsyncBackofficeClient(api_key=key, http=http) as api:
        assert (await api.get_agent_settings()).source == "default"
        saved = await api.put_agent_settings(settings)
        again = await api.get_agent_settings()
        with pytest.raises(ValidationFailed):
            await api.put_agent_settings(settings.model_copy(update={"score_threshold": 3.0}))
    assert saved.source == again.source == "stored"
    assert again.settings.business_hours[0].closes == time(13)
    assert again.settings.knowledge.prices[0].per_guest == 150 and again.settings.qualify_on == [
        "date",
        "budget",
    ]
