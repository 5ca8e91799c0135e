"""``wolfgang keys create``: a company operator's key made by backoffice-api over its admin route, with the
platform operator's credential; the command line never touches backoffice-api's keys in Redis."""

import json

import httpx
from backoffice_api.app import create_app
from backoffice_api.settings import Settings
from fakes.serving import served

#: The platform operator's credential for backoffice-api (BACKOFFICE_ADMIN_TOKEN) in this test.
ADMIN = "platform-operator-credential-for-the-keys-test"


def backoffice(redis_url, bus_settings) -> Settings:
    return Settings(
        redis_url=redis_url,
        bus_prefix=bus_settings.prefix,
        bus_live_prefix=bus_settings.live_prefix,
        consume=False,
        admin_token=ADMIN,
    )


async def test_a_key_created_through_wolfgang_works_on_backoffice_api(
    acli, redis_url, bus_settings, monkeypatch
):
    async with served(create_app(backoffice(redis_url, bus_settings)), lifespan="on") as url:
        monkeypatch.setenv("BACKOFFICE_ADMIN_TOKEN", ADMIN)
        created = await acli(
            "keys", "create", "--company", "cmp_keys", "--name", "ops", "--backoffice-url", url
        )
        as_json = await acli(
            "keys", "create", "--company", "cmp_keys", "--backoffice-url", url, "--json"
        )  # fmt: skip
        async with httpx.AsyncClient(base_url=url) as http:
            secret = created.stdout.strip().splitlines()[-1]
            me = (await http.get("/v1/me", headers={"X-API-Key": secret})).json()

    assert created.exit_code == 0, created.stderr
    assert secret.startswith("wbk_")
    assert me["company_id"] == "cmp_keys" and me["name"] == "ops" and "platform:admin" not in me["scopes"]
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["api_key"].startswith("wbk_")


async def test_a_wrong_platform_credential_makes_no_key_and_says_which_variable(
    acli, redis_url, bus_settings, monkeypatch
):
    async with served(create_app(backoffice(redis_url, bus_settings)), lifespan="on") as url:
        monkeypatch.setenv("BACKOFFICE_ADMIN_TOKEN", "not-the-one")
        refused = await acli("keys", "create", "--company", "cmp_keys", "--backoffice-url", url)

    assert refused.exit_code == 1
    assert "BACKOFFICE_ADMIN_TOKEN" in refused.stderr and "not-the-one" not in refused.stderr
