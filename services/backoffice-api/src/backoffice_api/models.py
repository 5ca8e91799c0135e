"""The API's request and response models (``XCreate`` in, ``XPublic`` out); secrets only ever come in.

The metrics report is in ``metric_models.py``, the events and operations answers in ``bus_models.py``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from eventbus import CHANNELS
from eventbus.envelope import UtcTimestamp
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from servicekit import contracts

LeadStatus = Literal["new", "qualified", "contract_sent", "won"]
DealStage = Literal["new", "qualified", "proposal", "contract_sent", "won", "lost"]
LeadSource = Literal["organic", "ads", "referral", "unknown"]
if TYPE_CHECKING:
    EventType = str
else:
    #: The catalog's channels (eventbus.catalog), as an enum in the OpenAPI schema.
    EventType = Literal[tuple(CHANNELS)]
Money = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["BRL"])]

LEAD_ID = r"^lead_[A-Za-z0-9_-]{1,100}$"
DEAL_ID = r"^deal_[A-Za-z0-9_-]{1,100}$"
#: Who works a deal: a seller's handle or e-mail (it names an index key, hence no ``*`` or ``:``).
OWNER = r"^[A-Za-z0-9_.@+-]{1,100}$"
Owner = Annotated[str, Field(pattern=OWNER, examples=["ana.souza@example.com"])]
CONTRACT_ID = r"^ctr_[A-Za-z0-9_-]{1,100}$"
INSTANCE_NAME = r"^[A-Za-z0-9_.-]{1,64}$"
GROUP = r"^[A-Za-z0-9_.:-]{1,64}$"
STREAM_ID = r"^[0-9]{1,20}-[0-9]{1,20}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    field: str
    problem: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    problems: list[Problem] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


# -- leads ----------------------------------------------------------------------------------------------


class Handoff(BaseModel):
    """Whether a human took the conversation over (agent-runtime owns the flag; this is its mirror)."""

    active: bool
    reason: str | None = None
    updated_at: UtcTimestamp | None = None


class HandoffCreate(Strict):
    reason: str | None = Field(None, max_length=500)


class LastMessage(BaseModel):
    """The newest message with the lead's contact, either way (its whole text, as in the timeline)."""

    direction: Literal["in", "out"]
    text: str | None = Field(description="null for media without a caption")
    at: UtcTimestamp


class OperatorMessageCreate(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": "Olá Maria, aqui é a Ana. Posso te ligar às 15h?"}]},
    )

    text: str = Field(min_length=1, max_length=4096, description="Sent as one WhatsApp text message")


class OperatorMessage(BaseModel):
    """An operator's reply, accepted: agent-runtime published it as ``message.sent`` (``author: operator``)
    and evolution-manager sends it through WhatsApp once. It appears in the lead's timeline as a human's
    message (``via: api``) once projected."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lead_id": "lead_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1",
                    "event_id": "evt_0b6f8f43-1c55-5a55-9a2e-1f4b8d2f3c9a",
                    "correlation_id": "cor_0b6f8f43-1c55-5a55-9a2e-1f4b8d2f3c9a",
                    "status": "accepted",
                    "handed_off": True,
                    "text": "Olá Maria, aqui é a Ana. Posso te ligar às 15h?",
                }
            ]
        }
    )

    lead_id: str
    event_id: str = Field(description="The `message.sent` event; the same for every retry of the request")
    correlation_id: str
    status: Literal["accepted"] = "accepted"
    handed_off: bool = Field(description="Whether this request handed the lead off first")
    text: str


class LeadPublic(BaseModel):
    lead_id: str
    company_id: str
    status: LeadStatus
    source: LeadSource
    channel: str
    utm: dict[str, str]
    external_id: str | None
    ctwa_clid: str | None
    #: ``correlation_id`` of the lead's ``lead.created``: its conversation, deal and contract events share it.
    correlation_id: str | None = None
    created_at: UtcTimestamp
    qualified_at: UtcTimestamp | None
    #: The qualification (the first one is kept): score, the criteria met and the agent's slot summary.
    score: float | None
    criteria: list[str]
    summary: str | None
    deal_id: str | None
    contract_id: str | None
    contract_sent_at: UtcTimestamp | None
    won_at: UtcTimestamp | None
    handoff: Handoff
    #: The seller who owns the lead (``PUT /v1/leads/{id}/owner``).
    owner: str | None = None
    last_message: LastMessage | None = None


class LeadsPage(BaseModel):
    items: list[LeadPublic]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class LeadMatch(LeadPublic):
    matched_name: str = Field(
        description="The name that matched, folded (lower case, no accents): the contact's WhatsApp name or "
        "the one the agent learned",
        examples=["maria souza"],
    )


class LeadMatches(BaseModel):
    """Leads whose name starts with the query (or has a word that does), in the order of the matched name."""

    items: list[LeadMatch]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class TimelineEntry(BaseModel):
    event_id: str
    type: EventType
    at: datetime
    details: dict[str, Any]


class ChangedBy(BaseModel):
    """An API key (its id and name) or, for stages that follow a contract, the event (its id and type)."""

    kind: Literal["api_key", "event"]
    id: str
    name: str


class LeadOwnerSet(Strict):
    owner: Owner


class LeadOwner(BaseModel):
    lead_id: str
    owner: str | None


class NoteCreate(Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"text": "Prefers a call after 18h."}]}
    )

    text: str = Field(min_length=1, max_length=4000)


class NotePublic(BaseModel):
    note_id: str
    lead_id: str
    text: str
    at: datetime
    #: The API key that wrote it.
    by: ChangedBy


class NotesPage(BaseModel):
    items: list[NotePublic]
    #: Pass as ``before`` for older notes; null when there are none.
    next_before: str | None


class LeadDetail(LeadPublic):
    timeline: list[TimelineEntry]


# -- deals and contracts ----------------------------------------------------------------------------------


class EventDetails(Strict):
    type: str | None = Field(None, max_length=100, examples=["casamento"])
    date: str | None = Field(None, max_length=40, examples=["2026-03-12"])
    guests: int | None = Field(None, ge=0, le=100_000)
    location: str | None = Field(None, max_length=200)


class DealCreate(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "lead_id": "lead_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1",
                    "value": 15000,
                    "currency": "BRL",
                    "event": {
                        "type": "casamento",
                        "date": "2026-03-12",
                        "guests": 120,
                        "location": "São Paulo",
                    },
                    "owner": "ana.souza@example.com",
                }
            ]
        },
    )

    lead_id: str = Field(pattern=LEAD_ID)
    value: Money
    currency: Currency = "BRL"
    event: EventDetails = Field(default_factory=EventDetails)
    owner: Owner | None = None


class DealUpdate(Strict):
    """The fields to change; absent ones stay. ``owner: null`` unassigns the deal."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"value": 18000, "owner": "ana.souza@example.com"}]}
    )

    value: Money | None = None
    currency: Currency | None = None
    event: EventDetails | None = None
    owner: Owner | None = None


