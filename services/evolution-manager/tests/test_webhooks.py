"""webhooks.py, pure: every sample body of shared/reference/evolution-api.md §9 maps to the expected payload."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from eventbus import Envelope
from evolution_manager import webhook_media, webhooks
from evolution_manager.webhooks import SkipRules
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

INSTANCE_ID = "ins_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"

# shared/reference/evolution-api.md §9, samples 1-4 and the close variant, verbatim.
REFERENCE = json.loads((Path(__file__).parent / "reference_samples.json").read_text())
SAMPLE_1_TEXT: dict[str, Any] = REFERENCE["sample_1_text"]
SAMPLE_2_IMAGE: dict[str, Any] = REFERENCE["sample_2_image"]
SAMPLE_3_AD: dict[str, Any] = REFERENCE["sample_3_ad_referral"]
SAMPLE_4_OPEN: dict[str, Any] = REFERENCE["sample_4_connection_open"]
SAMPLE_4_CLOSE: dict[str, Any] = REFERENCE["sample_4_connection_close"]


DEFAULT_RULES = SkipRules()


def convert(envelope: dict[str, Any], rules: SkipRules = DEFAULT_RULES) -> Any:
    webhook = webhooks.EvolutionWebhook.model_validate(envelope)
    upsert = webhooks.MessageUpsert.model_validate(webhook.data)
    return webhooks.to_message(webhook, upsert, instance_id=INSTANCE_ID, rules=rules)


def test_sample_1_text_becomes_a_message_from_the_phone_number() -> None:
    payload = convert(SAMPLE_1_TEXT)
    assert payload.instance_id == INSTANCE_ID
    assert payload.lead_external_id == "wa:+5511987654321"
    assert payload.from_ == "+5511987654321"
    assert payload.body == "Oi! Quero saber o valor do plano anual."
    assert payload.media is None and payload.referral is None
    assert payload.raw["message_id"] == "AC1830B11436BAC01F6FA6196C534B8A"
    assert payload.raw["data"] == SAMPLE_1_TEXT["data"]  # the original message, for audit


def test_the_envelopes_apikey_never_reaches_the_payload() -> None:
    payload = convert(SAMPLE_1_TEXT)
    assert "INSTANCE-TOKEN-PLACEHOLDER" not in payload.model_dump_json()


def test_sample_2_image_carries_caption_media_and_no_base64_file() -> None:
    payload = convert(SAMPLE_2_IMAGE)
    assert payload.from_ == "+5521998765432"
    assert payload.body == "Segue a foto do comprovante"
    assert payload.media.type == "image"
    assert payload.media.url == "https://mmg.whatsapp.net/o1/v/t62.7118-24/f1/m230/PLACEHOLDER.enc"
    assert payload.media.mime_type == "image/jpeg"
    assert payload.media.sha256 == "<opaque bytes>"  # opaque in the sample: passed on as given
    assert "base64" not in payload.raw["data"]["message"]
    assert payload.raw["data"]["message"]["imageMessage"] == SAMPLE_2_IMAGE["data"]["message"]["imageMessage"]


def test_sample_3_ad_click_surfaces_the_referral_and_finds_the_phone_behind_the_lid() -> None:
    payload = convert(SAMPLE_3_AD)
    assert payload.from_ == "+5511987654321"
    assert payload.body == "Olá! Tenho interesse e queria mais informações, por favor."
    assert payload.referral is not None
    assert payload.referral.model_dump() == {
        "ctwa_clid": "ARAkPLACEHOLDERctwaClidValue-EXAMPLE-0123456789",
        "source_id": "120212345678901234",
        "source_type": "ad",
        "source_url": "https://www.instagram.com/p/PLACEHOLDER/",
        "title": "Fale com a gente",
    }
    assert payload.raw["data"]["contextInfo"]["entryPointConversionApp"] == "instagram"  # kept in raw


def test_ad_referral_without_ctwa_clid_is_still_a_referral() -> None:
    envelope = copy.deepcopy(SAMPLE_3_AD)
    del envelope["data"]["contextInfo"]["externalAdReply"]["ctwaClid"]
    referral = convert(envelope).referral
    assert referral.ctwa_clid is None and referral.source_id == "120212345678901234"


def test_sample_4_connection_states_map_to_catalog_statuses() -> None:
    open_data = webhooks.ConnectionUpdate.model_validate(SAMPLE_4_OPEN["data"])
    close_data = webhooks.ConnectionUpdate.model_validate(SAMPLE_4_CLOSE["data"])
    assert webhooks.to_status(open_data.state, open_data.status_reason) == (
        "connected",
        {"state": "open", "status_reason": 200},
    )
    assert webhooks.to_status(close_data.state, close_data.status_reason) == (
        "disconnected",
        {"state": "close", "status_reason": 401, "reason": "logged_out"},
    )
    assert webhooks.to_status("refused")[0] == "error"
    assert webhooks.to_status("connecting") is None


def test_legacy_extended_text_is_read_when_conversation_is_absent() -> None:
    envelope = copy.deepcopy(SAMPLE_1_TEXT)
    envelope["data"]["message"] = {"extendedTextMessage": {"text": "texto antigo"}}
    assert convert(envelope).body == "texto antigo"


@pytest.mark.parametrize(
    ("remote_jid", "from_me", "reason"),
    [
        ("120363025246125244@g.us", False, "group"),
        ("status@broadcast", False, "broadcast"),
        ("120363025246125244@newsletter", False, "newsletter"),
    ],
)
def test_messages_that_are_not_from_a_lead_are_skipped_with_a_reason(
    remote_jid: str, from_me: bool, reason: str
) -> None:
    envelope = copy.deepcopy(SAMPLE_1_TEXT)
    envelope["data"]["key"].update(
        remoteJid=remote_jid, fromMe=from_me, participant="5511987654321@s.whatsapp.net"
    )
    assert convert(envelope) == webhooks.Skip(reason)


def test_a_1to1_privacy_lid_without_a_phone_is_a_lead_by_its_lid_and_has_no_from() -> None:
    envelope = copy.deepcopy(SAMPLE_1_TEXT)
    envelope["data"]["key"].update(remoteJid="66417458159826@lid", participant="")
    message = convert(envelope)
    assert message.lead_external_id == "wa:lid:66417458159826"
    assert message.from_ is None


def test_a_privacy_lid_with_a_phone_alternative_is_a_lead_by_its_phone() -> None:
    envelope = copy.deepcopy(SAMPLE_1_TEXT)
    envelope["data"]["key"].update(
        remoteJid="66417458159826@lid", remoteJidAlt="5511987654321@s.whatsapp.net"
    )
    message = convert(envelope)
    assert (message.lead_external_id, message.from_) == ("wa:+5511987654321", "+5511987654321")


def test_a_group_participant_known_by_nothing_answerable_is_skipped() -> None:
    envelope = copy.deepcopy(SAMPLE_1_TEXT)
    envelope["data"]["key"].update(remoteJid="120363025246125244@g.us", participant="66417458159826@lid")
    assert convert(envelope, SkipRules(groups=False)) == webhooks.Skip("no_phone_number")


def test_group_messages_are_published_from_the_participant_when_groups_are_not_skipped() -> None:
    envelope = copy.deepcopy(SAMPLE_1_TEXT)
    envelope["data"]["key"].update(
        remoteJid="120363025246125244@g.us", participant="5511911112222@s.whatsapp.net"
    )
    assert convert(envelope, SkipRules(groups=False)).from_ == "+5511911112222"


def test_protocol_messages_are_housekeeping() -> None:
    envelope = copy.deepcopy(SAMPLE_1_TEXT)
    envelope["data"]["message"] = {"protocolMessage": {"type": 0}, "messageContextInfo": {}}
    assert convert(envelope) == webhooks.Skip("housekeeping")


def test_buffer_object_sha256_of_2_3_6_becomes_hex() -> None:
    digest = bytes(range(32))
    as_buffer = {str(i): b for i, b in enumerate(digest)}
    assert webhook_media.sha256_of(as_buffer) == digest.hex()
    assert webhook_media.sha256_of(base64.b64encode(digest).decode()) == digest.hex()


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [(1761057639, 1761057639), ("1761057639", 1761057639), ({"low": 1761057639, "high": 0}, 1761057639)],
)
def test_message_timestamp_in_every_release_form(timestamp: Any, expected: int) -> None:
    upsert = webhooks.MessageUpsert.model_validate({**SAMPLE_1_TEXT["data"], "messageTimestamp": timestamp})
    assert webhooks.occurred_at(upsert).timestamp() == expected


def test_url_suffix_follows_evolutions_rule() -> None:
    assert webhooks.url_suffix("messages.upsert") == "messages-upsert"
    assert webhooks.url_suffix("group-participants.update") == "group-participants-update"


@given(digits=st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True))
def test_any_phone_jid_round_trips_to_e164(digits: str) -> None:
    assert webhooks.phone_of(f"{digits}@s.whatsapp.net") == f"+{digits}"
    assert webhooks.phone_of(f"{digits}:7@s.whatsapp.net") == f"+{digits}"


@given(jid=st.text(max_size=40))
def test_phone_of_never_returns_something_that_is_not_e164(jid: str) -> None:
    phone = webhooks.phone_of(jid)
    assert phone is None or (phone.startswith("+") and phone[1:].isdigit())


# -- authenticated garbage: a 4xx naming the field, never a crash -------------------------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and ±Infinity too: the JSON parser accepts them
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
# The shapes the mapper decodes rather than passes on: buffers as objects of numbers, protobuf Longs.
_DECODED = (
    st.dictionaries(st.text(max_size=3), st.integers(min_value=-300, max_value=300), min_size=1, max_size=40)
    | st.fixed_dictionaries({"low": st.integers(), "high": _JSON})
    | st.fixed_dictionaries({"low": st.integers()}, optional={"high": st.integers(), "unsigned": _JSON})
)


def _paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    here = [at] if at else []
    if isinstance(node, dict):
        return here + [p for k, v in node.items() for p in _paths(v, (*at, k))]
    if isinstance(node, list):
        return here + [p for i, v in enumerate(node) for p in _paths(v, (*at, i))]
    return here


@st.composite
def mutated_webhooks(draw: st.DrawFn) -> bytes:
    envelope = copy.deepcopy(
        draw(st.sampled_from([SAMPLE_1_TEXT, SAMPLE_2_IMAGE, SAMPLE_3_AD, SAMPLE_4_OPEN]))
    )
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(envelope)))
        parent = envelope
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = draw(_DECODED | _JSON)
    return json.dumps(envelope).encode()


def _handle(body: bytes) -> None:
    """What api.py does with an authenticated body, less the I/O."""
    webhook = webhooks.parse(body)
    if webhook.event == webhooks.MESSAGES_UPSERT:
        upsert = webhooks.MessageUpsert.model_validate(webhook.data)
        payload = webhooks.to_message(webhook, upsert, instance_id=INSTANCE_ID, rules=DEFAULT_RULES)
        if not isinstance(payload, webhooks.Skip):
            webhooks.occurred_at(upsert)
            webhooks.message_key(INSTANCE_ID, upsert, payload)
            Envelope.new(payload, source="evolution-manager", company_id="cmp_x").to_wire()
    elif webhook.event == webhooks.CONNECTION_UPDATE:
        update = webhooks.ConnectionUpdate.model_validate(webhook.data)
        webhooks.to_status(update.state, update.status_reason)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=mutated_webhooks())
def test_any_mutation_of_a_sample_is_mapped_or_refused_naming_the_field(body: bytes) -> None:
    # 400 and 422 (api.py puts each problem under "data" or the envelope's field); anything else is a 500.
    with contextlib.suppress(webhooks.MalformedWebhook, ValidationError):
        _handle(body)


@pytest.mark.parametrize(
    ("where", "value", "field"),
    [
        (
            ("message", "imageMessage", "fileSha256"),
            {"a": 1, "b": 2},
            ("message", "imageMessage", "fileSha256"),
        ),
        (
            ("message", "imageMessage", "fileSha256"),
            {"0": 256},
            ("message", "imageMessage", "fileSha256", "0"),
        ),
        (("messageTimestamp",), {"low": 1761057702, "high": "zz"}, ("messageTimestamp", "high")),
    ],
)
def test_buffers_and_longs_that_do_not_decode_name_their_field(where, value, field) -> None:
    envelope = copy.deepcopy(SAMPLE_2_IMAGE)
    parent = envelope["data"]
    for step in where[:-1]:
        parent = parent[step]
    parent[where[-1]] = value
    with pytest.raises(ValidationError) as caught:
        _handle(json.dumps(envelope).encode())
    assert all(e["loc"][: len(field)] == field for e in caught.value.errors())


def test_the_head_names_the_instance_whole_or_not_at_all_wherever_the_body_is_cut() -> None:
    body = json.dumps(SAMPLE_2_IMAGE, ensure_ascii=False).encode()
    named_from = body.index(b'"vendas-01"') + len(b'"vendas-01"')
    for n in range(len(body) + 1):
        head = webhooks.head(body[:n])
        assert head.instance == ("vendas-01" if n >= named_from else None), n
    assert webhooks.head(body).event == "messages.upsert"
    late = {"event": "messages.upsert", "data": {"x": "y" * 2000}, "instance": "vendas-01"}
    assert webhooks.head(json.dumps(late).encode()).instance is None  # not in the first 1 KiB: refused
