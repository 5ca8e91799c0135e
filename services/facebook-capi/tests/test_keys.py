"""Redis Cluster safety: the one script of facebook-capi (the outcome record's claim, servicekit.outcomes) and
its one transaction (the dry-run log) each touch one hash slot, the script only the keys it declares; an
event's record is tagged with the event, and events spread over the shards.

The cluster run of the suite (``WB_TEST_REDIS=cluster``) proves the slots of what it executes: the cluster
refuses a cross-slot script or transaction. It cannot see a script touching a key it did not declare in the
same slot, which the recording below does on one server.
"""

from __future__ import annotations

from datetime import UTC, datetime
from hashlib import sha1

import pytest
from eventbus import Keys, forget_processed, group_stats, replay_since
from eventbus.testing.monitor import footprint, record
from eventbus.testing.waiting import eventually
from facebook_capi.keys import ServiceKeys
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from servicekit.outcomes import CLAIM_SCRIPT

PIXEL = "1234567890"
COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
GROUP = "facebook-capi"


def _slot(key: str) -> int:
    return key_slot(key.encode())


@pytest.mark.parametrize(
    "event_id", ["evt_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1", "evt_0", "", "}", "{", "a}b{c", "{evt}", "evt:ç"]
)
def test_the_record_of_an_event_is_tagged_with_the_event_whatever_its_id(event_id) -> None:
    keys = ServiceKeys(Keys("wb"))
    sent = keys.sent(PIXEL, event_id)
    assert sent == f"wb:svc:facebook-capi:{{{PIXEL}:{event_id}}}:sent"
    assert _slot(sent) == _slot(f"{{{PIXEL}:{event_id}}}")


def test_events_spread_over_slots_and_the_other_keys_are_single_key_names() -> None:
    keys = ServiceKeys(Keys("wb"))
    slots = {_slot(keys.sent(PIXEL, f"evt_{n:04d}")) for n in range(50)}
    assert len(slots) > 40  # no tag shared by every event: the ledger spreads over the shards
    assert keys.lead(COMPANY, "lead_1") == f"wb:svc:facebook-capi:lead:{COMPANY}:lead_1"
    assert keys.company(COMPANY) == f"wb:svc:facebook-capi:company:{COMPANY}"
    assert keys.stats(COMPANY) == f"wb:svc:facebook-capi:stats:{COMPANY}"
    assert keys.dry_run() == "wb:svc:facebook-capi:dry_run"


# --- what the server ran, read with MONITOR -------------------------------------------------------------


async def test_every_script_and_transaction_touches_one_slot_and_scripts_only_their_keys(
    make_service, events, bus, bus_settings
) -> None:
    """A configured company's lead created and then its contract, a rebuild replaying the lead (already
    sent), and a dry run: what the server ran for each, read with MONITOR."""
    if isinstance(bus.redis, RedisCluster):
        pytest.skip("MONITOR sees one node; on the cluster the server itself refuses cross-slot work")
    created = events.lead_created()

    async def run() -> None:
        async with make_service() as service:
            await service.configure()
            await service.bus.publish(created)
            await service.wait_received(1)
            await service.bus.publish(events.contract_signed())
            await service.wait_received(2)
            await eventually(lambda: _acknowledged(service, "lead.created"))
            await forget_processed(service.bus, "lead.created", GROUP)
            await replay_since(
                service.bus, "lead.created", GROUP, datetime(2000, 1, 1, tzinfo=UTC), force=True
            )
            await eventually(lambda: _counted(service, "already_sent"))
        async with make_service(dry_run=True) as service:
            await service.bus.publish(events.lead_qualified())
            await eventually(lambda: _counted(service, "dry_run"))

    units = await record(bus.redis, run)

    ours = f"{bus_settings.prefix}:svc:facebook-capi:"
    seen = footprint(units, ours)
    scripts, checked, touched = seen.scripts, seen.units, seen.touched

    assert scripts == {sha1(CLAIM_SCRIPT.encode(), usedforsecurity=False).hexdigest()}
    assert checked["script"] >= 4  # lead (sent, then already sent), contract, qualified lead
    assert checked["transaction"] == 1  # the dry-run log
    keys = ServiceKeys(Keys(bus_settings.prefix))
    assert {
        keys.sent(PIXEL, created.id),
        keys.dry_run(),
        keys.company(COMPANY),
        keys.stats(COMPANY),
    } <= touched
    assert keys.lead(COMPANY, created.payload.lead_id) in touched


async def _acknowledged(service, channel: str) -> bool:
    return any(g.group == GROUP and g.pending == 0 for g in await group_stats(service.bus, channel))


async def _counted(service, outcome: str) -> bool:
    return bool((await service.stats()).get(outcome))
