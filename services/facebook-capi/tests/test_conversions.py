"""The mapping table, server-event building and pre-validation; every built event is also put through the
fake Graph API's validator, which checks Meta's rules independently."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from eventbus import ContractSigned, Envelope, LeadCreated, LeadQualified
from facebook_capi import conversions, hashing, mapping
from facebook_capi.companies import CompanyCapi, CompanyCapiSettings
from facebook_capi.errors import EventTooOld, InvalidConversion
from facebook_capi.leads import LeadRecord, phone_of, record_from
from fakes.graph import validate_events
from pydantic import SecretStr, ValidationError

COMPANY = "cmp_1"
LEAD = "lead_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"
CLID = "ARAkCLID-0123456789"
NOW = time.time()


def company(**overrides) -> CompanyCapi:
    fields = {"pixel_id": "123", "access_token": SecretStr("t"), "waba_id": "999", **overrides}
    return CompanyCapi(company_id=COMPANY, **fields)


def created(ctwa_clid: str | None = CLID, phone: str = "+5511987654321") -> Envelope:
    payload = LeadCreated(
        lead_id=LEAD,
        company_id=COMPANY,
        channel="whatsapp",
        lead_external_id=f"wa:{phone}",
        ctwa_clid=ctwa_clid,
    )
    return Envelope.new(payload, source="agent-runtime", company_id=COMPANY)


def qualified() -> Envelope:
    payload = LeadQualified(lead_id=LEAD, company_id=COMPANY, score=0.8)
    return Envelope.new(payload, source="agent-runtime", company_id=COMPANY)


def signed(lead_id: str | None = LEAD) -> Envelope:
    payload = ContractSigned(
        contract_id="ctr_1",
        deal_id="deal_1",
        company_id=COMPANY,
        signed_at=datetime.now(UTC),
        value=1497.9,
        currency="BRL",
        lead_id=lead_id,
    )
    return Envelope.new(payload, source="autentique-service", company_id=COMPANY)


def build(event: Envelope, lead: LeadRecord | None, config: CompanyCapi | None = None) -> conversions.Plan:
    now = time.time()
    plan = conversions.plan(event, lead=lead, company=config or company(), region="BR", now=now)
    conversions.validate(plan.server_event, now=now, max_age_seconds=7 * 86400)
    validate_events([plan.server_event], now=now)  # Meta's rules, as the fake enforces them
    return plan


def lead_of(event: Envelope) -> LeadRecord:
    return record_from(event.payload, region="BR")


@pytest.mark.parametrize(
    ("make", "name"),
    [(created, "LeadSubmitted"), (qualified, "QualifiedLead"), (signed, "Purchase")],
)
def test_click_to_whatsapp_lead_maps_to_business_messaging(make, name: str) -> None:
    plan = build(make(), lead_of(created()))
    event = plan.server_event
    assert plan.route == "click_to_whatsapp"
    assert event["event_name"] == name
    assert (event["action_source"], event["messaging_channel"]) == ("business_messaging", "whatsapp")
    assert event["user_data"] == {"whatsapp_business_account_id": "999", "ctwa_clid": CLID}


@pytest.mark.parametrize(
    ("make", "name"), [(created, "Lead"), (qualified, "QualifiedLead"), (signed, "Purchase")]
)
def test_lead_without_a_click_maps_to_a_crm_event_with_hashed_identifiers(make, name: str) -> None:
    plan = build(make(), lead_of(created(ctwa_clid=None)))
    event = plan.server_event
    assert plan.route == "crm"
    assert (event["event_name"], event["action_source"]) == (name, "chat")
    assert "messaging_channel" not in event
    assert event["user_data"] == {
        "ph": [hashing.sha256_hex("5511987654321")],
        "external_id": [hashing.sha256_hex(LEAD)],
        "country": [hashing.sha256_hex("br")],
    }


def test_lead_created_never_becomes_lead_on_business_messaging() -> None:
    assert "Lead" not in mapping.BUSINESS_MESSAGING_EVENTS
    assert mapping.MAPPING["lead.created"]["click_to_whatsapp"].event_name == "LeadSubmitted"


def test_event_id_is_the_envelope_id_and_event_time_its_occurred_at() -> None:
    event = created()
    plan = build(event, lead_of(event))
    assert plan.server_event["event_id"] == event.id
    assert plan.server_event["event_time"] == int(event.occurred_at.timestamp())


def test_event_time_in_the_future_is_clamped_to_now() -> None:
    event = created().model_copy(update={"occurred_at": datetime.now(UTC) + timedelta(hours=1)})
    before = int(time.time())
    assert before <= build(event, lead_of(event)).server_event["event_time"] <= time.time()


def test_purchase_carries_value_currency_and_the_contract_as_order() -> None:
    custom = build(signed(), lead_of(created())).server_event["custom_data"]
    assert custom == {"value": 1497.9, "currency": "BRL", "order_id": "ctr_1"}


def test_qualified_lead_carries_its_stage() -> None:
    assert build(qualified(), lead_of(created())).server_event["custom_data"] == {"lead_stage": "qualified"}


def test_click_without_waba_id_falls_back_to_crm_and_says_so() -> None:
    plan = build(created(), lead_of(created()), company(waba_id=None))
    assert plan.route == "crm" and plan.gaps == ("click_without_waba",)
    assert plan.server_event["event_name"] == "Lead"


def test_unknown_lead_is_sent_with_what_is_known() -> None:
    event = build(qualified(), None).server_event
    assert event["user_data"] == {
        "external_id": [hashing.sha256_hex(LEAD)],
        "country": [hashing.sha256_hex("br")],
    }


def test_contract_without_lead_id_is_sent_with_the_company_country() -> None:
    event = build(signed(lead_id=None), None, company(country="PT")).server_event
    assert event["user_data"] == {"country": [hashing.sha256_hex("pt")]}


def test_company_can_rename_crm_events_and_choose_their_action_source() -> None:
    config = company(crm_event_names={"lead.qualified": "Contact"}, crm_action_source="system_generated")
    event = build(qualified(), lead_of(created(ctwa_clid=None)), config).server_event
    assert (event["event_name"], event["action_source"]) == ("Contact", "system_generated")


def test_company_cannot_pick_a_name_business_messaging_refuses() -> None:
    with pytest.raises(ValidationError, match="not a business-messaging event name"):
        CompanyCapiSettings(pixel_id="1", access_token="t", messaging_event_names={"lead.created": "Lead"})
    with pytest.raises(ValidationError, match="business_messaging"):
        CompanyCapiSettings(pixel_id="1", access_token="t", crm_action_source="business_messaging")


def test_lead_record_keeps_hashes_only() -> None:
    record = lead_of(created(phone="+55 11 98765-4321"))
    assert record.ph == hashing.sha256_hex("5511987654321")
    assert "98765" not in record.model_dump_json()


def test_foreign_phone_gives_the_lead_its_own_country() -> None:
    assert lead_of(created(phone="+351912345678")).country == hashing.sha256_hex("pt")


@pytest.mark.parametrize(
    ("external_id", "phone"),
    [
        ("wa:+5511999999999", "+5511999999999"),
        ("ig:178414", None),
        ("5511999999999", "5511999999999"),
        (None, None),
    ],
)
def test_only_whatsapp_external_ids_hold_a_phone(external_id, phone) -> None:
    assert phone_of(external_id) == phone


def test_event_older_than_the_window_is_refused_before_sending() -> None:
    event = created().model_copy(update={"occurred_at": datetime.now(UTC) - timedelta(days=8)})
    with pytest.raises(EventTooOld, match="7 days"):
        conversions.check_age(event, now=NOW, max_age_seconds=7 * 86400 - 600)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"event_name": "Lead"}, "not a business-messaging event name"),
        ({"action_source": "fax"}, "action_source"),
        ({"user_data": {"whatsapp_business_account_id": "999"}}, "ctwa_clid is required"),
        ({"user_data": {"ph": ["5511987654321"]}, "action_source": "chat"}, "must be a SHA-256"),
        (
            {"user_data": {"ctwa_clid": hashing.sha256_hex("x"), "whatsapp_business_account_id": "9"}},
            "not be hashed",
        ),
        ({"event_time": int(NOW) - 8 * 86400}, "event_time"),
        ({"event_name": "Purchase"}, "custom_data.value"),
    ],
)
def test_pre_validation_refuses_what_meta_would_refuse(change, problem: str) -> None:
    event = {**build(created(), lead_of(created())).server_event, **change}
    with pytest.raises(InvalidConversion, match=problem):
        conversions.validate(event, now=NOW, max_age_seconds=7 * 86400)
