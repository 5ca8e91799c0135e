"""Sample payloads for every catalog channel, taken from the catalog's own examples; tests and benches use them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eventbus.envelope import Envelope, Payload
from eventbus.payloads import (
    ContractCreated,
    ContractSigned,
    ConversionReported,
    InstanceStatus,
    LeadCreated,
    LeadQualified,
    MessageReceived,
    MessageSent,
    OutgoingMessage,
    Utm,
)

COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"


def message_received(n: int = 0, *, lead: str = "+5511999999999", body: str | None = None) -> MessageReceived:
    """About 600 bytes on the wire, like a real WhatsApp text message with its raw Evolution data."""
    return MessageReceived.model_validate(
        {
            "instance_id": "ins_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1",
            "lead_external_id": f"wa:{lead}",
            "from": lead,
            "body": body
            if body is not None
            else f"Olá, quero um orçamento para um buffet de 120 pessoas #{n}",
            "media": None,
            "raw": {
                "message_id": f"3EB0C767D26A1D{n:08d}",
                "remote_jid": f"{lead[1:]}@s.whatsapp.net",
                "push_name": "Maria",
                "timestamp": 1765886400 + n,
            },
        }
    )


def every_channel() -> dict[str, Payload]:
    return {
        "message.received": message_received(),
        "message.sent": MessageSent(
            instance_id="ins_1",
            to="+5511999999999",
            messages=[OutgoingMessage(text="Perfeito! Qual a data do evento?")],
        ),
        "lead.created": LeadCreated(
            lead_id="lead_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1",
            company_id=COMPANY,
            channel="whatsapp",
            source="ads",
            utm=Utm(source="facebook", medium="cpc", campaign="xmas", content="ad-1", term="buffet"),
        ),
        "lead.qualified": LeadQualified(
            lead_id="lead_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1",
            company_id=COMPANY,
            score=0.86,
            criteria=["budget", "date", "location"],
            summary="Lead qualificado para buffet em 12/03, 120 pessoas.",
        ),
        "contract.created": ContractCreated(
            contract_id="ctr_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1",
            deal_id="deal_1",
            company_id=COMPANY,
            value=15000,
            currency="BRL",
        ),
        "contract.signed": ContractSigned(
            contract_id="ctr_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1",
            deal_id="deal_1",
            company_id=COMPANY,
            signed_at=datetime(2025, 12, 16, 12, tzinfo=UTC),
            value=15000,
            currency="BRL",
        ),
        "instance.status": InstanceStatus(
            instance_id="ins_1", company_id=COMPANY, channel="whatsapp", status="connected", details={}
        ),
        "conversion.reported": ConversionReported(
            company_id=COMPANY,
            source_event_id="evt_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1",
            source_type="contract.signed",
            lead_id="lead_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1",
            deal_id="deal_1",
            contract_id="ctr_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1",
            outcome="sent",
            event_name="Purchase",
            pixel_id="1234567890",
            value=15000,
            currency="BRL",
            reported_at=datetime(2025, 12, 16, 12, 0, 5, tzinfo=UTC),
        ),
    }


def envelope(payload: Payload, **fields: Any) -> Envelope[Any]:
    return Envelope.new(
        payload, source=fields.pop("source", "tests"), company_id=fields.pop("company_id", COMPANY), **fields
    )
