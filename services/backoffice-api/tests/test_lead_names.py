"""Finding a lead by its contact's WhatsApp name (``GET /v1/leads/names?q=``): a word prefix, accents and case
ignored, every word of the query; another company's never; a replayed message files nothing twice; the query is
bounded (2–100 characters) and names the field it refuses."""

from __future__ import annotations

from eventbus import LeadCreated, MessageReceived
from eventbus.testing import samples

COMPANY = "cmp_A"


async def a_lead_named(publish, client, headers, until, n: int, name: str) -> str:
    lead_id, phone = f"lead_n{n}", f"+55119000000{n:02d}"
    await publish(
        LeadCreated(lead_id=lead_id, company_id=COMPANY, channel="whatsapp", lead_external_id=f"wa:{phone}")
    )
    message = samples.message_received(n, lead=phone, body="oi")
    await publish(MessageReceived.model_validate(message.model_dump(by_alias=True) | {"contact_name": name}))
    await until(
        lambda: client.get(f"/v1/leads/{lead_id}", headers=headers),
        lambda r: r.status_code == 200 and any(e["type"] == "message.received" for e in r.json()["timeline"]),
    )
    return lead_id


async def names(client, headers, q: str) -> list[str]:
    response = await client.get("/v1/leads/names", params={"q": q}, headers=headers)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def test_a_lead_is_found_by_a_prefix_of_any_word_of_its_name(publish, client, headers, until):
    maria = await a_lead_named(publish, client, headers, until, 1, "Maria Souza")
    await a_lead_named(publish, client, headers, until, 2, "Márcia Lima")
    await a_lead_named(publish, client, headers, until, 3, "João Souza-Lima")

    assert await names(client, headers, "mar") == ["Márcia Lima", "Maria Souza"]  # accents folded
    assert await names(client, headers, "SOUZA") == ["João Souza-Lima", "Maria Souza"]
    assert await names(client, headers, "lima jo") == ["João Souza-Lima"]  # every word of the query
    assert await names(client, headers, "pedro") == []
    [item] = (await client.get("/v1/leads/names?q=maria s", headers=headers)).json()["items"]
    assert item == {"lead_id": maria, "external_id": "wa:+5511900000001", "name": "Maria Souza"}


async def test_another_companys_names_are_not_found(publish, client, headers, other_headers, until):
    await a_lead_named(publish, client, headers, until, 4, "Beatriz Nunes")
    assert await names(client, other_headers, "beatriz") == []


async def test_a_replayed_message_files_its_name_once(publish, client, headers, until):
    await a_lead_named(publish, client, headers, until, 5, "Carla Dias")
    await a_lead_named(publish, client, headers, until, 5, "Carla Dias")
    assert await names(client, headers, "carla") == ["Carla Dias"]


async def test_the_query_is_bounded_and_the_scope_checked(client, headers, make_key):
    for q in ("a", "x" * 101):
        response = await client.get("/v1/leads/names", params={"q": q}, headers=headers)
        assert response.status_code == 422 and response.json()["error"]["problems"][0]["field"] == "query.q"
    no_leads = {"X-API-Key": await make_key(COMPANY, scopes={"deals:read"})}
    assert (await client.get("/v1/leads/names?q=maria", headers=no_leads)).status_code == 403
