"""Instances belong to one company, proven (issue #20, finding 1): a company registers an instance only with
the instance's own Evolution token, which the fake Evolution verifies as the real one does; a name is
created once (a concurrent second company gets 409); only the platform operator moves an instance or
registers one without a token, and the deployment's global key sends only for instances the platform made."""

from __future__ import annotations

import asyncio

import pytest
from eventbus import Envelope, MessageSent, OutgoingMessage
from eventbus.testing.waiting import eventually
from evolution_manager.errors import MissingApiKey
from evolution_manager.registry import Instance
from evolution_manager.statuses import api_key_for
from pydantic import SecretStr
from structlog.testing import capture_logs

GLOBAL_KEY = "global-key-of-the-evolution-server"
OTHER = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2D"


def problems(response) -> dict[str, str]:
    return {p["field"]: p["problem"] for p in response.json()["error"]["problems"]}


async def test_a_company_registers_a_new_instance_only_with_its_own_evolution_token(
    fake, run_service
) -> None:
    fake.global_apikey = GLOBAL_KEY
    fake.add_instance("vendas-02", "own-token-of-vendas-02")
    async with run_service(api_key=SecretStr(GLOBAL_KEY)) as service:

        async def put(name: str, **body: str):
            body = {"company_id": service.COMPANY, **body}
            return await service.http.put(f"/v1/instances/{name}", json=body, headers=service.ADMIN)

        missing = await put("vendas-02")
        wrong = await put("vendas-02", api_key="own-token-of-vendas-01")
        global_ = await put("vendas-02", api_key=GLOBAL_KEY)
        another = await put("vendas-02", api_key=service.INSTANCE_APIKEY)  # vendas-01's, not vendas-02's
        nowhere = await put("vendas-77", api_key="own-token-of-vendas-02")
        assert [r.status_code for r in (missing, wrong, global_, another, nowhere)] == [422] * 5
        assert [list(problems(r)) for r in (missing, wrong, global_, another)] == [["api_key"]] * 4
        assert list(problems(nowhere)) == ["path.name"]
        assert (await service.http.get("/v1/instances/vendas-02", headers=service.ADMIN)).status_code == 404

        created = await put("vendas-02", api_key="own-token-of-vendas-02")
        assert created.status_code == 201, created.text
        asked = [r for r in fake.requests if r.path == "/instance/connectionState/vendas-02"]
        assert asked[-1].headers["apikey"] == "own-token-of-vendas-02"


async def test_a_company_cannot_take_or_move_another_companys_instance(service) -> None:
    body = {
        "company_id": OTHER,
        "webhook_secret": "attacker-chosen-secret-1234",
        "api_key": service.INSTANCE_APIKEY,
    }
    response = await service.http.put("/v1/instances/vendas-01", json=body, headers=service.ADMIN)
    assert response.status_code == 409
    # Evolution was not asked whether the token opens another company's instance.
    assert not [r for r in service.fake.requests if r.path == "/instance/connectionState/vendas-01"]
    stored = (await service.http.get("/v1/instances/vendas-01", headers=service.ADMIN)).json()
    assert stored["company_id"] == service.COMPANY
    # The attacker's secret was not stored: webhooks signed with it are refused.
    envelope = {"event": "qrcode.updated", "instance": "vendas-01", "data": {}}
    forged = await service.post_webhook(envelope, headers={"x-shared-secret": "attacker-chosen-secret-1234"})
    assert forged.status_code == 401


async def test_two_companies_registering_one_new_name_at_once_one_gets_409(fake, service) -> None:
    fake.add_instance("vendas-03", "own-token-of-vendas-03")
    bodies = [
        {"company_id": company, "api_key": "own-token-of-vendas-03"} for company in (service.COMPANY, OTHER)
    ]
    answers = await asyncio.gather(
        *(service.http.put("/v1/instances/vendas-03", json=b, headers=service.ADMIN) for b in bodies)
    )
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 201).json()["company_id"]
    loser = OTHER if winner == service.COMPANY else service.COMPANY
    assert (await service.http.get("/v1/instances/vendas-03", headers=service.ADMIN)).json()[
        "company_id"
    ] == winner
    listed = await service.http.get(f"/v1/instances?company_id={loser}", headers=service.ADMIN)
    assert "vendas-03" not in [i["name"] for i in listed.json()]


async def test_moving_an_instance_is_the_operators_and_is_logged(service) -> None:
    body = {"company_id": OTHER}
    assert (
        await service.http.put("/v1/instances/vendas-01", json=body, headers=service.ADMIN)
    ).status_code == 409
    managed = {"company_id": service.COMPANY, "managed": True}
    assert (
        await service.http.put("/v1/instances/vendas-01", json=managed, headers=service.ADMIN)
    ).status_code == 403
    with capture_logs() as logs:
        moved = await service.http.put("/v1/instances/vendas-01", json=body, headers=service.OPERATOR)
    assert moved.status_code == 200 and moved.json()["company_id"] == OTHER
    [entry] = [e for e in logs if e["event"] == "instance_moved"]
    assert entry["from_company"] == service.COMPANY and entry["to_company"] == OTHER


async def test_without_an_operator_token_nobody_moves_instances(run_service) -> None:
    async with run_service(operator_token=None, register=False) as service:
        body = {"company_id": OTHER}
        response = await service.http.put("/v1/instances/vendas-01", json=body, headers=service.OPERATOR)
        assert response.status_code == 401


def test_the_global_key_serves_only_instances_the_platform_created() -> None:
    def instance(*, managed: bool, api_key: str | None = None) -> Instance:
        key = SecretStr(api_key) if api_key else None
        return Instance("ins_1", "x", "cmp_1", "whatsapp", "unknown", None, key, managed=managed)

    default = SecretStr(GLOBAL_KEY)
    assert api_key_for(instance(managed=True), default) == GLOBAL_KEY
    assert api_key_for(instance(managed=False, api_key="own"), default) == "own"
    with pytest.raises(MissingApiKey):
        api_key_for(instance(managed=False), default)


async def test_a_reply_through_an_instance_without_its_own_token_is_not_sent_with_the_global_key(
    fake, run_service
) -> None:
    fake.global_apikey = GLOBAL_KEY
    fake.add_instance("vendas-04", "own-token-of-vendas-04")
    fake.add_instance("plataforma-01", "own-token-of-plataforma-01")
    async with run_service(api_key=SecretStr(GLOBAL_KEY)) as service:
        # Registered by the operator without a token: not the platform's, so never the global key.
        unproven = await service.register("vendas-04", company_id=service.COMPANY)
        platform = await service.register("plataforma-01", company_id=service.COMPANY, managed=True)
        for target in (unproven, platform):
            payload = MessageSent(
                instance_id=target["instance_id"], to="+5511987654321", messages=[OutgoingMessage(text="oi")]
            )
            await service.bus.publish(
                Envelope.new(payload, source="agent-runtime", company_id=service.COMPANY)
            )
        await eventually(lambda: _sent(service, "plataforma-01"))
        refreshed = await service.http.post("/v1/instances/vendas-04/refresh", headers=service.ADMIN)
        assert refreshed.status_code == 409
        assert service.sent_texts("vendas-04") == []
        [sent] = [r for r in fake.requests if r.path == "/message/sendText/plataforma-01"]
        assert sent.headers["apikey"] == GLOBAL_KEY


async def _sent(service, instance: str) -> bool:
    return service.sent_texts(instance) == ["oi"]
