import json

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
