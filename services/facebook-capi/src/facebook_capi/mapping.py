"""Which Conversions API event each catalog event becomes: the table, and the per-company overrides.

A lead is *click-to-WhatsApp* when its `lead.created` carried a `ctwa_clid` and the company has a WhatsApp
Business Account id: its events go to Meta as business-messaging events, attributed to the ad click. Every
other lead is a *CRM* lead, reported with hashed identifiers and a non-messaging action source.

| catalog event     | click-to-WhatsApp (business_messaging, whatsapp) | CRM (default action source `chat`) |
|-------------------|--------------------------------------------------|------------------------------------|
| `lead.created`    | `LeadSubmitted` (Meta rejects `Lead` here)       | `Lead`                             |
| `lead.qualified`  | `QualifiedLead`                                  | `QualifiedLead` (a custom name)    |
| `contract.signed` | `Purchase` + value, currency                     | `Purchase` + value, currency       |

`chat` is the CRM default because the whole funnel happens in a conversation (the lead writes, the agent
qualifies, the contract link goes out in the chat) that no ad click can be credited with. A company may
rename the CRM events and pick another action source (`CompanyCapi.crm_event_names`,
`crm_action_source`); business-messaging names may be overridden only within Meta's allow-list
(`messaging_event_names`), which the pre-validation enforces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Route = Literal["click_to_whatsapp", "crm"]
ActionSource = Literal[
    "email",
    "website",
    "app",
    "phone_call",
    "chat",
    "physical_store",
    "system_generated",
    "business_messaging",
    "other",
]
CatalogType = Literal["lead.created", "lead.qualified", "contract.signed"]

#: Meta's FAQ list of business-messaging event names (reference §2); anything else is refused.
BUSINESS_MESSAGING_EVENTS = frozenset(
    {
        "Purchase",
        "LeadSubmitted",
        "InitiateCheckout",
        "AddToCart",
        "ViewContent",
        "OrderCreated",
        "OrderShipped",
        "OrderDelivered",
        "OrderCanceled",
        "OrderReturned",
        "CartAbandoned",
        "QualifiedLead",
        "RatingProvided",
        "ReviewProvided",
    }
)


@dataclass(frozen=True)
class Conversion:
    event_name: str
    action_source: ActionSource
    messaging_channel: Literal["whatsapp"] | None = None


MAPPING: dict[CatalogType, dict[Route, Conversion]] = {
    "lead.created": {
        "click_to_whatsapp": Conversion("LeadSubmitted", "business_messaging", "whatsapp"),
        "crm": Conversion("Lead", "chat"),
    },
    "lead.qualified": {
        "click_to_whatsapp": Conversion("QualifiedLead", "business_messaging", "whatsapp"),
        "crm": Conversion("QualifiedLead", "chat"),
    },
    "contract.signed": {
        "click_to_whatsapp": Conversion("Purchase", "business_messaging", "whatsapp"),
        "crm": Conversion("Purchase", "chat"),
    },
}


def conversion_for(
    event_type: CatalogType,
    route: Route,
    *,
    crm_event_names: Mapping[CatalogType, str] | None = None,
    crm_action_source: ActionSource | None = None,
    messaging_event_names: Mapping[CatalogType, str] | None = None,
) -> Conversion:
    base = MAPPING[event_type][route]
    if route == "click_to_whatsapp":
        name = (messaging_event_names or {}).get(event_type, base.event_name)
        return Conversion(name, base.action_source, base.messaging_channel)
    return Conversion(
        (crm_event_names or {}).get(event_type, base.event_name),
        crm_action_source or base.action_source,
    )
