"""Redis Cluster safety: every script and transaction of evolution-manager touches one hash slot (an
instance's hash), scripts touch only the keys they declare, and the indexes that span instances are keys of
their own, so that instances spread over the shards.

The cluster run of the suite (``WB_TEST_REDIS=cluster``) proves the slots of what it executes: the cluster
refuses a cross-slot script or transaction. It cannot see a script touching a key it did not declare in the
same slot, which the recording below does on one server.
"""

from __future__ import annotations

from hashlib import sha1

import pytest
from eventbus import Keys
from eventbus.testing.monitor import footprint, record
from eventbus.testing.waiting import eventually
from evolution_manager.keys import ServiceKeys
from evolution_manager.registry import _ANNOUNCED, _TRANSITION
from fakes.evolution_webhooks import connection_update_webhook
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from servicekit.outcomes import CLAIM_SCRIPT

COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
SECRET = "s3cr3t-webhook-secret-of-vendas-01-32b"
API_KEY = "fake-instance-apikey-vendas-01"


def _slot(key: str) -> int:
    return key_slot(key.encode())


@pytest.mark.parametrize("name", ["vendas-01", "a", "loja.centro@sp", "0_9-x"])
def test_an_instances_hash_is_tagged_with_its_name_and_the_indexes_are_keys_of_their_own(name) -> None:
    keys = ServiceKeys(Keys("wb"))
    assert keys.instance(name) == f"wb:svc:evolution-manager:{{{name}}}:instance"
    assert _slot(keys.instance(name)) == key_slot(name.encode())
    assert keys.all_instances() == "wb:svc:evolution-manager:instances"
    assert keys.company(COMPANY) == f"wb:svc:evolution-manager:company:{COMPANY}"
    assert keys.instance_id("ins_01J8") == "wb:svc:evolution-manager:instance-id:ins_01J8"
    assert keys.reply("cor_01J8", 2) == "wb:svc:evolution-manager:reply:cor_01J8:2"


def test_instances_spread_over_slots() -> None:
    keys = ServiceKeys(Keys("wb"))
    slots = {_slot(keys.instance(f"vendas-{n:02d}")) for n in range(50)}
    assert len(slots) > 40  # no tag shared by every instance: the registry spreads over the shards


# --- what the server ran, read with MONITOR -------------------------------------------------------------


async def test_every_script_and_transaction_touches_one_slot_and_scripts_only_their_keys(
    run_service, bus, bus_settings
) -> None:
    """Registration (created, updated, moved to another company), listing, a status change by webhook and
    by refresh, and a reply sent: what the server ran for each, read with MONITOR."""
    if isinstance(bus.redis, RedisCluster):
        pytest.skip("MONITOR sees one node; on the cluster the server itself refuses cross-slot work")

    async def run() -> None:
        async with run_service(register=False) as service:
            service.instance = await service.register(
                "vendas-01", company_id=COMPANY, webhook_secret=SECRET, api_key=API_KEY
            )
            await service.register("vendas-01", company_id="cmp_other")
            await service.register("vendas-02", company_id="cmp_other")
            assert (await service.http.get("/v1/instances", headers=service.ADMIN)).status_code == 200
            listed = await service.http.get("/v1/instances?company_id=cmp_other", headers=service.ADMIN)
            assert [i["name"] for i in listed.json()] == ["vendas-01", "vendas-02"]
            update = connection_update_webhook(instance="vendas-01", state="close", status_reason=401)
            assert (await service.post_webhook(update)).json()["status"] == "published"
            refresh = await service.http.post("/v1/instances/vendas-01/refresh", headers=service.ADMIN)
            assert refresh.json()["changed"] is True
            await service.reply("oi")
            await eventually(lambda: _true(len(service.fake.sent) == 1))

    units = await record(bus.redis, run)

    ours = f"{bus_settings.prefix}:svc:evolution-manager:"
    seen = footprint(units, ours)
    scripts, checked, touched = seen.scripts, seen.units, seen.touched

    assert scripts == {
        sha1(s.encode(), usedforsecurity=False).hexdigest() for s in (_TRANSITION, _ANNOUNCED, CLAIM_SCRIPT)
    }
    assert checked["transaction"] >= 3  # one per registration
    keys = ServiceKeys(Keys(bus_settings.prefix))
    assert {k for k in touched if not k.startswith(f"{ours}instance-id:") and not _per_message(k)} == {
        keys.instance("vendas-01"),
        keys.instance("vendas-02"),
        keys.all_instances(),
        keys.company(COMPANY),
        keys.company("cmp_other"),
    }


def _per_message(key: str) -> bool:
    """A reply element's record, a sent id or a send in progress (echoes.py): one single-key command each."""
    return any(part in key for part in (":reply:", ":sent:", ":sending:"))


async def _true(value: bool) -> bool:
    return value
