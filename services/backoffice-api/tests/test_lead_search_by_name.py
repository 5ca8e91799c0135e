"""Finding a lead by name over HTTP (``GET /v1/leads/search/name``): by its contact's WhatsApp name or the name
the agent learned, by any word, regardless of case and accents; paginated, each lead once; other companies'
leads never; hostile queries bounded with a 422 naming the field."""

from __future__ import annotations

from backoffice_api import names
from eventbus import LeadCreated, LeadQualified, MessageReceived

COMPANY, OTHER = "cmp_A", "cmp_B"
SEARCH = "/v1/leads/search/name"


async def a_lead(publish, client, headers, until, lead_id: str, phone: str, *, company: str = COMPANY):
    await publish(
        LeadCreated(lead_id=lead_id, company_id=company, channel="whatsapp", lead_external_id=f"wa:{phone}"),
        company=company,
    )
    await until(lambda: client.get(f"/v1/leads/{lead_id}", headers=headers), lambda r: r.status_code == 200)


async def writes_as(publish, phone: str, name: str | None, *, company: str = COMPANY, from_me: bool = False):
    await publish(
        MessageReceived(
            instance_id="vendas-01",
            lead_external_id=f"wa:{phone}",
            **{"from": phone},
            body="oi",
            contact_name=name,
            from_me=from_me,
        ),
        company=company,
    )


async def found(client, headers, until, q: str, expected: set[str]) -> list[dict]:
    response = await until(
        lambda: client.get(SEARCH, params={"q": q}, headers=headers),
        lambda r: r.status_code == 200 and {i["lead_id"] for i in r.json()["items"]} == expected,
    )
    return response.json()["items"]


async def test_a_lead_is_found_by_its_whatsapp_name_by_any_word_whatever_the_case_and_accents(
    publish, client, headers, until
):
    await a_lead(publish, client, headers, until, "lead_maria", "+5511911110001")
    await a_lead(publish, client, headers, until, "lead_mario", "+5511911110002")
    await writes_as(publish, "+5511911110001", "María José d'Ávila")
    await writes_as(publish, "+5511911110002", "Mario Souza")

    [lead] = await found(client, headers, until, "MARIA", {"lead_maria"})
    assert lead["matched_name"] == "maria jose d avila" and lead["external_id"] == "wa:+5511911110001"
    assert lead["last_message"]["text"] == "oi"  # the same lead answer as the list's
    await found(client, headers, until, "avila", {"lead_maria"})
    await found(client, headers, until, "jose d", {"lead_maria"})
    await found(client, headers, until, "mari", {"lead_maria", "lead_mario"})
    await found(client, headers, until, "sou", {"lead_mario"})
    response = await client.get(SEARCH, params={"q": "joana"}, headers=headers)
    assert response.status_code == 200 and response.json() == {"items": [], "next_cursor": None}


async def test_a_lead_is_found_by_the_name_the_agent_learned(publish, client, headers, until):
    await a_lead(publish, client, headers, until, "lead_q", "+5511911110003")
    await publish(
        LeadQualified(
            lead_id="lead_q", company_id=COMPANY, score=0.9, summary="casamento", lead_name="Beatriz"
        )
    )
    [lead] = await found(client, headers, until, "beat", {"lead_q"})
    assert lead["matched_name"] == "beatriz" and lead["score"] == 0.9


async def test_a_lead_keeps_every_name_it_went_by_and_is_listed_once(publish, client, headers, until):
    await a_lead(publish, client, headers, until, "lead_r", "+5511911110004")
    await writes_as(publish, "+5511911110004", "Rafa")
    await writes_as(publish, "+5511911110004", "Rafael Lima")
    items = await found(client, headers, until, "raf", {"lead_r"})
    assert len(items) == 1
    await found(client, headers, until, "rafa", {"lead_r"})
    await found(client, headers, until, "lima", {"lead_r"})


