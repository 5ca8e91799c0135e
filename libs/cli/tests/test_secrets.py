"""`wolfgang secrets rotate`: every sealed secret of evolution-manager and facebook-capi encrypted again with
the first key, after which the old key can go."""

from __future__ import annotations

import asyncio
import json

import eventbus
from evolution_manager.registry import InstanceConfig, Registry
from facebook_capi.companies import CompanyCapiSettings, CompanyConfigs
from servicekit.secretbox import SecretBox, generate_key
from typer.testing import CliRunner
from wolfgang.__main__ import app

COMPANY = "cmp_rotate"


async def test_rotate_reseals_every_stored_secret_so_the_old_key_can_be_dropped(redis_url, bus_settings):
    old, new = generate_key(), generate_key()
    keys = eventbus.Keys(bus_settings.prefix, bus_settings.live_prefix)
    redis = eventbus.connect(redis_url, decode_responses=True)
    try:
        await Registry(redis, keys, box=SecretBox([old])).put(
            "vendas-01", InstanceConfig(company_id=COMPANY, webhook_secret="w" * 32, api_key="instance-token")
        )
        await CompanyConfigs(redis, keys, box=SecretBox([old])).put(
            COMPANY, CompanyCapiSettings(pixel_id="123", access_token="EAAG-token")
        )
        env = {"REDIS_URL": redis_url, "BUS_PREFIX": bus_settings.prefix, "SECRETS_KEYS": f"{new},{old}"}
        result = await asyncio.to_thread(CliRunner().invoke, app, ["secrets", "rotate"], env=env)
        assert result.exit_code == 0, result.output
        assert "re-sealed 3 stored secrets" in result.output
        only_new = SecretBox([new])
        instance = await Registry(redis, keys, box=only_new).get("vendas-01")
        assert instance.api_key.get_secret_value() == "instance-token"
        assert instance.webhook_secret.get_secret_value() == "w" * 32
        capi = await CompanyConfigs(redis, keys, box=only_new).get(COMPANY)
        assert capi is not None and capi.access_token.get_secret_value() == "EAAG-token"
        missing = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["secrets", "rotate"],
            env=env | {"SECRETS_KEYS": new + "," + generate_key()},
        )
        assert missing.exit_code == 0  # already under the first key: nothing the second must open
    finally:
        await redis.aclose()


async def test_rotate_without_the_old_key_fails_and_names_the_way_out(redis_url, bus_settings):
    keys = eventbus.Keys(bus_settings.prefix, bus_settings.live_prefix)
    redis = eventbus.connect(redis_url, decode_responses=True)
    try:
        await CompanyConfigs(redis, keys, box=SecretBox([generate_key()])).put(
            COMPANY, CompanyCapiSettings(pixel_id="123", access_token="EAAG-token")
        )
    finally:
        await redis.aclose()
    env = {"REDIS_URL": redis_url, "BUS_PREFIX": bus_settings.prefix, "SECRETS_KEYS": generate_key()}
    result = await asyncio.to_thread(CliRunner().invoke, app, ["secrets", "rotate"], env=env)
    assert result.exit_code == 1 and "keep every key still in use" in result.output


async def test_rotate_seals_the_secrets_an_earlier_version_stored_in_clear(redis_url, bus_settings):
    key = generate_key()
    keys = eventbus.Keys(bus_settings.prefix, bus_settings.live_prefix)
    redis = eventbus.connect(redis_url, decode_responses=True)
    box = SecretBox([key])
    try:
        await Registry(redis, keys, box=box).put(
            "vendas-01", InstanceConfig(company_id=COMPANY), operator=True
        )
        instance = keys.service("evolution-manager", "{vendas-01}", "instance")
        await redis.hset(instance, mapping={"webhook_secret": "w" * 32, "api_key": "clear-token"})
        company = keys.service("facebook-capi", "company", COMPANY)
        await redis.set(
            company, json.dumps({"company_id": COMPANY, "pixel_id": "123", "access_token": "EAAG-clear"})
        )
        env = {"REDIS_URL": redis_url, "BUS_PREFIX": bus_settings.prefix, "SECRETS_KEYS": key}
        result = await asyncio.to_thread(CliRunner().invoke, app, ["secrets", "rotate"], env=env)
        assert result.exit_code == 0, result.output
        assert "clear" not in str(await redis.hgetall(instance)) and "EAAG-clear" not in await redis.get(
            company
        )
        opened = await Registry(redis, keys, box=box).get("vendas-01")
        assert opened.api_key.get_secret_value() == "clear-token"
        capi = await CompanyConfigs(redis, keys, box=box).get(COMPANY)
        assert capi is not None and capi.access_token.get_secret_value() == "EAAG-clear"
    finally:
        await redis.aclose()
