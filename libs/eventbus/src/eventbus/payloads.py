"""Payload models v1 of the seven catalog channels, field for field as the catalog writes them.

Fields the catalog marks with an example only are required; fields it shows as objects that may be empty
(``raw``, ``details``, ``utm``) are always emitted as objects, empty when there is nothing to say (a consumer
reads ``payload["utm"]["source"]`` without a null check; an incoming ``null`` reads as empty). ``media`` is the
exception: ``null`` means the message has no media, which an empty object could not say. Additions made later
by the services are optional and listed, with why, in ``eventbus.additions`` (rendered into ``docs/catalog.md``,
"Additions", and the AsyncAPI document): ``media.kind``, ``message.received.referral`` (click-to-WhatsApp ads),
``lead.created.lead_external_id`` / ``ctwa_clid``, ``contract.*.lead_id`` / ``document_id`` / ``status``,
``message.received.from_me`` / ``contact_name`` (what a person types on the business's phone),
``message.sent.author`` (an operator's reply), and a sender known only by a WhatsApp privacy ``@lid``:
``lead_external_id`` ``wa:lid:<digits>``, ``from`` absent.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from eventbus.envelope import Payload, UtcTimestamp

Channel = Literal["whatsapp", "instagram", "telegram"]


MediaKind = Literal["image", "audio", "document", "video", "sticker"]
#: The catalog's ``media.type`` for each precise kind: a strict consumer knows only image|audio|document, so a
#: video travels as a document (a file to download) and a sticker as an image (it is a WebP picture).
MEDIA_TYPE_OF_KIND: dict[str, Literal["image", "audio", "document"]] = {
    "image": "image",
    "audio": "audio",
    "document": "document",
    "video": "document",
    "sticker": "image",
}


class Media(Payload):
    """``type`` stays inside the catalog's enum; ``kind`` (an addition) carries the precise kind."""

    type: Literal["image", "audio", "document"]
    url: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    kind: MediaKind | None = None

    @model_validator(mode="before")
    @classmethod
    def _widened_type(cls, data: Any) -> Any:
        # Entries published before `kind` existed carry "video"/"sticker" in `type`: still readable on replay.
        if isinstance(data, dict) and data.get("type") in ("video", "sticker"):
            return {
                **data,
                "type": MEDIA_TYPE_OF_KIND[data["type"]],
                "kind": data.get("kind") or data["type"],
            }
        return data

    @classmethod
    def of_kind(cls, kind: MediaKind, **fields: Any) -> Media:
        return cls(type=MEDIA_TYPE_OF_KIND[kind], kind=kind, **fields)

    @property
    def precise_kind(self) -> str:
        return self.kind or self.type


class AdReferral(Payload):
    """A click-to-WhatsApp ad the lead came from (Evolution's ``externalAdReply``)."""

    ctwa_clid: str | None = None
    source_id: str | None = None
    source_type: str | None = None
    source_url: str | None = None
    title: str | None = None


class MessageReceived(Payload):
    event_type: ClassVar[str] = "message.received"
    event_version: ClassVar[int] = 1

    instance_id: str = Field(min_length=1)
    lead_external_id: str = Field(
        min_length=1,
        examples=["wa:+5511999999999"],
        description="The contact: ``wa:+E164``, or ``wa:lid:<digits>`` for a WhatsApp privacy ``@lid`` whose phone "
        "number the channel does not give (an addition)",
    )
    #: A phone number or absent, never anything else: a sender known only by a privacy ``@lid`` has no ``from``
    #: (left off the wire), and ``lead_external_id`` names it.
    from_: str | None = Field(
        None, alias="from", pattern=r"^\+[1-9][0-9]{6,14}$", examples=["+5511999999999"]
    )
    body: str | None = None
    media: Media | None = None
    raw: dict[str, Any] = Field(default_factory=dict)
    referral: AdReferral | None = None
    from_me: bool = Field(
        False,
        description="Written on the business's own WhatsApp (a person on the phone) to the contact named by "
        "`lead_external_id` and `from`, not by the contact; never an echo of a `message.sent`",
    )
    contact_name: str | None = Field(
        None, max_length=256, description="The contact's WhatsApp display name (`pushName`), when it wrote"
    )

    def wire_absent(self) -> set[str] | None:
        # Absent, as the catalog allows, rather than a null that a strict consumer of `from` may refuse.
        return _NO_FROM if self.from_ is None else None


_NO_FROM = {"from_"}


class OutgoingMessage(Payload):
    type: Literal["text"] = "text"
    text: str = Field(min_length=1, max_length=4096)


