"""`wolfgang backup export|restore` (issue #20, finding 5): API keys, the instance registry and CAPI settings
round-trip into an empty Redis, where the keys authenticate and the sealed secrets open again."""

from __future__ import annotations

import asyncio
import json
import stat

import eventbus
from backoffice_api.apikeys import ApiKeys
from backoffice_api.keyspace import Keyspace
from evolution_manager.registry import InstanceConfig, Registry
from facebook_capi.companies import CompanyCapiSettings, CompanyConfigs
from servicekit.secretbox import SecretBox, generate_key
from typer.testing import CliRunner
from wolfgang.__main__ import app

COMPANY = "cmp_backup"


async def test_export_then_restore_into_an_empty_redis_keeps_keys_instances_and_capi_settings(
    redis_url, bus_settings, redis_server_factory, tmp_path
):
    box = SecretBox([generate_key()])
    keys = eventbus.Keys(bus_settings.prefix, bus_settings.live_prefix)
    source = eventbus.connect(redis_url, decode_responses=True)
    secret, record = await ApiKeys(source, Keyspace(keys)).create(company_id=COMPANY, scopes={"leads:read"})
    await Registry(source, keys, box=box).put(
        "vendas-01",
        InstanceConfig(company_id=COMPANY, webhook_secret="w" * 32, api_key="instance-token"),
    )
    await CompanyConfigs(source, keys, box=box).put(
        COMPANY, CompanyCapiSettings(pixel_id="123", access_token="EAAG-token")
    )
    await source.aclose()

    file = tmp_path / "backup.jsonl"
    env = {"BUS_PREFIX": bus_settings.prefix, "WOLFGANG_DEBUG": ""}
    exported = await asyncio.to_thread(
        CliRunner().invoke, app, ["backup", "export", str(file)], env=env | {"REDIS_URL": redis_url}
    )
    assert exported.exit_code == 0, exported.output
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    text = file.read_text()
    assert (
        secret not in text
        and "instance-token" not in text
        and "EAAG-token" not in text
        and "w" * 32 not in text
    )
    assert json.loads(text.splitlines()[0])["format"] == "wolfgang-backup"

    empty = redis_server_factory(appendonly=False, name="restored")
    restored = await asyncio.to_thread(
        CliRunner().invoke, app, ["backup", "restore", str(file)], env=env | {"REDIS_URL": empty.url}
    )
    assert restored.exit_code == 0, restored.output
    target = eventbus.connect(empty.url, decode_responses=True)
    try:
        found = await ApiKeys(target, Keyspace(keys)).lookup(secret)
        assert found is not None and found.key_id == record.key_id and found.company_id == COMPANY
        assert [k.key_id for k in await ApiKeys(target, Keyspace(keys)).all()] == [record.key_id]
        registry = Registry(target, keys, box=box)
        instance = await registry.get("vendas-01")
        assert instance.api_key.get_secret_value() == "instance-token"
        assert [i.name for i in await registry.list(COMPANY)] == ["vendas-01"]
        assert (await registry.by_id(instance.instance_id)).name == "vendas-01"
        capi = await CompanyConfigs(target, keys, box=box).get(COMPANY)
        assert capi is not None and capi.access_token.get_secret_value() == "EAAG-token"
    finally:
        await target.aclose()
    again = await asyncio.to_thread(
        CliRunner().invoke, app, ["backup", "restore", str(file)], env=env | {"REDIS_URL": empty.url}
    )
    assert again.exit_code == 0 and "kept" in again.output  # present keys are not overwritten by default


async def test_restore_refuses_a_file_that_is_not_an_export(tmp_path, redis_url):
    file = tmp_path / "other.jsonl"
    file.write_text('{"hello": 1}\n')
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["backup", "restore", str(file)], env={"REDIS_URL": redis_url}
    )
    assert result.exit_code == 1 and "not a wolfgang-backup file" in result.output
