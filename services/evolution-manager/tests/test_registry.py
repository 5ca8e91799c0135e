"""The instance registry and its admin API; instances from a file; connection-state refresh."""

from __future__ import annotations

import asyncio
import json

import pytest
from eventbus.testing.waiting import eventually
from evolution_manager import registry as registry_module
from evolution_manager.app import create_app
from evolution_manager.errors import UnknownInstance
from evolution_manager.keys import ServiceKeys
from evolution_manager.registry import InstanceConfig
from pydantic import ValidationError
from structlog.testing import capture_logs


async def test_put_creates_then_updates_keeping_the_instance_id(service) -> None:
    created = service.instance
    assert created["instance_id"].startswith("ins_")
    assert created == {
        "instance_id": created["instance_id"],
        "name": "vendas-01",
        "company_id": service.COMPANY,
        "channel": "whatsapp",
        "status": "unknown",
    }
    response = await service.http.put(
        "/v1/instances/vendas-01", json={"company_id": service.COMPANY}, headers=service.ADMIN
    )
    assert response.status_code == 200
    assert response.json()["instance_id"] == created["instance_id"]


async def test_secrets_are_write_only(service) -> None:
    service.fake.instances["vendas-01"].apikey = "key-123"  # rotated on Evolution, then registered here
    for response in (
        await service.http.get("/v1/instances/vendas-01", headers=service.ADMIN),
        await service.http.get("/v1/instances", headers=service.ADMIN),
        await service.http.put(
            "/v1/instances/vendas-01",
            json={"company_id": service.COMPANY, "webhook_secret": service.SECRET, "api_key": "key-123"},
            headers=service.ADMIN,
        ),
    ):
        assert response.status_code == 200
        assert service.SECRET not in response.text and "key-123" not in response.text


async def test_updating_without_secrets_keeps_the_stored_ones(service) -> None:
    await service.register("vendas-01", company_id=service.COMPANY)
    envelope = {"event": "qrcode.updated", "instance": "vendas-01", "data": {}}
    assert (await service.post_webhook(envelope)).status_code == 200  # the secret registered first
    refreshed = await service.http.post("/v1/instances/vendas-01/refresh", headers=service.ADMIN)
    assert refreshed.status_code == 200  # the API key registered first


async def test_list_filters_by_company(service) -> None:
    await service.register("vendas-02", company_id="cmp_other")
    everyone = (await service.http.get("/v1/instances", headers=service.ADMIN)).json()
    mine = (
        await service.http.get(f"/v1/instances?company_id={service.COMPANY}", headers=service.ADMIN)
    ).json()
    assert [i["name"] for i in everyone] == ["vendas-01", "vendas-02"]
    assert [i["name"] for i in mine] == ["vendas-01"]


async def test_moving_an_instance_to_another_company_updates_both_lists(service) -> None:
    await service.register("vendas-01", company_id="cmp_new")
    old = (
        await service.http.get(f"/v1/instances?company_id={service.COMPANY}", headers=service.ADMIN)
    ).json()
    new = (await service.http.get("/v1/instances?company_id=cmp_new", headers=service.ADMIN)).json()
    assert old == [] and [i["name"] for i in new] == ["vendas-01"]