class StageMove(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"stage": "proposal"}, {"stage": "lost", "reason": "chose another venue"}]
        },
    )

    stage: DealStage
    #: Why the deal was lost: required with ``lost`` (422 naming ``reason``), kept with the history entry.
    reason: str | None = Field(None, min_length=1, max_length=500)


class StageChange(BaseModel):
    stage: DealStage
    previous: DealStage | None
    at: UtcTimestamp
    #: Null only for a deal made outside the API (a script holding no key).
    by: ChangedBy | None
    reason: str | None = None


class DealPublic(BaseModel):
    deal_id: str
    lead_id: str
    company_id: str
    value: float
    currency: str
    event: EventDetails
    contract_id: str | None
    #: The lead's correlation id, carried to the deal's contract events.
    correlation_id: str | None = None
    created_at: UtcTimestamp
    stage: DealStage = "new"
    owner: str | None = None
    lost_reason: str | None = None
    updated_at: UtcTimestamp | None = None
    #: Bumped by every change; the ``ETag`` is ``"v<version>"`` (send it back as ``If-Match``).
    version: int = 1
    #: Every stage the deal entered, oldest first, with who moved it and when.
    history: list[StageChange] = Field(default_factory=list)


class DealsPage(BaseModel):
    items: list[DealPublic]
    #: Pass as ``cursor`` for the next page; null on the last page. A page filtered by value or update time
    #: may hold fewer than ``limit`` deals (even none) and still have a cursor: keep following it.
    next_cursor: str | None


class SignerCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
    phone: str | None = Field(None, pattern=r"^\+[1-9][0-9]{6,14}$")
    delivery: Literal["email", "whatsapp", "link"] = "email"


class ContractCreate(Strict):
    signers: list[SignerCreate] = Field(min_length=1, max_length=10)
    #: Ask for a new contract even though the deal has one (autentique-service re-issues it).
    reissue: bool = False


class SignerPublic(BaseModel):
    name: str
    email: str | None = None
    phone: str | None = None
    status: str | None = None
    signed_at: datetime | None = None


class SignerProgress(BaseModel):
    signed: int
    total: int


class ContractPublic(contracts.ContractPublic):
    """The shared answer (servicekit.contracts) merged with what the contract's events said."""

    created_at: datetime | None
    signed_at: datetime | None
    signers: list[SignerPublic]
    progress: SignerProgress
    #: False when autentique-service could not be asked and signers are as last recorded here.
    signers_live: bool


class ContractsPage(BaseModel):
    items: list[ContractPublic]
    next_cursor: str | None


# -- instances ----------------------------------------------------------------------------------------------


class InstanceUpsert(Strict):
    channel: Literal["whatsapp"] = "whatsapp"
    #: Write-only: forwarded to evolution-manager, never stored here nor returned.
    webhook_secret: SecretStr | None = Field(None, min_length=8, max_length=256)
    api_key: SecretStr | None = Field(None, min_length=8, max_length=256)


class InstanceLastStatus(BaseModel):
    status: Literal["connected", "disconnected", "error"]
    at: datetime
    event_id: str


class InstancePublic(BaseModel):
    instance_id: str
    name: str
    company_id: str
    channel: str
    status: str | None
    last_status: InstanceLastStatus | None


class InstancesList(BaseModel):
    items: list[InstancePublic]
