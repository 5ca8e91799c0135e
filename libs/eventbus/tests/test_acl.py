"""Least privilege (issue #20, finding 5): each service's ACL user reaches its own keys, the channels it
publishes and the groups it consumes with, and nothing else. Runs on one server and, with
``WB_TEST_REDIS=cluster``, on every node of a cluster. The services' suites run their apps on these users
too (each ``tests/conftest.py`` takes ``service_redis_url``)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from functools import partial

import pytest
from eventbus import (
    Bus,
    BusUnavailable,
    Consumer,
    Keys,
    LeadCreated,
    Subscription,
    acl,
    connect,
    forget_processed,
    processed_window_start,
)
from eventbus.testing import samples
from eventbus.testing.waiting import eventually
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoPermissionError

COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"


async def test_a_service_cannot_touch_another_services_keys_or_channels(service_redis_url, bus_settings, bus):
    theirs = bus.keys.service("evolution-manager", "instance", "vendas-01")
    await bus.redis.hset(theirs, "webhook_secret", "x")  # the admin's client
    capi = connect(service_redis_url("facebook-capi"))
    try:
        with pytest.raises(NoPermissionError):
            await capi.hgetall(theirs)
        # agent-runtime publishes lead.created; facebook-capi consumes it but may not forge, trim or drop it
        with pytest.raises(NoPermissionError):
            await capi.xadd(bus.keys.stream("lead.created"), {"e": "{}"})
        with pytest.raises(NoPermissionError):
            await capi.xtrim(bus.keys.stream("lead.created"), maxlen=0)
        with pytest.raises(NoPermissionError):
            await capi.delete(bus.keys.stream("lead.created"))
        with pytest.raises(NoPermissionError):  # another group's processed set
            await capi.sadd(bus.keys.processed("lead.created", "backoffice-api"), "evt_x")
        with pytest.raises(NoPermissionError):  # nor its buckets
            await capi.sadd(bus.keys.processed_bucket("lead.created", "backoffice-api", "01M98PA"), "evt_x")
        with pytest.raises(NoPermissionError):  # nor a group whose name begins like its own
            await capi.zadd(
                bus.keys.processed("lead.created", "facebook-capi") + "-b:buckets", {"01M98PA": 1}
            )
        route = {"target_nodes": RedisCluster.RANDOM} if isinstance(capi, RedisCluster) else {}
        for forbidden in (
            capi.flushall,
            capi.acl_list,
            partial(capi.keys, "*"),
            partial(capi.config_get, "*"),
        ):
            with pytest.raises(NoPermissionError):
                await forbidden(**route)
        mine = bus.keys.service("facebook-capi", "probe")
        await capi.set(mine, "1")
        assert await capi.get(mine) == b"1"
    finally:
        await capi.aclose()


async def test_a_service_publishes_and_consumes_its_catalog_channels_under_its_user(
    service_redis_url, bus_settings
):
    async with (
        Bus.from_url(
            service_redis_url("agent-runtime"), source="agent-runtime", settings=bus_settings
        ) as agent,
        Bus.from_url(
            service_redis_url("facebook-capi"), source="facebook-capi", settings=bus_settings
        ) as capi,
    ):
        lead = LeadCreated(lead_id="lead_1", company_id=COMPANY, channel="whatsapp")
        event_id = (await agent.emit(lead, company_id=COMPANY)).event_id
        seen: list[str] = []

        async def handle(event) -> None:
            seen.append(event.payload.lead_id)

        sub = Subscription("lead.created", handle)
        async with Consumer(capi, "facebook-capi", [sub], block=timedelta(seconds=0.1)).running():
            await eventually(lambda: _true(seen))
            # the consumer scripts mark it in its bucket, index and count under the service's user
            mark = capi.keys.processed_bucket(
                "lead.created", "facebook-capi", event_id.removeprefix("evt_")[:7]
            )
            await eventually(lambda: capi.redis.sismember(mark, event_id))
        assert seen == ["lead_1"]
        await processed_window_start(capi, "lead.created", "facebook-capi")
        await forget_processed(capi, "lead.created", "facebook-capi")  # its own marks, every bucket
        assert not await capi.redis.exists(mark)
        with pytest.raises(
            BusUnavailable, match=r"can't (publish|access)|no permissions to access"
        ):  # not its channel
            await capi.emit(lead, company_id=COMPANY)


async def _true(value: object) -> bool:
    return bool(value)


def test_grants_follow_the_catalog():
    keys = Keys("wb")
    agent = acl.grant("agent-runtime", keys)
    assert "wb:svc:agent-runtime:*" in agent.keys and "{wb:lead.created}:dedupe:*" in agent.keys
    assert "{wb:message.received}:processed:agent-runtime" in agent.keys
    # its buckets, their index and count: the group's name then ':' (not another group's name that begins so)
    assert "{wb:message.received}:processed:agent-runtime:*" in agent.keys
    assert "{wb:message.received}:processed:agent-runtime:*" in agent.consumed
    assert [k for k in agent.keys if ":processed:" in k] == [
        "{wb:message.received}:processed:agent-runtime",
        "{wb:message.received}:processed:agent-runtime:*",
    ]
    assert "{wb:message.received}:dedupe:*" not in agent.keys  # evolution-manager publishes it
    assert agent.channels == ("message.sent", "lead.created", "lead.qualified")
    assert not any("evolution-manager" in k for k in agent.keys)
    rules = acl.grant("facebook-capi", keys).rules("pw")
    assert rules[:3] == ["reset", "on", "#" + hashlib.sha256(b"pw").hexdigest()] and "-@dangerous" in rules
    assert rules[-1].startswith("(~{wb:lead.created}:stream ") and "-xadd" in rules[-1]
    assert acl.services() == (
        "agent-runtime",
        "autentique-service",
        "backoffice-api",
        "evolution-manager",
        "facebook-capi",
    )
    assert acl.with_credentials("redis+cluster://h:7000", "a-b", "p/w") == "redis+cluster://a-b:p%2Fw@h:7000"


async def test_conversion_outcomes_are_appended_by_facebook_capi_and_read_by_backoffice_api_only(
    service_redis_url, bus_settings
):
    report = samples.every_channel()["conversion.reported"]
    async with (
        Bus.from_url(
            service_redis_url("facebook-capi"), source="facebook-capi", settings=bus_settings
        ) as capi,
        Bus.from_url(
            service_redis_url("backoffice-api"), source="backoffice-api", settings=bus_settings
        ) as bo,
        Bus.from_url(
            service_redis_url("agent-runtime"), source="agent-runtime", settings=bus_settings
        ) as agent,
    ):
        await capi.emit(report, company_id=COMPANY)
        seen: list[str] = []

        async def handle(event) -> None:
            seen.append(event.payload.outcome)

        sub = Subscription("conversion.reported", handle)
        async with Consumer(bo, "backoffice-api", [sub], block=timedelta(seconds=0.1)).running():
            await eventually(lambda: _true(seen))
        assert seen == ["sent"]
        # an operator's replay checks another group's window: read only
        await processed_window_start(bo, "lead.created", "facebook-capi")
        with pytest.raises(NoPermissionError):
            await forget_processed(bo, "lead.created", "facebook-capi")
        with pytest.raises(BusUnavailable, match=r"can't (publish|access)|no permissions to access"):
            await agent.emit(report, company_id=COMPANY)  # only its producer appends it
        with pytest.raises(NoPermissionError):
            await agent.redis.xrange(agent.keys.stream("conversion.reported"))  # nor reads it
