"""Admin API: per-company configuration, write-only token, bearer auth, the optional JSON file."""

import json

from eventbus.testing.waiting import eventually

ADMIN = {"Authorization": "Bearer dev-service-token"}
TOKEN = "EAAGtest-SECRET-capi-token-0123456789"
URL = "/v1/companies/cmp_1/capi"
BODY = {"pixel_id": "1234567890", "access_token": TOKEN, "waba_id": "102030405060708", "enabled": True}


async def test_put_returns_the_config_without_the_token(service) -> None:
    response = await service.http.put(URL, json=BODY | {"test_event_code": "TEST1"}, headers=ADMIN)
    assert response.status_code == 200
    body = response.json()
    assert (body["company_id"], body["pixel_id"], body["waba_id"], body["test_event_code"]) == (
        "cmp_1",
        "1234567890",
        "102030405060708",
        "TEST1",
    )
    assert body["enabled"] is True and body["source"] == "api"
    assert "access_token" not in body and TOKEN not in response.text
    again = await service.http.get(URL, headers=ADMIN)
    assert again.json() == body


async def test_admin_api_needs_the_bearer_token(service) -> None:
    assert (await service.http.put(URL, json=BODY)).status_code == 401
    wrong = await service.http.get(URL, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthenticated"


async def test_company_without_config_is_404(service) -> None:
    assert (await service.http.get("/v1/companies/cmp_none/capi", headers=ADMIN)).status_code == 404


async def test_invalid_config_is_422_naming_the_field(service) -> None:
    response = await service.http.put(URL, json={"pixel_id": "1/../2", "access_token": TOKEN}, headers=ADMIN)
    assert response.status_code == 422
    assert "pixel_id" in response.json()["error"]["message"]
    assert TOKEN not in response.text


async def test_companies_file_configures_and_the_api_overrides_it(make_service, events, tmp_path) -> None:
    path = tmp_path / "companies.json"
    company = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
    path.write_text(
        json.dumps({company: {"pixel_id": "1234567890", "access_token": TOKEN, "waba_id": "777"}})
    )
    async with make_service(companies_file=path) as service:
        from_file = (await service.http.get(f"/v1/companies/{company}/capi", headers=ADMIN)).json()
        assert (from_file["source"], from_file["waba_id"]) == ("file", "777")
        await service.bus.publish(events.lead_created())
        [event] = await service.wait_received(1)
        assert event["user_data"]["whatsapp_business_account_id"] == "777"
        await service.configure(company, waba_id="888")
        assert (await service.http.get(f"/v1/companies/{company}/capi", headers=ADMIN)).json()[
            "source"
        ] == "api"


async def test_stats_count_what_happened_per_company(service, events) -> None:
    await service.bus.publish(events.lead_created())

    async def counted():
        response = await service.http.get(
            "/v1/companies/cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C/capi/stats", headers=ADMIN
        )
        return response.json()["counts"]

    assert await eventually(counted) == {"skipped_no_config": 1}
    metrics = (await service.http.get("/metrics")).text
    assert 'capi_events_total{outcome="skipped_no_config",type="lead.created"}' in metrics
