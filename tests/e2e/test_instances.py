"""Instances belong to one company, proven, across real processes: backoffice-api → evolution-manager → the fake
Evolution API (issue #20, finding 1), and webhooks that cannot tell which instance names exist (finding 9)."""

from datetime import UTC, datetime

import pytest
from backoffice_api.apikeys import SCOPES, ApiKeys
from backoffice_api.keyspace import Keyspace
from eventbus import connect
from wolfgang.system import INSTANCE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


async def key_of(running, company_id: str) -> dict[str, str]:
    redis = connect(running.system.redis_url, decode_responses=True)
    try:
        secret, _ = await ApiKeys(redis, Keyspace(running.bus.keys)).create(
            company_id=company_id, scopes=set(SCOPES), name=f"e2e {datetime.now(UTC).isoformat()}"
        )
    finally:
        await redis.aclose()
    return {"X-API-Key": secret}


async def test_a_company_registers_only_instances_it_holds_the_evolution_token_of(running) -> None:
    seed = await running.demo.seed()  # the demo company registers vendas-01 with its token
    http, api = running.http, running.system.url("backoffice-api")
    intruder = await key_of(running, "cmp_e2e_intruder")
    fake = running.system.url("fake-evolution")
    await http.post(f"{fake}/_fake/instances", json={"name": "suporte-02", "apikey": "token-of-suporte-02"})

    taken = await http.put(f"{api}/v1/instances/{INSTANCE}", json={"api_key": "x" * 16}, headers=intruder)
    assert taken.status_code == 409, taken.text
    mine = await http.get(f"{api}/v1/instances/{INSTANCE}", headers={"X-API-Key": seed.api_key})
    assert mine.json()["company_id"] == seed.company_id

    for body in ({}, {"api_key": "not-the-token-of-suporte-02"}):
        refused = await http.put(f"{api}/v1/instances/suporte-02", json=body, headers=intruder)
        assert refused.status_code == 422, refused.text
        assert [p["field"] for p in refused.json()["error"]["problems"]] == ["api_key"]
    created = await http.put(
        f"{api}/v1/instances/suporte-02", json={"api_key": "token-of-suporte-02"}, headers=intruder
    )
    assert created.status_code == 200 and created.json()["company_id"] == "cmp_e2e_intruder", created.text


async def test_unknown_instance_and_wrong_secret_answer_alike(running) -> None:
    await running.demo.seed()
    url = f"{running.system.url('evolution-manager')}/webhooks/evolution"
    envelope = {"event": "messages.upsert", "instance": INSTANCE, "data": {}}
    known = await running.http.post(
        url, json=envelope, headers={"x-shared-secret": "wrong-secret-0123456789"}
    )
    unknown = await running.http.post(url, json=envelope | {"instance": "nao-existe-99"})
    assert (known.status_code, known.text) == (unknown.status_code, unknown.text)
    assert known.status_code == 401


async def test_a_company_pairs_refreshes_and_removes_its_instance_through_backoffice(running) -> None:
    seed = await running.demo.seed()
    http, api = running.http, running.system.url("backoffice-api")
    mine = {"X-API-Key": seed.api_key}
    fake = running.system.url("fake-evolution")
    await http.post(
        f"{fake}/_fake/instances",
        json={"name": "vendas-03", "apikey": "token-of-vendas-03", "connection_state": "close"},
    )
    registered = await http.put(
        f"{api}/v1/instances/vendas-03", json={"api_key": "token-of-vendas-03"}, headers=mine
    )
    assert registered.status_code == 200, registered.text

    pairing = await http.post(
        f"{api}/v1/instances/vendas-03/connect", params={"number": "5511912345678"}, headers=mine
    )
    refreshed = await http.post(f"{api}/v1/instances/vendas-03/refresh", headers=mine)
    stranger = await key_of(running, "cmp_e2e_stranger")
    theirs = await http.post(f"{api}/v1/instances/vendas-03/connect", headers=stranger)
    removed = await http.delete(f"{api}/v1/instances/vendas-03", headers=mine)

    assert pairing.status_code == 200, pairing.text
    assert pairing.json()["state"] == "connecting" and pairing.json()["qr_code"].startswith(
        "data:image/png;base64,"
    )
    assert pairing.json()["qr_text"] == "2@vendas-03-1" and pairing.json()["pairing_code"]  # the fake's QR
    assert refreshed.status_code == 200 and refreshed.json()["state"] == "connecting"
    assert theirs.status_code == 404
    assert removed.status_code == 200
    assert (await http.get(f"{api}/v1/instances/vendas-03", headers=mine)).status_code == 404
