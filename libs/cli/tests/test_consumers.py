import json

from eventbus import Bus
from eventbus.testing import samples


async def test_consumers_reports_pending_lag_and_dead_letters_per_group(acli, bus):
    stream = bus.keys.stream("lead.created")
    payload = samples.every_channel()["lead.created"]
    await bus.redis.xgroup_create(stream, "facebook-capi", id="0", mkstream=True)
    await bus.redis.xgroup_create(stream, "backoffice-api", id="0")
    for _ in range(3):
        await bus.emit(payload, company_id=samples.COMPANY)
    await bus.redis.xreadgroup("facebook-capi", "capi-1", {stream: ">"}, count=2)
    await bus.redis.xadd(bus.keys.dead_letters("lead.created", "facebook-capi"), {"reason": "x"})

    result = await acli("consumers", "--json")

    assert result.exit_code == 0, result.stderr
    rows = {r["group"]: r for r in json.loads(result.stdout)}
    capi, backoffice = rows["facebook-capi"], rows["backoffice-api"]
    assert (capi["channel"], capi["consumers"], capi["pending"], capi["lag"], capi["dead_letters"]) == (
        "lead.created", 1, 2, 1, 1,
    )  # fmt: skip
    assert (backoffice["pending"], backoffice["lag"], backoffice["dead_letters"]) == (0, 3, 0)


async def test_consumers_table_names_channel_and_group(acli, bus):
    await bus.redis.xgroup_create(bus.keys.stream("contract.signed"), "facebook-capi", id="0", mkstream=True)

    result = await acli("consumers")

    assert "contract.signed" in result.stdout and "facebook-capi" in result.stdout


def test_consumers_on_a_fresh_prefix_says_there_are_none(cli):
    result = cli("consumers")

    assert result.exit_code == 0
    assert "no consumer groups yet" in result.stdout


async def test_consumers_shows_what_a_group_lost_at_the_stream_s_ceiling(acli, bus, redis_url):
    settings = bus.settings.model_copy(update={"stream_maxlen": 10, "stream_ceiling": 20})
    stream = bus.keys.stream("lead.created")
    await bus.redis.xgroup_create(stream, "facebook-capi", id="0", mkstream=True)
    async with Bus.from_url(redis_url, source="tests", settings=settings) as small:
        for _ in range(50):
            await small.emit(samples.every_channel()["lead.created"], company_id=samples.COMPANY)

    as_json = await acli("consumers", "--json")
    table = await acli("consumers")

    [row] = json.loads(as_json.stdout)
    assert row["dropped"] + row["lag"] == 50 and row["dropped"] >= 30 and row["dropped_at"]
    [line] = [line for line in table.stdout.splitlines() if "facebook-capi" in line]
    assert "dropped" in table.stdout and line.rstrip(" │").endswith(f" {row['dropped']}")
