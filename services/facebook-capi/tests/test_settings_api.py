"""A company's CAPI settings as backoffice-api edits them, with its own credential: the token write-only
and kept when left out, and every change in effect for the next conversion without a restart."""

from __future__ import annotations

BACKOFFICE = {"Authorization": "Bearer backoffice-to-capi-token"}
TOKEN = "EAAGtest-SECRET-capi-token-0123456789"
PIXEL = "1234567890"
COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
URL = f"/v1/settings/companies/{COMPANY}/capi"


async def test_backoffice_sets_the_settings_and_a_change_applies_to_the_next_conversion(
    make_service, events
) -> None:
    async with make_service(backoffice_token="backoffice-to-capi-token") as service:
        first = await service.http.put(
            URL,
            json={"pixel_id": PIXEL, "access_token": TOKEN, "test_event_code": "TEST1"},
            headers=BACKOFFICE,
        )
        await service.bus.publish(events.lead_created(lead_id="lead_01"))
        await service.wait_received(1)
        # The token is left out: the stored one is kept.
        second = await service.http.put(
            URL, json={"pixel_id": PIXEL, "test_event_code": "TEST2"}, headers=BACKOFFICE
        )
        await service.bus.publish(events.lead_created(lead_id="lead_02"))
        await service.wait_received(2)

        assert first.status_code == second.status_code == 200
        assert TOKEN not in first.text + second.text and "access_token" not in second.json()
        assert [e.test_event_code for e in service.graph.events[PIXEL]] == ["TEST1", "TEST2"]
        read = await service.http.get(URL, headers=BACKOFFICE)
        assert read.json()["test_event_code"] == "TEST2"


async def test_a_first_configuration_needs_the_token_and_the_credential(make_service) -> None:
    async with make_service(backoffice_token="backoffice-to-capi-token") as service:
        missing = await service.http.put(URL, json={"pixel_id": PIXEL}, headers=BACKOFFICE)
        anonymous = await service.http.put(URL, json={"pixel_id": PIXEL, "access_token": TOKEN})
        wrong = await service.http.get(URL, headers={"Authorization": "Bearer nope"})
        unknown = await service.http.get(URL, headers=BACKOFFICE)

        assert missing.status_code == 422 and "access_token" in missing.text
        assert anonymous.status_code == wrong.status_code == 401
        assert unknown.status_code == 404
