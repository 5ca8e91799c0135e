"""backoffice-api's answers as pydantic models, read from its OpenAPI document (contracts/openapi/).

Defined here rather than imported from the service: the client must not pull in FastAPI and Redis, and the
document is the contract between the two. Unknown fields are ignored, so a newer API does not break an older
client; a test checks every field here against the exported document.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DealStage = Literal["new", "qualified", "proposal", "contract_sent", "won", "lost"]
EventType = Literal[
    "message.received",
    "message.sent",
    "lead.created",
    "lead.qualified",
    "contract.created",
    "contract.signed",
    "instance.status",
    "conversion.reported",
]
ConversionOutcome = Literal["sent", "dry_run", "failed", "skipped", "unknown"]


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# -- leads --------------------------------------------------------------------------------------------------


class Handoff(Model):
    active: bool
    reason: str | None = None
    updated_at: datetime | None = None


class LastMessage(Model):
    """The newest message with the lead's contact, either way."""

    direction: Literal["in", "out"]
    text: str | None
    at: datetime


class Lead(Model):
    lead_id: str
    company_id: str
    status: str
    source: str
    channel: str
    utm: dict[str, str]
    external_id: str | None
    ctwa_clid: str | None
    correlation_id: str | None = None
    created_at: datetime
    qualified_at: datetime | None
    score: float | None
    criteria: list[str]
    summary: str | None
    deal_id: str | None
    contract_id: str | None
    contract_sent_at: datetime | None
    won_at: datetime | None
    handoff: Handoff
    owner: str | None = None
    last_message: LastMessage | None = None


class TimelineEntry(Model):
    event_id: str
    type: str
    at: datetime
    details: dict[str, Any]


class LeadDetail(Lead):
    timeline: list[TimelineEntry]


class LeadsPage(Model):
    items: list[Lead]
    next_cursor: str | None


class LeadOwner(Model):
    lead_id: str
    owner: str | None


class ChangedBy(Model):
    kind: Literal["api_key", "event"]
    id: str
    name: str


class Note(Model):
    note_id: str
    lead_id: str
    text: str
    at: datetime
    by: ChangedBy


class NotesPage(Model):
    items: list[Note]
    next_before: str | None


class OperatorMessage(Model):
    """An operator's reply, accepted: it goes out through WhatsApp once per ``Idempotency-Key``."""

    lead_id: str
    event_id: str
    correlation_id: str
    status: Literal["accepted"] = "accepted"
    handed_off: bool
    text: str


# -- deals and contracts ----------------------------------------------------------------------------------------


class EventDetails(Model):
    type: str | None = None
    date: str | None = None
    guests: int | None = None
    location: str | None = None


class StageChange(Model):
    stage: DealStage
    previous: DealStage | None
    at: datetime
    by: ChangedBy | None
    reason: str | None = None


class Deal(Model):
    deal_id: str
    lead_id: str
    company_id: str
    value: float
    currency: str
    event: EventDetails
    contract_id: str | None
    correlation_id: str | None = None
    created_at: datetime
    stage: DealStage = "new"
    owner: str | None = None
    lost_reason: str | None = None
    updated_at: datetime | None = None
    version: int = 1
    history: list[StageChange] = Field(default_factory=list)

    @property
    def etag(self) -> str:
        """The ``ETag`` of this version: pass it as ``if_match`` to refuse a write if the deal changed since."""
        return f'"v{self.version}"'


class DealsPage(Model):
    items: list[Deal]
    next_cursor: str | None


class NewSigner(Model):
    name: str
    email: str | None = None
    phone: str | None = None
    delivery: Literal["email", "whatsapp", "link"] = "email"


class Signer(Model):
    name: str
    email: str | None = None
    phone: str | None = None
    status: str | None = None
    signed_at: datetime | None = None


class SignerProgress(Model):
    signed: int
    total: int


class Contract(Model):
    contract_id: str
    deal_id: str
    lead_id: str | None
    company_id: str
    document_id: str | None
    status: str
    value: float | None
    currency: str | None
    created_at: datetime | None
    signed_at: datetime | None
    signers: list[Signer]
    progress: SignerProgress
    signers_live: bool


class ContractsPage(Model):
    items: list[Contract]
    next_cursor: str | None


# -- instances, metrics, events, operations -----------------------------------------------------------------------


class InstanceLastStatus(Model):
    status: str
    at: datetime
    event_id: str


class Instance(Model):
    instance_id: str
    name: str
    company_id: str
    channel: str
    status: str | None
    last_status: InstanceLastStatus | None


class InstancesList(Model):
    items: list[Instance]


class MetricCounts(Model):
    messages_in: int
    messages_out: int
    leads_created: int
    leads_qualified: int
    contracts_created: int
    contracts_signed: int
    #: What facebook-capi reported to Meta, by outcome (0 from a server that predates them).
    conversions_sent: int = 0
    conversions_dry_run: int = 0
    conversions_failed: int = 0
    conversions_skipped: int = 0
    conversions_unknown: int = 0


class MetricBucket(MetricCounts):
    start: datetime


class ConversionRates(Model):
    qualification: float | None
    contract: float | None
    signature: float | None
    lead_to_won: float | None


