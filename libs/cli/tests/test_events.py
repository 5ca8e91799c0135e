import json

from eventbus import Envelope, catalog
from eventbus.testing import samples

LEAD = {"lead_id": "lead_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1", "company_id": samples.COMPANY, "channel": "whatsapp"}


async def test_publish_prints_the_event_id_and_the_event_is_in_the_stream(acli, bus):
    result = await acli(
        "publish", "lead.created", "--payload", json.dumps(LEAD), "--company-id", samples.COMPANY
    )

    assert result.exit_code == 0, result.stderr
    event_id = result.stdout.strip()
    [(_, fields)] = await bus.redis.xrange(bus.keys.stream("lead.created"))
    stored = catalog.parse(fields[b"e"])
    assert stored.id == event_id
    assert stored.source == "wolfgang"
    assert stored.payload.lead_id == LEAD["lead_id"]


async def test_publish_with_the_same_dedupe_key_publishes_once(acli, bus):
    args = [
        "publish",
        "lead.created",
        "-p",
        json.dumps(LEAD),
        "-c",
        samples.COMPANY,
        "--dedupe-key",
        "k1",
        "--json",
    ]

    first = json.loads((await acli(*args)).stdout)
    second = json.loads((await acli(*args)).stdout)

    assert second == {"event_id": first["event_id"], "entry_id": None, "duplicate": True}
    assert await bus.redis.xlen(bus.keys.stream("lead.created")) == 1


def test_publish_rejects_a_payload_outside_the_catalog_in_one_line(cli):
    result = cli("publish", "lead.created", "--payload", '{"lead_id": "nope"}', "--company-id", "cmp_1")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "lead_id" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_publish_rejects_an_unknown_type_and_bad_json(cli):
    unknown = cli("publish", "lead.exploded", "--payload", "{}", "--company-id", "cmp_1")
    broken = cli("publish", "lead.created", "--payload", "{not json", "--company-id", "cmp_1")

    assert unknown.exit_code == 1 and "unknown event type 'lead.exploded'" in unknown.stderr
    assert broken.exit_code == 1 and "--payload is not JSON" in broken.stderr


async def test_events_lists_the_latest_of_a_channel_oldest_first(acli, bus):
    for n in range(5):
        await bus.emit(samples.message_received(n, body=f"mensagem {n}"), company_id=samples.COMPANY)

    result = await acli("events", "message.received", "--since", "5m", "--limit", "3", "--json")

    assert result.exit_code == 0, result.stderr
    bodies = [row["event"]["payload"]["body"] for row in json.loads(result.stdout)]
    assert bodies == ["mensagem 2", "mensagem 3", "mensagem 4"]


async def test_events_with_oldest_reads_forward_from_since(acli, bus):
    for n in range(4):
        await bus.emit(samples.message_received(n, body=f"m{n}"), company_id=samples.COMPANY)

    result = await acli("events", "message.received", "--since", "1h", "--limit", "2", "--oldest", "--json")

    assert [r["event"]["payload"]["body"] for r in json.loads(result.stdout)] == ["m0", "m1"]


async def test_events_shows_unreadable_entries_instead_of_failing(acli, bus):
    await bus.redis.xadd(
        bus.keys.stream("lead.created"), {"i": "x", "t": "lead.created", "v": "1", "e": "{garbage"}
    )

    result = await acli("events", "lead.created", "--json")

    [row] = json.loads(result.stdout)
    assert row["event"] is None and row["raw"] == "{garbage" and row["problem"]


async def test_events_prints_readable_lines_with_the_correlation_id(acli, bus):
    published = await bus.emit(samples.message_received(body="Quero um buffet"), company_id=samples.COMPANY)
    [(_, fields)] = await bus.redis.xrange(bus.keys.stream("message.received"))
    event: Envelope = catalog.parse(fields[b"e"])

    result = await acli("events", "message.received", "--wide")

    assert published.event_id in result.stdout
    assert event.correlation_id in result.stdout
    assert '"Quero um buffet"' in result.stdout


def test_events_rejects_a_bad_since(cli):
    result = cli("events", "lead.created", "--since", "yesterday-ish")

    assert result.exit_code == 1
    assert "invalid --since 'yesterday-ish'" in result.stderr


async def test_replay_moves_the_group_back_to_since(acli, bus):
    stream = bus.keys.stream("lead.created")
    await bus.emit(samples.every_channel()["lead.created"], company_id=samples.COMPANY)
    await bus.redis.xgroup_create(stream, "backoffice-api", id="$", mkstream=True)

    result = await acli("replay", "lead.created", "--group", "backoffice-api", "--since", "1h")

    assert result.exit_code == 0, result.stderr
    [group] = await bus.redis.xinfo_groups(stream)
    assert group["lag"] == 1  # the event published before the group was created is due again


async def test_replay_to_an_unknown_group_says_so(acli, bus):
    await bus.emit(samples.every_channel()["lead.created"], company_id=samples.COMPANY)

    result = await acli("replay", "lead.created", "--group", "nobody")

    assert result.exit_code == 1
    assert "has no consumer group 'nobody'" in result.stderr


async def test_replay_since_before_the_processed_window_needs_force(acli, bus):
    stream = bus.keys.stream("lead.created")
    await bus.emit(samples.every_channel()["lead.created"], company_id=samples.COMPANY)
    await bus.redis.xgroup_create(stream, "backoffice-api", id="$", mkstream=True)

    refused = await acli("replay", "lead.created", "--group", "backoffice-api", "--since", "9d")
    assert refused.exit_code == 1
    assert "processed events begins" in refused.stderr and "--force" in refused.stderr
    [group] = await bus.redis.xinfo_groups(stream)
    assert group["lag"] == 0  # not moved

    forced = await acli("replay", "lead.created", "--group", "backoffice-api", "--since", "9d", "--force")
    assert forced.exit_code == 0, forced.stderr
    [group] = await bus.redis.xinfo_groups(stream)
    assert group["lag"] == 1