class MessageSent(Payload):
    event_type: ClassVar[str] = "message.sent"
    event_version: ClassVar[int] = 1

    instance_id: str = Field(min_length=1)
    to: str = Field(min_length=1)
    messages: list[OutgoingMessage] = Field(min_length=1)
    raw: dict[str, Any] = Field(default_factory=dict)
    author: Literal["agent", "operator"] = Field(
        "agent", description="Who wrote it: the agent, or an operator through backoffice-api"
    )


class Utm(Payload):
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    content: str | None = None
    term: str | None = None


class LeadCreated(Payload):
    event_type: ClassVar[str] = "lead.created"
    event_version: ClassVar[int] = 1

    lead_id: str = Field(pattern=r"^lead_.+")
    company_id: str = Field(min_length=1)
    channel: Channel
    source: Literal["organic", "ads", "referral", "unknown"] = "unknown"
    utm: Utm = Field(
        default_factory=Utm,
        description="Always an object (its fields null when unknown); an incoming null reads as empty",
    )
    lead_external_id: str | None = None
    ctwa_clid: str | None = None
    #: False when the contact refused sharing their data with ad platforms: nothing of theirs goes to Meta.
    #: Absent (null) when not asked; facebook-capi then reports as before.
    ads_consent: bool | None = None

    @field_validator("utm", mode="before")
    @classmethod
    def _absent_utm_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class LeadQualified(Payload):
    event_type: ClassVar[str] = "lead.qualified"
    event_version: ClassVar[int] = 1

    lead_id: str = Field(pattern=r"^lead_.+")
    company_id: str = Field(min_length=1)
    score: float = Field(ge=0, le=1)
    criteria: list[str] = Field(default_factory=list, examples=[["budget", "date", "location"]])
    summary: str = ""
    lead_name: str | None = Field(
        None,
        max_length=256,
        examples=["Maria"],
        description="The name the agent learned in the conversation (said by the lead, else its WhatsApp "
        "name), for operators to find the lead by; null when none",
    )


class ContractCreated(Payload):
    event_type: ClassVar[str] = "contract.created"
    event_version: ClassVar[int] = 1

    contract_id: str = Field(pattern=r"^ctr_.+")
    deal_id: str = Field(min_length=1)
    company_id: str = Field(min_length=1)
    value: float = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    lead_id: str | None = None
    document_id: str | None = None
    status: str | None = None


class ContractSigned(Payload):
    event_type: ClassVar[str] = "contract.signed"
    event_version: ClassVar[int] = 1

    contract_id: str = Field(pattern=r"^ctr_.+")
    deal_id: str = Field(min_length=1)
    company_id: str = Field(min_length=1)
    signed_at: UtcTimestamp
    value: float = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    lead_id: str | None = None
    document_id: str | None = None


class InstanceStatus(Payload):
    event_type: ClassVar[str] = "instance.status"
    event_version: ClassVar[int] = 1

    instance_id: str = Field(min_length=1)
    company_id: str = Field(min_length=1)
    channel: Channel
    status: Literal["connected", "disconnected", "error"]
    details: dict[str, Any] = Field(default_factory=dict)


ConversionOutcome = Literal["sent", "dry_run", "failed", "skipped", "unknown"]


class ConversionReported(Payload):
    """What facebook-capi did with one catalog event it reports to Meta (an addition: ``docs/catalog.md``).

    ``source_event_id`` names the reported event; a later outcome of the same event (an unknown one an operator
    resolved, a dead letter replayed and sent) supersedes an earlier one by ``reported_at``.
    """

    event_type: ClassVar[str] = "conversion.reported"
    event_version: ClassVar[int] = 1

    company_id: str = Field(min_length=1)
    source_event_id: str = Field(min_length=1, max_length=64, examples=["evt_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"])
    source_type: Literal["lead.created", "lead.qualified", "contract.signed"]
    lead_id: str | None = Field(None, pattern=r"^lead_.+")
    deal_id: str | None = None
    contract_id: str | None = None
    outcome: ConversionOutcome
    #: Why it failed, was skipped or is unknown, in words an operator can act on; null when sent.
    reason: str | None = Field(
        None, max_length=500, examples=["no_consent: the contact refused ads data sharing"]
    )
    #: The Meta event name sent (``Lead``, ``QualifiedLead``, ``Purchase``…); null when nothing was planned.
    event_name: str | None = None
    pixel_id: str | None = None
    value: float | None = Field(None, ge=0)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    reported_at: UtcTimestamp


__all__ = [
    "AdReferral",
    "ContractCreated",
    "ContractSigned",
    "ConversionOutcome",
    "ConversionReported",
    "InstanceStatus",
    "LeadCreated",
    "LeadQualified",
    "Media",
    "MediaKind",
    "MessageReceived",
    "MessageSent",
    "OutgoingMessage",
    "Utm",
]
