"""What operators add to a lead over HTTP: its owner (shown on the lead and in the list), notes (newest first,
paginated, with who wrote them), finding it by its phone number in any spelling; scopes, other companies."""

from __future__ import annotations

import pytest
from eventbus import LeadCreated

COMPANY, OTHER = "cmp_A", "cmp_B"


async def a_lead(publish, client, headers, until, lead_id="lead_o", phone="+5511988887777"):
    await publish(
        LeadCreated(lead_id=lead_id, company_id=COMPANY, channel="whatsapp", lead_external_id=f"wa:{phone}")
    )
    await until(lambda: client.get(f"/v1/leads/{lead_id}", headers=headers), lambda r: r.status_code == 200)


async def test_an_owner_is_assigned_shown_and_removed(publish, client, headers, until):
    await a_lead(publish, client, headers, until)
    response = await client.put("/v1/leads/lead_o/owner", json={"owner": "ana"}, headers=headers)
    assert response.status_code == 200 and response.json() == {"lead_id": "lead_o", "owner": "ana"}
    assert (await client.get("/v1/leads/lead_o", headers=headers)).json()["owner"] == "ana"
    assert [lead["owner"] for lead in (await client.get("/v1/leads", headers=headers)).json()["items"]] == [
        "ana"
    ]
    assert (await client.delete("/v1/leads/lead_o/owner", headers=headers)).json()["owner"] is None
    assert (await client.get("/v1/leads/lead_o", headers=headers)).json()["owner"] is None


async def test_notes_are_kept_newest_first_with_their_author(publish, client, make_key, until):
    headers = {"X-API-Key": await make_key(COMPANY, name="Bia")}
    await a_lead(publish, client, headers, until)
    for n in range(5):
        response = await client.post("/v1/leads/lead_o/notes", json={"text": f"note {n}"}, headers=headers)
        assert response.status_code == 201
    assert response.json()["by"]["name"] == "Bia" and response.json()["note_id"].startswith("note_")
    texts, before = [], None
    while True:
        params = {"limit": 2, **({"before": before} if before else {})}
        page = (await client.get("/v1/leads/lead_o/notes", params=params, headers=headers)).json()
        texts += [note["text"] for note in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert texts == [f"note {n}" for n in reversed(range(5))]


async def test_a_lead_is_found_by_its_number_in_any_spelling(publish, client, headers, other_headers, until):
    await a_lead(publish, client, headers, until)
    for spelling in ("+5511988887777", "5511988887777", "+55 (11) 98888-7777"):
        response = await client.get("/v1/leads/search", params={"phone": spelling}, headers=headers)
        assert response.status_code == 200 and response.json()["lead_id"] == "lead_o"
    assert (await client.get("/v1/leads/search?phone=5511900000000", headers=headers)).status_code == 404
    assert (
        await client.get("/v1/leads/search?phone=5511988887777", headers=other_headers)
    ).status_code == 404
    response = await client.get("/v1/leads/search?phone=abc", headers=headers)
    assert response.status_code == 422 and response.json()["error"]["problems"][0]["field"] == "query.phone"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/v1/leads/lead_o/owner", {"owner": "ana"}),
        ("DELETE", "/v1/leads/lead_o/owner", None),
        ("POST", "/v1/leads/lead_o/notes", {"text": "hi"}),
        ("GET", "/v1/leads/lead_o/notes", None),
    ],
)
async def test_scopes_and_other_companies(
    publish, client, headers, other_headers, make_key, until, method, path, body
):
    await a_lead(publish, client, headers, until)
    assert (await client.request(method, path, json=body)).status_code == 401
    scope = "leads:read" if method == "GET" else "leads:write"
    lacking = {
        "X-API-Key": await make_key(COMPANY, scopes={"deals:read"} if method == "GET" else {"leads:read"})
    }
    assert (await client.request(method, path, json=body, headers=lacking)).status_code == 403, scope
    assert (await client.request(method, path, json=body, headers=other_headers)).status_code == 404


async def test_bad_owner_and_note_are_422_naming_the_field(publish, client, headers, until):
    await a_lead(publish, client, headers, until)
    response = await client.put("/v1/leads/lead_o/owner", json={"owner": "a*"}, headers=headers)
    assert response.status_code == 422 and response.json()["error"]["problems"][0]["field"] == "owner"
    response = await client.post("/v1/leads/lead_o/notes", json={"text": ""}, headers=headers)
    assert response.status_code == 422 and response.json()["error"]["problems"][0]["field"] == "text"
    response = await client.get("/v1/leads/lead_o/notes?before=nope", headers=headers)
    assert response.status_code == 422
