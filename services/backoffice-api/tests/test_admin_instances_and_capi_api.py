"""Administration with the `admin` scope: an instance paired (the QR code evolution-manager relays from
Evolution's connect), refreshed and unregistered; the company's Conversions API settings, token write-only.
evolution-manager's pairing routes are a stand-in answering as instance_admin.py there does, extending the
conftest's; facebook-capi's settings are the conftest's."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

COMPANY, OTHER = "cmp_A", "cmp_B"
QR = "data:image/png;base64,iVBORw0KGgo="
CAPI_TOKEN = "EAAG-secret-capi-token-of-cmp-A"


class Admins:
    def __init__(self, upstreams: Any) -> None:
        self.upstreams = upstreams
        self.base = upstreams._evolution
        self.connects: list[str] = []

    def evolution(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/")  # '', v1, instances, name[, action]
        action = parts[4] if len(parts) == 5 else None
        if request.method == "GET" or (request.method == "PUT" and action is None):
            return self.base(request)
        instance = self.upstreams.instances.get(parts[3])
        company = request.url.params.get("company_id")
        if instance is None or (company is not None and instance["company_id"] != company):
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no such instance"}})
        if request.method == "DELETE":
            return httpx.Response(200, json=self.upstreams.instances.pop(parts[3]))
        if action == "refresh":
            return httpx.Response(200, json=instance | {"state": "open", "changed": True, "event_id": None})
        self.connects.append(parts[3])
        return httpx.Response(
            200,
            json={"name": parts[3], "state": "connecting", "qr_code": QR, "qr_text": "2@abc", "count": 1}
            | {"pairing_code": "WZYEH1YY" if request.url.params.get("number") else None},
        )


@pytest.fixture
def upstreams(upstreams: Any) -> Any:
    admins = Admins(upstreams)
    upstreams._evolution = admins.evolution
    upstreams.admins = admins
    return upstreams


async def a_registered_instance(client, headers) -> dict:
    response = await client.put("/v1/instances/loja", json={"api_key": "evo-token-of-loja"}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_connect_answers_the_qr_code_and_with_a_number_the_pairing_code(client, headers, upstreams):
    await a_registered_instance(client, headers)

    qr = await client.post("/v1/instances/loja/connect", headers=headers)
    code = await client.post(
        "/v1/instances/loja/connect", params={"number": "5511912345678"}, headers=headers
    )

    assert qr.status_code == code.status_code == 200
    assert (
        qr.json()["qr_code"] == QR
        and qr.json()["state"] == "connecting"
        and qr.json()["pairing_code"] is None
    )
    assert code.json()["pairing_code"] == "WZYEH1YY"
    assert upstreams.admins.connects == ["loja", "loja"]
    [first, *_] = [r for r in upstreams.requests if r.url.path.endswith("/connect")]
    assert first.url.params["company_id"] == COMPANY


async def test_refresh_and_remove(client, headers, upstreams):
    await a_registered_instance(client, headers)

    refreshed = await client.post("/v1/instances/loja/refresh", headers=headers)
    removed = await client.delete("/v1/instances/loja", headers=headers)
    again = await client.delete("/v1/instances/loja", headers=headers)

    assert refreshed.status_code == 200 and refreshed.json()["state"] == "open"
    assert removed.status_code == 200 and removed.json()["name"] == "loja"
    assert again.status_code == 404
    assert (await client.get("/v1/instances/loja", headers=headers)).status_code == 404


async def test_instance_administration_needs_admin_and_the_company(client, headers, make_key, upstreams):
    await a_registered_instance(client, headers)
    writer = {"X-API-Key": await make_key(scopes={"instances:read", "instances:write"})}
    stranger = {"X-API-Key": await make_key(OTHER)}

    for method, path in (("POST", "/connect"), ("POST", "/refresh"), ("DELETE", "")):
        url = f"/v1/instances/loja{path}"
        assert (await client.request(method, url)).status_code == 401
        refused = await client.request(method, url, headers=writer)
        assert refused.status_code == 403 and "'admin'" in refused.json()["error"]["message"]
        assert (await client.request(method, url, headers=stranger)).status_code == 404
    assert upstreams.admins.connects == [] and "loja" in upstreams.instances


async def test_connect_refuses_a_malformed_number_naming_it(client, headers):
    await a_registered_instance(client, headers)

    refused = await client.post("/v1/instances/loja/connect", params={"number": "+55 11"}, headers=headers)

    assert refused.status_code == 422 and refused.json()["error"]["problems"][0]["field"] == "query.number"


async def test_capi_settings_token_is_write_only_and_kept_when_left_out(client, headers, upstreams):
    with capture_logs() as logs:
        first = await client.put(
            "/v1/admin/capi",
            json={"pixel_id": "1234567890", "access_token": CAPI_TOKEN, "test_event_code": "TEST1"},
            headers=headers,
        )
        second = await client.put(
            "/v1/admin/capi", json={"pixel_id": "1234567890", "test_event_code": "TEST2"}, headers=headers
        )
    read = await client.get("/v1/admin/capi", headers=headers)

    assert first.status_code == second.status_code == read.status_code == 200
    assert read.json()["test_event_code"] == "TEST2" and read.json()["pixel_id"] == "1234567890"
    assert upstreams.capi[COMPANY]["access_token"] == CAPI_TOKEN  # forwarded, kept…
    shown = first.text + second.text + read.text + json.dumps(logs, default=str)
    assert CAPI_TOKEN not in shown and "access_token" not in read.json()  # …never shown nor logged


async def test_capi_settings_bad_input_scope_and_company(client, headers, make_key, upstreams):
    no_token = await client.put("/v1/admin/capi", json={"pixel_id": "1234567890"}, headers=headers)
    bad_pixel = await client.put(
        "/v1/admin/capi", json={"pixel_id": "1/../2", "access_token": "x"}, headers=headers
    )
    no_admin = {"X-API-Key": await make_key(scopes={"metrics:read"})}

    assert no_token.status_code == 422 and no_token.json()["error"]["problems"][0]["field"] == "access_token"
    assert bad_pixel.status_code == 422 and bad_pixel.json()["error"]["problems"][0]["field"] == "pixel_id"
    assert (await client.get("/v1/admin/capi")).status_code == 401
    assert (await client.get("/v1/admin/capi", headers=no_admin)).status_code == 403
    await client.put(
        "/v1/admin/capi", json={"pixel_id": "1234567890", "access_token": CAPI_TOKEN}, headers=headers
    )
    other = await client.get("/v1/admin/capi", headers={"X-API-Key": await make_key(OTHER)})
    assert other.status_code == 404  # another company's key reads only its own (none)
