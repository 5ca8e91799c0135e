"""A company's API keys over HTTP with the `admin` scope: created with the secret shown once (and again only
to a retry of the same Idempotency-Key), listed without secrets, revoked, rotated; the old secrets refused."""

from __future__ import annotations

import uuid

COMPANY, OTHER = "cmp_A", "cmp_B"
NEW = {"name": "vendas-notebook", "scopes": ["leads:read", "deals:read"]}


async def test_a_created_key_works_with_its_scopes_and_is_listed_without_its_secret(client, headers):
    created = await client.post("/v1/admin/keys", json=NEW, headers=headers)

    assert created.status_code == 201
    issued = created.json()
    assert issued["secret"].startswith("wbk_") and issued["key"]["scopes"] == ["deals:read", "leads:read"]
    mine = {"X-API-Key": issued["secret"]}
    assert (await client.get("/v1/leads", headers=mine)).status_code == 200
    assert (await client.get("/v1/contracts", headers=mine)).status_code == 403
    listed = await client.get("/v1/admin/keys", headers=headers)
    assert issued["key"]["key_id"] in [k["key_id"] for k in listed.json()["items"]]
    assert issued["secret"] not in listed.text


async def test_a_retried_creation_answers_the_same_key_and_secret_once_made(client, headers):
    key = {"Idempotency-Key": str(uuid.uuid4())}

    first = await client.post("/v1/admin/keys", json=NEW, headers=headers | key)
    retried = await client.post("/v1/admin/keys", json=NEW, headers=headers | key)
    other_body = await client.post("/v1/admin/keys", json=NEW | {"name": "x"}, headers=headers | key)

    assert (first.status_code, retried.status_code) == (201, 200)
    assert retried.json() == first.json()
    listed = (await client.get("/v1/admin/keys", headers=headers)).json()["items"]
    assert [k["name"] for k in listed].count("vendas-notebook") == 1
    assert other_body.status_code == 422
    assert other_body.json()["error"]["problems"][0]["field"] == "Idempotency-Key"


async def test_a_revoked_key_is_refused_and_revoking_again_is_harmless(client, headers):
    issued = (await client.post("/v1/admin/keys", json=NEW, headers=headers)).json()
    url = f"/v1/admin/keys/{issued['key']['key_id']}"

    revoked = await client.delete(url, headers=headers)
    again = await client.delete(url, headers=headers)

    assert revoked.status_code == again.status_code == 200
    assert revoked.json()["revoked_at"] == again.json()["revoked_at"] is not None
    refused = await client.get("/v1/leads", headers={"X-API-Key": issued["secret"]})
    assert refused.status_code == 403 and refused.json()["error"]["message"] == "API key revoked"


async def test_a_rotated_keys_old_secret_is_refused_and_the_new_one_has_its_scopes(client, headers):
    issued = (await client.post("/v1/admin/keys", json=NEW, headers=headers)).json()
    url = f"/v1/admin/keys/{issued['key']['key_id']}/rotate"
    key = {"Idempotency-Key": str(uuid.uuid4())}

    rotated = await client.post(url, headers=headers | key)
    retried = await client.post(url, headers=headers | key)
    without_key = await client.post(url, headers=headers)

    assert (rotated.status_code, retried.status_code) == (201, 200) and retried.json() == rotated.json()
    new = rotated.json()
    assert new["key"]["key_id"] != issued["key"]["key_id"] and new["secret"] != issued["secret"]
    assert new["key"]["scopes"] == issued["key"]["scopes"] and new["key"]["name"] == issued["key"]["name"]
    assert (await client.get("/v1/leads", headers={"X-API-Key": issued["secret"]})).status_code == 403
    assert (await client.get("/v1/leads", headers={"X-API-Key": new["secret"]})).status_code == 200
    assert without_key.status_code == 409  # rotated already: a second rotation would make a second live key


async def test_administration_needs_the_admin_scope_a_key_and_the_company(client, make_key, headers):
    theirs = (
        await client.post("/v1/admin/keys", json=NEW, headers={"X-API-Key": await make_key(OTHER)})
    ).json()
    no_admin = {"X-API-Key": await make_key(scopes={"leads:read"})}

    assert (await client.get("/v1/admin/keys")).status_code == 401
    refused = await client.get("/v1/admin/keys", headers=no_admin)
    assert refused.status_code == 403 and "'admin'" in refused.json()["error"]["message"]
    assert (await client.post("/v1/admin/keys", json=NEW, headers=no_admin)).status_code == 403
    other_id = theirs["key"]["key_id"]
    assert (await client.delete(f"/v1/admin/keys/{other_id}", headers=headers)).status_code == 404
    assert (await client.post(f"/v1/admin/keys/{other_id}/rotate", headers=headers)).status_code == 404
    listed = (await client.get("/v1/admin/keys", headers=headers)).json()["items"]
    assert {k["company_id"] for k in listed} == {COMPANY}
    assert (await client.get("/v1/leads", headers={"X-API-Key": theirs["secret"]})).status_code == 200


async def test_a_key_cannot_grant_a_scope_it_lacks(client, make_key):
    admin_only = {"X-API-Key": await make_key(scopes={"admin", "leads:read"})}

    refused = await client.post(
        "/v1/admin/keys", json={"scopes": ["leads:read", "platform:admin"]}, headers=admin_only
    )

    assert refused.status_code == 403 and "platform:admin" in refused.json()["error"]["message"]


async def test_bad_input_names_the_field(client, headers):
    unknown = await client.post("/v1/admin/keys", json={"scopes": ["leads:fly"]}, headers=headers)
    empty = await client.post("/v1/admin/keys", json={"scopes": []}, headers=headers)
    short_key = await client.post("/v1/admin/keys", json=NEW, headers=headers | {"Idempotency-Key": "abc"})
    bad_id = await client.delete("/v1/admin/keys/nope", headers=headers)

    assert [r.status_code for r in (unknown, empty, short_key, bad_id)] == [422] * 4
    assert unknown.json()["error"]["problems"][0]["field"] == "scopes"
    assert "scopes" in empty.json()["error"]["problems"][0]["field"]
    assert "Idempotency-Key" in short_key.json()["error"]["problems"][0]["field"]
    assert "key_id" in bad_id.json()["error"]["problems"][0]["field"]