async def test_index_entries_the_hash_does_not_confirm_are_not_shown(service) -> None:
    """The indexes are written outside the instance's transaction (Redis Cluster: other slots). What a crash
    or a lost race leaves in them is checked against the hash on every read."""
    keys = ServiceKeys(service.bus.keys)
    redis = service.bus.redis
    await redis.sadd(keys.all_instances(), "half-registered")  # indexed, then a crash before its hash
    await redis.sadd(keys.company(service.COMPANY), "half-registered")
    await redis.sadd(keys.company("cmp_left"), "vendas-01")  # moved away, then a crash before the removal
    await redis.set(keys.instance_id("ins_01J8Z0P1F7K4V6E9QW3M0N1B2D"), "vendas-01")  # drawn by a loser
    listed = await service.http.get("/v1/instances", headers=service.ADMIN)
    mine = await service.http.get(f"/v1/instances?company_id={service.COMPANY}", headers=service.ADMIN)
    left = await service.http.get("/v1/instances?company_id=cmp_left", headers=service.ADMIN)
    assert [i["name"] for i in listed.json()] == [i["name"] for i in mine.json()] == ["vendas-01"]
    assert left.json() == []
    registry = service.app.state.ports.registry
    with pytest.raises(UnknownInstance):
        await registry.by_id("ins_01J8Z0P1F7K4V6E9QW3M0N1B2D")
    assert (await registry.by_id(service.instance["instance_id"])).name == "vendas-01"


async def test_concurrent_first_registrations_of_one_name_create_it_once(service) -> None:
    registry = service.app.state.ports.registry
    config = InstanceConfig(company_id=service.COMPANY, api_key="instance-token-of-vendas-09")
    results = await asyncio.gather(*(registry.put("vendas-09", config) for _ in range(5)))
    assert sum(created for _, created in results) == 1
    assert len({instance.instance_id for instance, _ in results}) == 1
    assert (await registry.by_id(results[0][0].instance_id)).name == "vendas-09"


async def test_admin_api_needs_the_service_token(service) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        assert (await service.http.get("/v1/instances", headers=headers)).status_code == 401
        put = await service.http.put("/v1/instances/x", json={"company_id": "c"}, headers=headers)
        assert put.status_code == 401


async def test_unknown_instance_is_404(service) -> None:
    assert (await service.http.get("/v1/instances/nope", headers=service.ADMIN)).status_code == 404
    assert (await service.http.post("/v1/instances/nope/refresh", headers=service.ADMIN)).status_code == 404


async def test_bad_registration_is_422_naming_the_field(service) -> None:
    response = await service.http.put(
        "/v1/instances/vendas-03", json={"company_id": "c", "webhook_secret": "short"}, headers=service.ADMIN
    )
    assert response.status_code == 422
    assert [p["field"] for p in response.json()["error"]["problems"]] == ["webhook_secret"]


async def test_instances_file_is_loaded_on_start(run_service, tmp_path) -> None:
    path = tmp_path / "instances.json"
    secret = "file-secret-0123456789abcdef0123"
    path.write_text(
        json.dumps(
            {
                "instances": [
                    {"name": "vendas-01", "company_id": "cmp_file", "webhook_secret": secret, "api_key": "k"}
                ]
            }
        )
    )
    async with run_service(register=False, instances_file=path) as service:

        async def loaded():
            response = await service.http.get("/v1/instances/vendas-01", headers=service.ADMIN)
            return response.json() if response.status_code == 200 else None

        instance = await eventually(loaded)
        assert instance["company_id"] == "cmp_file"
        envelope = {"event": "qrcode.updated", "instance": "vendas-01", "data": {}}
        ok = await service.post_webhook(envelope, headers={"x-shared-secret": secret})
        assert ok.status_code == 200


async def test_refresh_on_start_publishes_each_instances_state(run_service, fake) -> None:
    async with run_service() as first:  # registers vendas-01 (the fake says "open")
        pass
    async with run_service(register=False, refresh_on_start=True) as service:
        events = await eventually(lambda: service.published("instance.status"))
        assert [(e.payload.status, e.payload.details["source"]) for e in events] == [("connected", "refresh")]
        assert events[0].payload.instance_id == first.instance["instance_id"]
        assert fake.requests_to("/instance/connectionState/vendas-01")[0].headers["apikey"] == (
            "fake-instance-apikey-vendas-01"
        )