async def test_the_businesss_own_name_on_a_phone_typed_message_finds_nothing(publish, client, headers, until):
    await a_lead(publish, client, headers, until, "lead_p", "+5511911110005")
    await writes_as(publish, "+5511911110005", "Loja Exemplo", from_me=True)
    await writes_as(publish, "+5511911110005", "Paula")
    await found(client, headers, until, "paula", {"lead_p"})
    assert (await client.get(SEARCH, params={"q": "loja"}, headers=headers)).json()["items"] == []


async def test_a_contact_without_a_lead_yet_is_found_once_its_lead_exists(publish, client, headers, until):
    await writes_as(publish, "+5511911110006", "Tereza")
    await until(lambda: client.get("/v1/metrics", headers=headers), lambda r: r.status_code == 200)
    assert (await client.get(SEARCH, params={"q": "tereza"}, headers=headers)).json()["items"] == []
    await a_lead(publish, client, headers, until, "lead_t", "+5511911110006")
    await found(client, headers, until, "tereza", {"lead_t"})


async def test_pages_walk_every_match_once_with_the_cursor(publish, client, headers, until):
    expected = set()
    for n in range(7):
        phone = f"+55119222200{n:02d}"
        await a_lead(publish, client, headers, until, f"lead_c{n}", phone)
        await writes_as(publish, phone, f"Carla {n}")
        expected.add(f"lead_c{n}")
    await found(client, headers, until, "carla", expected)
    seen, cursor = [], None
    while True:
        params = {"q": "carla", "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(SEARCH, params=params, headers=headers)).json()
        seen += [item["lead_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(expected) and len(seen) == len(expected)


async def test_another_companys_leads_are_never_found(publish, client, headers, other_headers, until):
    await a_lead(publish, client, headers, until, "lead_x", "+5511911110007")
    await writes_as(publish, "+5511911110007", "Ximena")
    await found(client, headers, until, "ximena", {"lead_x"})
    response = await client.get(SEARCH, params={"q": "ximena"}, headers=other_headers)
    assert response.status_code == 200 and response.json()["items"] == []


async def test_scopes(client, make_key):
    assert (await client.get(SEARCH, params={"q": "ana"})).status_code == 401
    lacking = {"X-API-Key": await make_key(COMPANY, scopes={"deals:read"})}
    assert (await client.get(SEARCH, params={"q": "ana"}, headers=lacking)).status_code == 403


async def test_hostile_queries_get_a_422_naming_the_field(client, headers):
    for params, field in (
        ({}, "query.q"),
        ({"q": "a"}, "query.q"),
        ({"q": "x" * (names.QUERY_MAX + 1)}, "query.q"),
        ({"q": "!!"}, "q"),  # nothing left to search once folded
        ({"q": "ana", "limit": 101}, "query.limit"),
        ({"q": "ana", "cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ({"q": "ana", "cursor": "*" * 401}, "query.cursor"),
    ):
        response = await client.get(SEARCH, params=params, headers=headers)
        assert response.status_code == 422, params
        assert response.json()["error"]["problems"][0]["field"] == field, params


def test_names_fold_to_plain_words_and_index_every_word_suffix_bounded():
    assert names.fold("  MARÍA  d'Ávila ") == "maria d avila"
    assert names.members("Ana Lúcia Souza", "wa:+55") == [
        "ana lucia souza\twa:+55",
        "lucia souza\twa:+55",
        "souza\twa:+55",
    ]
    assert names.members(None, "lead_x") == names.members("  ", "lead_x") == []
    hostile = names.members(" ".join(f"{'w' * 300}{n}" for n in range(50)), "lead_x")
    # at most one member per word kept, each word cut: bounded work and bytes whatever the name
    assert len(hostile) == names.MAX_WORDS
    assert all(len(m) <= names.MAX_WORDS * (names.MAX_WORD + 1) + len("lead_x") for m in hostile)
