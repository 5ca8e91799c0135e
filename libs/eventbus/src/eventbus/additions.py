"""What this project adds to the team's catalog (``shared/seeds/001``), each with why: the one list that the
"Additions" table of ``docs/catalog.md`` and the ``x-additions`` of ``contracts/asyncapi.json`` are rendered
from (``eventbus.contracts``).

The catalog allows additions only as optional fields, extra consumers and new channels; a consumer written
against the catalog alone ignores all of them. A test compares the models and :data:`CHANNELS` with the
catalog's own text and fails on any field, consumer or channel that is neither the catalog's nor listed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["field", "consumer", "channel", "form"]


@dataclass(frozen=True)
class Addition:
    """One addition. ``where`` is ``envelope`` or a channel's name; ``what`` a field's dotted path inside the
    payload (or the envelope), a consumer group's name, the channel itself, or the field whose value gains a
    new documented form; ``form`` its type or shape."""

    where: str
    kind: Kind
    what: str
    form: str
    why: str


ADDITIONS: tuple[Addition, ...] = (
    Addition(
        "envelope",
        "field",
        "traceparent",
        "string (W3C Trace Context)",
        "tracing through the bus",
    ),
    Addition(
        "envelope",
        "field",
        "request_id",
        "string (≤ 64 printable characters)",
        "the `X-Request-ID` of the webhook or API call behind the event, inherited by what its handlers "
        "publish (`servicekit.requests`): one id in every service's log lines and upstream calls for a turn",
    ),
    Addition(
        "message.received",
        "consumer",
        "backoffice-api",
        "consumer group `backoffice-api`",
        "the lead timeline operators read (every inbound message, also of leads the agent cannot answer)",
    ),
    Addition(
        "message.sent",
        "consumer",
        "backoffice-api",
        "consumer group `backoffice-api`",
        "the lead timeline operators read (every answer the agent gave)",
    ),
    Addition(
        "message.received",
        "field",
        "media.kind",
        "one of `image`, `audio`, `document`, `video`, `sticker`",
        "the precise kind Evolution delivers; `media.type` stays inside the catalog's `image|audio|document` "
        "(a video travels as `document`, a sticker as `image`). Entries written before this field, with "
        "`type` `video`/`sticker`, are still read",
    ),
    Addition(
        "message.received",
        "form",
        "lead_external_id",
        "`wa:lid:<digits>`",
        "a WhatsApp privacy `@lid` sender whose phone number Evolution does not give (2.2.3+, "
        "evolution-api#2466): still a lead, identified by its LID, answered at `<digits>@lid`",
    ),
    Addition(
        "message.received",
        "form",
        "from",
        "absent",
        "the same `@lid` sender: `from` is a phone number or absent (never null, never a LID), as the "
        "catalog's rule on absent fields allows",
    ),
    Addition(
        "message.sent",
        "form",
        "to",
        "`<digits>@lid`",
        "the answer to a `wa:lid:` lead: Evolution 2.3+ sends to a LID JID (reference §12)",
    ),
    Addition(
        "message.received",
        "field",
        "referral",
        "object: `ctwa_clid`, `source_id`, `source_type`, `source_url`, `title`",
        "a click-to-WhatsApp ad the lead came from, so agent-runtime can mark the lead `ads`",
    ),
    Addition(
        "lead.created",
        "field",
        "lead_external_id",
        "string (`wa:+E164`, or `wa:lid:<digits>`)",
        "facebook-capi matches the lead without asking another service",
    ),
    Addition(
        "lead.created",
        "field",
        "ctwa_clid",
        "string",
        "facebook-capi sends business-messaging events for ad leads",
    ),
    Addition("contract.created", "field", "lead_id", "string", "facebook-capi matches the sale to the lead"),
    Addition("contract.signed", "field", "lead_id", "string", "facebook-capi matches the sale to the lead"),
    Addition("contract.created", "field", "document_id", "string", "the Autentique document, for operators"),
    Addition("contract.signed", "field", "document_id", "string", "the Autentique document, for operators"),
    Addition("contract.created", "field", "status", "string", "the contract's status at creation"),
    Addition(
        "lead.created",
        "field",
        "ads_consent",
        "boolean or null",
        "`false` when the contact refused sharing their data with ad platforms: facebook-capi then reports "
        "nothing of theirs to Meta (a `skipped` outcome, `no_consent`); null when not asked",
    ),
    Addition(
        "message.received",
        "field",
        "from_me",
        "boolean, default `false`",
        "a message a person typed on the business's own WhatsApp (the phone or another linked device) to the "
        "contact of `lead_external_id` / `from`. Evolution sends it as `messages.upsert` with `key.fromMe`; "
        "the echo of the platform's own `sendText` is not published (Evolution reports those as "
        "`send.message`, and a `fromMe` upsert carrying an id `sendText` returned, or the very text being sent "
        "to that chat at that moment, is dropped as an echo by evolution-manager). agent-runtime never "
        "answers it and hands the lead off (per-company `handoff_on_human_reply`, default on); backoffice-api "
        "shows it in the timeline as a human's message. A consumer that predates the field would take it for "
        "the lead's: deploy agent-runtime before evolution-manager (or keep `EVOLUTION_SKIP_FROM_ME=true` "
        "until then)",
    ),
    Addition(
        "message.received",
        "field",
        "contact_name",
        "string (≤ 256) or null",
        "the contact's WhatsApp display name (`pushName`) on the lead's own messages; null on `from_me` ones",
    ),
    Addition(
        "lead.qualified",
        "field",
        "lead_name",
        "string (≤ 256) or null",
        "the name the agent learned in the conversation (said by the lead, else its WhatsApp name): "
        "backoffice-api indexes it with `message.received`'s `contact_name` so that operators find a lead "
        "by name (`GET /v1/leads/search/name`)",
    ),
    Addition(
        "message.sent",
        "field",
        "author",
        "`agent` (default) or `operator`",
        "an operator's reply sent through backoffice-api (`POST /v1/leads/{id}/messages`), which agent-runtime "
        "publishes as the channel's producer (backoffice-api → HTTP → agent-runtime); its event and "
        "correlation ids derive from the company, the lead and the request's `Idempotency-Key`, so a retried "
        "request publishes and sends once",
    ),
    Addition(
        "conversion.reported",
        "channel",
        "conversion.reported",
        "producer facebook-capi, consumer backoffice-api",
        "whether a lead or a sale reached Meta, for operators: backoffice-api may not read facebook-capi's "
        "keys, so facebook-capi publishes the outcome of each reported event (sent, dry_run, failed with the "
        'reason, skipped and why, unknown); see "An added channel" below',
    ),
)


#: Channels added to the seed catalog, from the list above (``eventbus.catalog`` serves them).
ADDED_CHANNELS = frozenset(a.where for a in ADDITIONS if a.kind == "channel")


def for_channel(name: str) -> list[Addition]:
    """The additions to channel ``name`` (``"envelope"`` for the envelope's), in the order listed."""
    return [a for a in ADDITIONS if a.where == name]
