import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from eventbus import Envelope, LeadCreated, Media, Utm, catalog, context
from eventbus.errors import InvalidEvent
from eventbus.testing import samples
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError


def lead(**over) -> LeadCreated:
    return LeadCreated(**{"lead_id": "lead_1", "company_id": samples.COMPANY, "channel": "whatsapp", **over})


def test_wire_form_has_the_catalog_fields_in_order_with_millisecond_utc_time() -> None:
    at = datetime(2025, 12, 16, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-3)))
    event = Envelope.new(lead(), source="agent-runtime", company_id=samples.COMPANY, occurred_at=at)
    wire = event.to_wire().decode()
    assert wire.startswith('{"id":"evt_')
    assert '"occurred_at":"2025-12-16T12:00:00.123Z"' in wire
    assert list(catalog.parse(wire).model_dump()) == [
        "id",
        "type",
        "version",
        "occurred_at",
        "company_id",
        "source",
        "correlation_id",
        "causation_id",
        "payload",
        "traceparent",
        "request_id",
    ]
    assert '"traceparent"' not in wire, "absent traceparent stays off the wire (backward compatible)"


def test_a_copy_with_changed_fields_is_written_with_its_own_fields_not_the_originals() -> None:
    # The wire form is made once per event; a copy that changes fields (tracing adds traceparent) is a new one.
    event = Envelope.new(lead(), source="agent-runtime", company_id=samples.COMPANY)
    assert event.to_wire() is event.to_wire()
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    traced = event.model_copy(update={"traceparent": traceparent})
    assert json.loads(traced.to_wire())["traceparent"] == traceparent
    assert "traceparent" not in json.loads(event.to_wire())
    assert catalog.parse(traced.to_wire()) == traced
    assert event.model_copy() == event and event.model_copy().to_wire() == event.to_wire()


def test_new_event_starts_a_thread_outside_a_handler() -> None:
    event = Envelope.new(lead(), source="agent-runtime", company_id=samples.COMPANY)
    assert event.id.startswith("evt_") and len(event.id) == 30
    assert event.correlation_id.startswith("cor_")
    assert event.causation_id is None


def test_event_created_while_handling_another_inherits_its_thread() -> None:
    cause = samples.envelope(samples.message_received())
    with context.handling(cause):
        effect = Envelope.new(lead(), source="agent-runtime", company_id=samples.COMPANY)
    assert effect.correlation_id == cause.correlation_id
    assert effect.causation_id == cause.id


def test_the_catalog_envelope_example_is_accepted() -> None:
    example = (
        '{"id": "evt_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1", "type": "lead.created", "version": 1,'
        ' "occurred_at": "2025-12-16T12:00:00.000Z", "company_id": "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C",'
        ' "source": "agent-runtime", "correlation_id": "cor_01J8Z0P2T0Q1V9G7H6J5K4L3M2", "causation_id": null,'
        ' "payload": {"lead_id": "lead_1", "company_id": "cmp_1", "channel": "whatsapp", "source": "organic"}}'
    )
    event = catalog.parse(example)
    assert event.occurred_at == datetime(2025, 12, 16, 12, tzinfo=UTC)
    assert event.payload.utm == Utm(), "absent optional fields get safe defaults"
    assert json.loads(event.to_wire())["payload"]["utm"] == dict.fromkeys(Utm.model_fields), (
        "emitted as an object"
    )


@pytest.mark.parametrize(
    "event_id",
    [
        "evt_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1",
        "01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1",
        "6f1c2a9e-3b4d-4c5e-8f70-1a2b3c4d5e6f",
        "evt_6F1C2A9E-3B4D-4C5E-8F70-1A2B3C4D5E6F",
    ],
)
def test_ulid_and_uuid_ids_with_or_without_the_prefix_are_accepted(event_id: str) -> None:
    # Catalog, "Idempotência": "Todo evento tem id único (ULID/UUID)" — another team's producer may send either.
    data = samples.envelope(lead()).model_dump(mode="json") | {"id": event_id}
    assert catalog.parse(json.dumps(data)).id == event_id


def test_a_null_utm_from_another_producer_reads_as_empty() -> None:
    data = samples.envelope(lead()).model_dump(mode="json")
    data["payload"]["utm"] = None
    assert catalog.parse(json.dumps(data)).payload.utm == Utm()


def test_media_type_stays_in_the_catalogs_enum_and_kind_carries_the_precise_one() -> None:
    video = Media.of_kind("video", url="https://example.invalid/v.mp4")
    message = samples.message_received().model_copy(update={"body": None, "media": video})
    wire = json.loads(samples.envelope(message).to_wire())
    assert wire["payload"]["media"]["type"] == "document" and wire["payload"]["media"]["kind"] == "video"
    assert Media.of_kind("sticker").type == "image"
    with pytest.raises(ValidationError):
        Media(type="gif")  # type: ignore[arg-type]


def test_media_published_before_kind_existed_is_still_read() -> None:
    old = Media.model_validate({"type": "video", "url": "https://example.invalid/v.mp4"})
    assert (old.type, old.kind, old.precise_kind) == ("document", "video", "video")


def test_extra_fields_are_tolerated() -> None:
    event = samples.envelope(lead())
    data = event.model_dump(mode="json")
    data["new_envelope_field"] = 1
    data["payload"]["new_payload_field"] = {"x": 1}
    assert catalog.parse(json.dumps(data)) == event


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "evt_not-a-ulid"),
        ("id", "evt_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K"),
        ("id", "6f1c2a9e3b4d4c5e8f701a2b3c4d5e6f"),
        ("id", "cor_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"),
        ("version", 0),
        ("traceparent", "nope"),
    ],
)
def test_malformed_envelope_fields_are_rejected(field: str, value: object) -> None:
    data = samples.envelope(lead()).model_dump(mode="json") | {field: value}
    with pytest.raises(InvalidEvent):
        catalog.parse(json.dumps(data))


def test_payload_enumerations_are_enforced() -> None:
    with pytest.raises(ValidationError):
        lead(channel="fax")


ulids = st.from_regex(r"\A[0-9A-HJKMNP-TV-Z]{26}\Z")
texts = st.text(max_size=40)
utms = st.none() | st.builds(
    Utm, source=st.none() | texts, medium=st.none() | texts, campaign=st.none() | texts
)


@given(
    lead_id=ulids.map(lambda u: f"lead_{u}"),
    channel=st.sampled_from(["whatsapp", "instagram", "telegram"]),
    source=st.sampled_from(["organic", "ads", "referral", "unknown"]),
    utm=utms,
    at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    company=ulids.map(lambda u: f"cmp_{u}"),
)
def test_envelope_survives_the_wire(lead_id, channel, source, utm, at, company) -> None:
    payload = LeadCreated(lead_id=lead_id, company_id=company, channel=channel, source=source, utm=utm)
    event = Envelope.new(payload, source="agent-runtime", company_id=company, occurred_at=at)
    assert catalog.parse(event.to_wire()) == event
    assert catalog.parse(event.to_wire(), event_type="lead.created", version=1) == event


@given(body=st.text(max_size=300), digits=st.from_regex(r"\A[1-9][0-9]{9,13}\Z"))
def test_any_text_message_survives_the_wire(body: str, digits: str) -> None:
    event = samples.envelope(samples.message_received(lead=f"+{digits}", body=body))
    assert catalog.parse(event.to_wire()).payload.body == body
