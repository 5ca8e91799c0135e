"""`wolfgang keys` (backoffice_api.keys_cli:app): create shows the key once, list never shows it, revoke works."""

from __future__ import annotations

import asyncio
import hashlib

import eventbus
import pytest
from backoffice_api.keys_cli import app
from backoffice_api.keyspace import Keyspace
from eventbus import Keys
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture
def env(monkeypatch, redis_url, bus_settings):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("BUS_PREFIX", bus_settings.prefix)
    monkeypatch.setenv("COLUMNS", "200")


def test_create_shows_the_key_once_and_list_never_does(env, redis_url, bus_settings):
    created = runner.invoke(
        app,
        [
            "create",
            "--company",
            "cmp_A",
            "--scope",
            "leads:read",
            "--scope",
            "ops:admin",
            "--name",
            "dash",
            "--expires-in-days",
            "30",
            "--rate-per-minute",
            "300",
            "--burst",
            "50",
        ],
    )
    assert created.exit_code == 0, created.output
    key = next(line for line in created.output.splitlines() if line.startswith("wbk_"))
    key_id = next(w for w in created.output.split() if w.startswith("key_"))
    listed = runner.invoke(app, ["list", "--company", "cmp_A"])
    assert listed.exit_code == 0 and key_id in listed.output and key not in listed.output
    assert "leads:read ops:admin" in listed.output and "300" in listed.output
    keyspace = Keyspace(Keys(bus_settings.prefix))

    async def stored() -> dict[str, str]:
        redis = eventbus.connect(redis_url, decode_responses=True)
        try:
            return await redis.hgetall(keyspace.api_key(hashlib.sha256(key.encode()).hexdigest()))
        finally:
            await redis.aclose()

    record = asyncio.run(stored())  # the CLI runs its own event loop: this test is synchronous
    assert record["company_id"] == "cmp_A" and key not in str(record)


def test_revoke_marks_the_key_and_unknown_ids_fail(env):
    created = runner.invoke(app, ["create", "--company", "cmp_A", "--scope", "leads:read"])
    key_id = next(w for w in created.output.split() if w.startswith("key_"))
    revoked = runner.invoke(app, ["revoke", key_id])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert runner.invoke(app, ["revoke", "key_nope"]).exit_code == 1


def test_unknown_scope_is_refused(env):
    result = runner.invoke(app, ["create", "--company", "cmp_A", "--scope", "leads:delete"])
    assert result.exit_code != 0 and "leads:delete" in result.output
