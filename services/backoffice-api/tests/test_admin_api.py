"""The platform operator's door (routes/admin.py): with BACKOFFICE_ADMIN_TOKEN, and only with it, a company's
first operator key is created over HTTP; the key works on /v1 with the company's scopes, never more."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from structlog.testing import capture_logs

ADMIN = "platform-operator-credential-0123456789abcdef"
COMPANY = "cmp_01JNEWC0MPANY0000000000000"


@pytest_asyncio.fixture
async def admin_client(make_app) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(admin_token=SecretStr(ADMIN))  # model_copy does not validate: the type as settings has it
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_platform_operator_creates_a_companys_first_key_and_it_works_on_v1(admin_client):
    with capture_logs() as logs:
        response = await admin_client.post(
            f"/admin/companies/{COMPANY}/keys", json={"name": "operator of vendas-01"}, headers=bearer(ADMIN)
        )

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["company_id"] == COMPANY and created["key_id"].startswith("key_")
    assert "platform:admin" not in created["scopes"] and "leads:read" in created["scopes"]
    assert created["api_key"] not in str(logs)
    me = await admin_client.get("/v1/me", headers={"X-API-Key": created["api_key"]})
    assert me.status_code == 200, me.text
    assert me.json() == {
        "key_id": created["key_id"],
        "company_id": COMPANY,
        "name": "operator of vendas-01",
        "scopes": created["scopes"],
    }


async def test_without_the_operators_credential_no_key_is_made(admin_client, headers):
    for auth in ({}, bearer("wrong"), {"X-API-Key": headers["X-API-Key"]}, {"Authorization": ADMIN}):
        response = await admin_client.post(f"/admin/companies/{COMPANY}/keys", json={}, headers=auth)
        assert response.status_code == 401, (auth, response.text)


async def test_a_deployment_without_an_admin_token_has_no_such_door(client):
    for token in ("", "None", "null"):
        response = await client.post(f"/admin/companies/{COMPANY}/keys", json={}, headers=bearer(token))
        assert response.status_code == 401


async def test_a_malformed_company_id_or_body_is_a_422_naming_it(admin_client):
    response = await admin_client.post("/admin/companies/acme/keys", json={}, headers=bearer(ADMIN))
    assert response.status_code == 422
    assert response.json()["error"]["problems"][0]["field"] == "path.company_id"
    response = await admin_client.post(
        f"/admin/companies/{COMPANY}/keys", json={"name": "x" * 201}, headers=bearer(ADMIN)
    )
    assert response.status_code == 422