class Conversion(Model):
    """The newest outcome of one event reported to Meta for a lead or a deal; ``reason`` says why it failed,
    was skipped (``no_consent``, ``no_capi_settings``, ``capi_disabled``) or is unknown."""

    source_event_id: str
    source_type: Literal["lead.created", "lead.qualified", "contract.signed"]
    event_name: str | None
    outcome: ConversionOutcome
    reason: str | None
    lead_id: str | None
    deal_id: str | None
    contract_id: str | None
    value: float | None
    currency: str | None
    reported_at: datetime


class ConversionsList(Model):
    items: list[Conversion]


class KeyPublic(Model):
    """The API key making the call (``GET /v1/me``): its company and what it may do."""

    key_id: str
    company_id: str
    name: str
    scopes: list[str]


class MetricsReport(Model):
    bucket: Literal["5m", "15m", "1h"]
    from_: datetime | None = Field(alias="from")
    to: datetime | None
    series: list[MetricBucket]
    totals: MetricCounts
    rates: ConversionRates


class Event(Model):
    id: str
    type: EventType
    version: int
    occurred_at: datetime
    company_id: str
    source: str
    correlation_id: str
    causation_id: str | None
    payload: dict[str, Any]


class EventsPage(Model):
    items: list[Event]
    next_before: str | None


class GroupStats(Model):
    channel: EventType
    group: str
    consumers: int
    pending: int
    lag: int | None
    last_delivered_id: str
    dead_letters: int


class GroupsList(Model):
    items: list[GroupStats]


class DeadLetter(Model):
    id: str
    channel: str
    group: str
    reason: str
    error: str
    event_id: str
    entry_id: str
    consumer: str
    attempts: int
    published_at: str
    dead_lettered_at: str
    event: Event | None


class DeadLettersPage(Model):
    items: list[DeadLetter]
    next_after: str | None


class Replayed(Model):
    replayed: int


class Purged(Model):
    purged: int


# -- administration -----------------------------------------------------------------------------------------


class AgentOpeningHours(Model):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]]
    opens: time
    closes: time


class AgentPrice(Model):
    event_type: str | None = None
    per_guest: int
    minimum: int = 0


class AgentKnowledge(Model):
    company_name: str | None = None
    prices: list[AgentPrice] = Field(default_factory=list)
    included: str | None = None
    menu: str | None = None
    cities: list[str] = Field(default_factory=list)
    travel: str | None = None
    address: str | None = None
    hours: str | None = None
    payment: str | None = None
    legitimacy: str | None = None
    parking: str | None = None
    cancellation: str | None = None


class AgentSettings(Model):
    """A company's agent settings (``/v1/admin/agent-settings``): ``put_agent_settings`` replaces them whole."""

    greeting: str | None = None
    business_hours: list[AgentOpeningHours] = Field(default_factory=list)
    out_of_hours_reply: str | None = None
    qualify_on: list[Literal["budget", "date", "location", "guests"]] | None = None
    approximate_ok: bool | None = None
    score_threshold: float | None = None
    handoff_keywords: list[str] = Field(default_factory=list)
    handoff_on_human_reply: bool = True
    templates: dict[str, str | list[str]] = Field(default_factory=dict)
    knowledge: AgentKnowledge = Field(default_factory=AgentKnowledge)


class AgentSettingsPublic(Model):
    settings: AgentSettings
    source: Literal["stored", "file", "default"]
    updated_at: datetime | None = None
    updated_by: str | None = None


#: The OpenAPI schema each model reads (the drift test walks this).
SCHEMAS: dict[type[Model], str] = {
    Handoff: "Handoff",
    LastMessage: "LastMessage",
    KeyPublic: "KeyPublic",
    Lead: "LeadPublic",
    TimelineEntry: "TimelineEntry",
    LeadDetail: "LeadDetail",
    LeadsPage: "LeadsPage",
    LeadOwner: "LeadOwner",
    Note: "NotePublic",
    NotesPage: "NotesPage",
    OperatorMessage: "OperatorMessage",
    EventDetails: "EventDetails",
    ChangedBy: "ChangedBy",
    StageChange: "StageChange",
    Deal: "DealPublic",
    DealsPage: "DealsPage",
    NewSigner: "SignerCreate",
    Signer: "SignerPublic",
    SignerProgress: "SignerProgress",
    Contract: "ContractPublic",
    ContractsPage: "ContractsPage",
    InstanceLastStatus: "InstanceLastStatus",
    Instance: "InstancePublic",
    InstancesList: "InstancesList",
    MetricCounts: "MetricCounts",
    MetricBucket: "MetricBucket",
    ConversionRates: "ConversionRates",
    MetricsReport: "MetricsReport",
    Conversion: "ConversionPublic",
    ConversionsList: "ConversionsList",
    Event: "EventPublic",
    EventsPage: "EventsPage",
    GroupStats: "GroupStatsPublic",
    GroupsList: "GroupsList",
    DeadLetter: "DeadLetterPublic",
    DeadLettersPage: "DeadLettersPage",
    Replayed: "Replayed",
    Purged: "Purged",
    AgentOpeningHours: "AgentOpeningHours",
    AgentPrice: "AgentPrice",
    AgentKnowledge: "AgentKnowledge",
    AgentSettings: "AgentSettings",
    AgentSettingsPublic: "AgentSettingsPublic",
}