async def test_refresh_on_demand_publishes_only_on_change(service) -> None:
    first = await service.http.post("/v1/instances/vendas-01/refresh", headers=service.ADMIN)
    assert first.status_code == 200
    assert first.json()["changed"] is True and first.json()["status"] == "connected"
    second = (await service.http.post("/v1/instances/vendas-01/refresh", headers=service.ADMIN)).json()
    assert second["changed"] is False and second["event_id"] is None
    service.fake.instances["vendas-01"].connection_state = "close"
    third = (await service.http.post("/v1/instances/vendas-01/refresh", headers=service.ADMIN)).json()
    assert third["changed"] is True and third["status"] == "disconnected"
    events = await service.published("instance.status")
    assert [e.payload.status for e in events] == ["connected", "disconnected"]
    assert [e.id for e in events] == [first.json()["event_id"], third["event_id"]]


async def test_refresh_of_an_instance_evolution_does_not_know_is_an_error_status(service) -> None:
    del service.fake.instances["vendas-01"]
    refreshed = (await service.http.post("/v1/instances/vendas-01/refresh", headers=service.ADMIN)).json()
    assert refreshed["status"] == "error" and refreshed["changed"] is True


async def test_evolution_down_during_refresh_is_502(service) -> None:
    service.fake.go_down(500)
    response = await service.http.post("/v1/instances/vendas-01/refresh", headers=service.ADMIN)
    assert response.status_code == 502


async def test_registration_never_logs_secrets(service) -> None:
    with capture_logs() as logs:
        await service.register(
            "vendas-02", company_id="c", webhook_secret="another-long-secret-value-123", api_key="ak-999"
        )
        await service.http.post("/v1/instances/vendas-02/refresh", headers=service.ADMIN)
    text = json.dumps(logs, default=str)
    assert "another-long-secret-value-123" not in text and "ak-999" not in text


def test_a_typo_in_the_instances_file_stops_the_start(make_settings, tmp_path) -> None:
    path = tmp_path / "instances.json"
    path.write_text(json.dumps([{"name": "vendas-01", "company_id": "c", "webhok_secret": "x" * 20}]))
    with pytest.raises(ValidationError, match="webhok_secret"):
        create_app(make_settings(instances_file=path))


async def test_by_id_reads_an_ids_name_once_and_the_instance_itself_every_time(service) -> None:
    registry = service.app.state.ports.registry
    instance_id = service.instance["instance_id"]
    await registry.by_id(instance_id)
    id_key = ServiceKeys(service.app.state.ports.bus.keys).instance_id(instance_id)
    # The id's name is remembered: a later read does not need the index (an id never changes its name) ...
    await registry.redis.delete(id_key)
    assert (await registry.by_id(instance_id)).name == "vendas-01"
    # ... while the instance is read every time: a change made by another replica (a rotated API key, here its
    # managed flag) is used at once.
    await registry.redis.hset(
        ServiceKeys(service.app.state.ports.bus.keys).instance("vendas-01"), "managed", "1"
    )
    assert (await registry.by_id(instance_id)).managed is True


async def test_by_id_refuses_an_id_whose_name_was_removed_or_registered_anew(service) -> None:
    registry = service.app.state.ports.registry
    old = service.instance["instance_id"]
    await registry.by_id(old)
    await registry.remove("vendas-01")
    with pytest.raises(UnknownInstance):
        await registry.by_id(old)
    renewed, _ = await registry.put(
        "vendas-01", InstanceConfig(company_id=service.COMPANY, api_key="k"), operator=True
    )
    assert renewed.instance_id != old
    with pytest.raises(UnknownInstance):
        await registry.by_id(old)
    assert (await registry.by_id(renewed.instance_id)).name == "vendas-01"


async def test_by_id_remembers_a_bounded_number_of_names(service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "NAMES_REMEMBERED", 2)
    registry = service.app.state.ports.registry
    config = InstanceConfig(company_id=service.COMPANY, api_key="k")
    ids = [(await registry.put(f"vendas-9{n}", config, operator=True))[0].instance_id for n in range(5)]
    for instance_id in ids:
        await registry.by_id(instance_id)
        assert len(registry._names) <= 2
