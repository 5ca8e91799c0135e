"""Instances over HTTP: registered through evolution-manager (secrets forwarded, never returned), listed with
the last status the instance.status projection saw."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from eventbus import Envelope, InstanceStatus
from structlog.testing import capture_logs

COMPANY, OTHER = "cmp_A", "cmp_B"
SECRETS = {"webhook_secret": "whsec-very-secret", "api_key": "evo-api-key-123"}


async def test_instance_is_registered_with_write_only_secrets(client, headers, upstreams):
    with capture_logs() as logs:
        response = await client.put("/v1/instances/loja-centro", json=SECRETS, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "loja-centro" and body["company_id"] == COMPANY and body["channel"] == "whatsapp"
    assert upstreams.secrets["loja-centro"] == SECRETS  # forwarded to evolution-manager…
    answer = response.text + (await client.get("/v1/instances", headers=headers)).text
    for secret in SECRETS.values():  # …and never shown nor logged
        assert secret not in answer and secret not in json.dumps(logs, default=str)
    [put] = [r for r in upstreams.requests if r.method == "PUT"]
    assert json.loads(put.content) == {"company_id": COMPANY, "channel": "whatsapp", **SECRETS}


OWN_TOKEN = {"api_key": "evo-token-of-loja"}


async def test_instances_list_with_their_last_status(client, headers, publish, until):
    instance = (await client.put("/v1/instances/loja", json=OWN_TOKEN, headers=headers)).json()
    now = datetime.now(UTC)
    for status, minutes in (("connected", 1), ("disconnected", 2)):
        await publish(
            Envelope.new(
                InstanceStatus(
                    instance_id=instance["instance_id"], company_id=COMPANY, channel="whatsapp", status=status
                ),
                source="evolution-manager",
                company_id=COMPANY,
                occurred_at=now + timedelta(minutes=minutes),
            )
        )
    response = await until(
        lambda: client.get("/v1/instances", headers=headers),
        lambda r: (r.json()["items"][0]["last_status"] or {}).get("status") == "disconnected",
    )
    assert [i["name"] for i in response.json()["items"]] == ["loja"]
    one = (await client.get("/v1/instances/loja", headers=headers)).json()
    assert one["last_status"]["status"] == "disconnected"


async def test_update_keeps_the_instance_id(client, headers, upstreams):
    first = (await client.put("/v1/instances/loja", json=OWN_TOKEN, headers=headers)).json()
    upstreams.tokens["loja"] = "rotated-key-1"  # rotated on Evolution, then here
    second = (
        await client.put("/v1/instances/loja", json={"api_key": "rotated-key-1"}, headers=headers)
    ).json()
    assert first["instance_id"] == second["instance_id"]


async def test_operator_cannot_see_or_take_another_companys_instance(client, headers, other_headers):
    await client.put("/v1/instances/loja", json=OWN_TOKEN, headers=headers)
    assert (await client.get("/v1/instances/loja", headers=other_headers)).status_code == 404
    assert (await client.get("/v1/instances", headers=other_headers)).json()["items"] == []
    response = await client.put("/v1/instances/loja", json={}, headers=other_headers)
    assert response.status_code == 409


async def test_bad_instance_requests_get_422_and_an_outage_502(client, headers, upstreams):
    response = await client.put("/v1/instances/bad name!", json={}, headers=headers)
    assert response.status_code == 422 and response.json()["error"]["problems"][0]["field"] == "path.name"
    response = await client.put("/v1/instances/loja", json={"channel": "telegram", "pin": 1}, headers=headers)
    assert response.status_code == 422
    assert {p["field"] for p in response.json()["error"]["problems"]} == {"channel", "pin"}
    upstreams.fail["evolution"] = 10
    assert (await client.get("/v1/instances", headers=headers)).status_code == 502
    assert (await client.get("/v1/instances/nope", headers=headers)).status_code == 502


async def test_a_dot_name_is_one_instance_never_the_list_of_all(client, headers, upstreams):
    """`/v1/instances/.` reached evolution-manager as `/v1/instances` (URL normalisation), its list of every
    company's instances: the name travels as one encoded path segment."""
    for raw, sent in (("%2E", b"/v1/instances/%2E"), ("%2E%2E", b"/v1/instances/%2E%2E")):
        upstreams.requests.clear()
        response = await client.get(f"/v1/instances/{raw}", headers=headers)
        assert response.status_code == 404
        assert [r.url.raw_path for r in upstreams.requests] == [sent]


async def test_registering_a_new_instance_needs_its_own_evolution_token(client, headers, upstreams):
    for body in ({}, {"api_key": "somebody-elses-token"}):
        response = await client.put("/v1/instances/loja", json=body, headers=headers)
        assert response.status_code == 422, response.text
        assert [p["field"] for p in response.json()["error"]["problems"]] == ["api_key"]
    assert "loja" not in upstreams.instances
    assert (await client.put("/v1/instances/loja", json=OWN_TOKEN, headers=headers)).status_code == 200


async def test_whether_a_name_is_free_is_left_to_evolution_manager_in_one_call(
    client, headers, other_headers, upstreams
):
    # A lookup first, then an unconditional write, was the gap in which another company took the name.
    await client.put("/v1/instances/loja", json=OWN_TOKEN, headers=headers)
    upstreams.requests.clear()
    response = await client.put("/v1/instances/loja", json=OWN_TOKEN, headers=other_headers)
    assert response.status_code == 409
    assert [(r.method, r.url.path) for r in upstreams.requests] == [("PUT", "/v1/instances/loja")]
    assert json.loads(upstreams.requests[0].content)["company_id"] == OTHER
