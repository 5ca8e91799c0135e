import json
import time
from datetime import timedelta

import pytest
import ulid_transform
from eventbus import Consumer, DeadLetters, Envelope, PermanentFailure, Subscription
from eventbus.testing import samples
from eventbus.testing.waiting import eventually

GROUP = "evolution-manager"


@pytest.fixture
async def dead(bus):
    """Two message.sent events that the group dead-lettered (the handler refused them for good)."""

    async def refuse(event):
        raise PermanentFailure("Evolution answered 400: number not on WhatsApp")

    consumer = Consumer(
        bus, GROUP, [Subscription("message.sent", refuse)], name="c1", block=timedelta(milliseconds=50)
    )
    payload = samples.every_channel()["message.sent"]
    ids = [(await bus.emit(payload, company_id=samples.COMPANY)).event_id for _ in range(2)]
    letters = DeadLetters(bus, "message.sent", GROUP)
    async with consumer.running():
        await eventually(lambda: _has(letters, 2))
    return ids


async def _has(letters, n):
    return await letters.count() == n


async def test_dlq_list_shows_each_dead_letter_with_its_reason(acli, dead):
    result = await acli("dlq", "list", "message.sent", "--group", GROUP, "--json")

    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert sorted(r["event_id"] for r in rows) == sorted(dead)
    assert all("not on WhatsApp" in r["error"] or "not on WhatsApp" in r["reason"] for r in rows)


async def test_dlq_list_as_a_table_names_the_events(acli, dead):
    result = await acli("dlq", "list", "message.sent", "--group", GROUP)

    assert dead[0] in result.stdout and dead[1] in result.stdout


async def test_dlq_show_prints_the_original_envelope(acli, bus, dead):
    [first, _] = await DeadLetters(bus, "message.sent", GROUP).list()

    result = await acli("dlq", "show", "message.sent", "-g", GROUP, "--id", first.id, "--json")

    shown = json.loads(result.stdout)
    assert shown["envelope"]["id"] == first.event_id
    assert shown["attempts"] >= 1


async def test_dlq_replay_one_puts_it_back_with_the_same_event_id(acli, bus, dead):
    letters = DeadLetters(bus, "message.sent", GROUP)
    [first, _] = await letters.list()

    result = await acli("dlq", "replay", "message.sent", "-g", GROUP, "--id", first.id)

    assert result.exit_code == 0, result.stderr
    assert await letters.count() == 1
    entries = await bus.redis.xrange(bus.keys.stream("message.sent"))
    assert [f[b"i"].decode() for _, f in entries] == [*dead, first.event_id]
    assert entries[-1][1][b"g"] == GROUP.encode()  # only this group gets it again


async def test_dlq_replay_all_and_purge_all(acli, bus, dead):
    letters = DeadLetters(bus, "message.sent", GROUP)

    replayed = await acli("dlq", "replay", "message.sent", "-g", GROUP, "--all", "--json")

    assert json.loads(replayed.stdout) == {"replayed": 2}
    assert await letters.count() == 0


async def test_dlq_purge_all_deletes_them(acli, bus, dead):
    purged = await acli("dlq", "purge", "message.sent", "-g", GROUP, "--all", "--json")

    assert json.loads(purged.stdout) == {"purged": 2}
    assert await DeadLetters(bus, "message.sent", GROUP).count() == 0


async def test_dlq_commands_need_exactly_one_of_id_or_all(acli, dead):
    neither = await acli("dlq", "purge", "message.sent", "-g", GROUP)
    both = await acli("dlq", "replay", "message.sent", "-g", GROUP, "--all", "--id", "1-0")

    assert neither.exit_code == both.exit_code == 1
    assert "exactly one of --id ID or --all" in neither.stderr


def test_dlq_show_of_an_unknown_id_is_one_line(cli):
    result = cli("dlq", "show", "message.sent", "-g", GROUP, "--id", "1-0")

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no dead letter '1-0'"


def test_dlq_rejects_a_channel_outside_the_catalog(cli):
    result = cli("dlq", "list", "message.lost", "-g", GROUP)

    assert result.exit_code == 1
    assert "unknown channel 'message.lost'" in result.stderr


async def test_dlq_replay_of_an_event_older_than_the_processed_window_needs_force(acli, bus):
    """9 days old, past the 8 days the group remembers what it processed: replaying could repeat it."""

    async def refuse(event):
        raise PermanentFailure("Evolution answered 400")

    payload = samples.every_channel()["message.sent"]
    event = Envelope.new(payload, source="tests", company_id=samples.COMPANY)
    nine_days_ago = ulid_transform.ulid_at_time(time.time() - 9 * 86400)
    await bus.publish(event.model_copy(update={"id": f"evt_{nine_days_ago}"}))
    letters = DeadLetters(bus, "message.sent", GROUP)
    consumer = Consumer(bus, GROUP, [Subscription("message.sent", refuse)], block=timedelta(milliseconds=50))
    async with consumer.running():
        await eventually(lambda: _has(letters, 1))
    [letter] = await letters.list()

    refused = await acli("dlq", "replay", "message.sent", "-g", GROUP, "--id", letter.id)
    refused_all = await acli("dlq", "replay", "message.sent", "-g", GROUP, "--all")
    assert refused.exit_code == refused_all.exit_code == 1
    assert "processed events begins" in refused.stderr and "--force" in refused.stderr
    assert await letters.count() == 1

    forced = await acli("dlq", "replay", "message.sent", "-g", GROUP, "--id", letter.id, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert await letters.count() == 0
