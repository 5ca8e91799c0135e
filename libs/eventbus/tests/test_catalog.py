import json

import pytest
from eventbus import CHANNELS, Envelope, catalog
from eventbus.errors import MalformedEntry, UnknownEventType, UnsupportedVersion
from eventbus.testing import samples

CATALOG_CHANNELS = {
    "message.received",
    "message.sent",
    "lead.created",
    "lead.qualified",
    "contract.created",
    "contract.signed",
    "instance.status",
}
#: Documented additions (docs/catalog.md), beside the seed's seven.
ADDED_CHANNELS = {"conversion.reported"}


def test_the_catalog_has_exactly_the_seven_channels_and_the_documented_additions() -> None:
    assert set(CHANNELS) == CATALOG_CHANNELS | ADDED_CHANNELS
    assert catalog.ADDED_CHANNELS == ADDED_CHANNELS


def test_unknown_type_is_rejected() -> None:
    with pytest.raises(UnknownEventType, match=r"lead\.deleted"):
        catalog.payload_model("lead.deleted", 1)


def test_unknown_version_is_rejected() -> None:
    with pytest.raises(UnsupportedVersion):
        catalog.payload_model("lead.created", 2)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"not json", MalformedEntry),
        (b"[1, 2]", MalformedEntry),
        (b'{"type": 3}', MalformedEntry),
        (b'{"type": "lead.deleted", "version": 1}', UnknownEventType),
        (b'{"type": "lead.created", "version": 9}', UnsupportedVersion),
        (b'{"type": "lead.created", "version": "1"}', UnsupportedVersion),
        (b'{"type": "lead.created", "version": 1, "payload": {}}', MalformedEntry),
    ],
)
def test_garbage_is_a_typed_error(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        catalog.parse(data)


def test_validation_errors_name_the_field() -> None:
    event = json.loads(samples.envelope(samples.message_received()).to_wire())
    event["payload"]["from"] = "5511"
    with pytest.raises(MalformedEntry, match=r"payload\.from"):
        catalog.parse(json.dumps(event))


@pytest.mark.parametrize("event_type", sorted(CATALOG_CHANNELS | ADDED_CHANNELS))
def test_every_channel_round_trips_through_build(event_type: str) -> None:
    payload = samples.every_channel()[event_type]
    event = catalog.build(
        event_type, payload.model_dump(mode="json", by_alias=True), source="cli", company_id=samples.COMPANY
    )
    assert event.payload == payload
    assert catalog.parse(event.to_wire()) == event


def test_a_sender_known_only_by_a_privacy_lid_has_no_from_on_the_wire_and_reads_back() -> None:
    payload = catalog.payload_model("message.received", 1).model_validate(
        {"instance_id": "ins_1", "lead_external_id": "wa:lid:123456789012345", "body": "Oi"}
    )
    event = Envelope.new(payload, source="tests", company_id="cmp_1")
    wire = json.loads(event.to_wire())
    assert (
        "from" not in wire["payload"]
    )  # absent, never null: a strict consumer of `from` reads a phone or nothing
    assert wire["payload"]["lead_external_id"] == "wa:lid:123456789012345"
    assert catalog.parse(event.to_wire()).payload.from_ is None
    with_phone = payload.model_copy(update={"from_": "+5511999999999"})
    assert json.loads(Envelope.new(with_phone, source="tests", company_id="cmp_1").to_wire())["payload"][
        "from"
    ] == ("+5511999999999")
