"""Lead identity: one ``lead_`` id per ``company_id + lead_external_id``, announced once as ``lead.created``.

The id is claimed with ``SET NX`` on the natural key (the lead record lives with the lead's other state,
``store.py``), so two first messages handled at the same time (or a replay of the first) agree on one id;
``lead.created`` is published with the natural key as the bus's ``dedupe_key`` and the lead is marked
announced only after the publish (with the first answer, ``Store.commit_many``), so a crash in between
re-publishes (the bus returns the first event) instead of losing it.

The admin API knows a lead by id only: an index maps the id to the natural key. It is written before
``lead.created`` tells anyone the id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

from eventbus import AdReferral, Bus, Envelope, LeadCreated, MessageReceived, Utm
from eventbus.ids import new_id
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from agent_runtime.store import Store

Channel = Literal["whatsapp", "instagram", "telegram"]


@dataclass(frozen=True, slots=True)
class LeadKey:
    """A lead's natural key: what a message names, and what every key of the lead is tagged with."""

    company_id: str
    lead_external_id: str


class Lead(BaseModel):
    model_config = ConfigDict(frozen=True)

    lead_id: str
    company_id: str
    lead_external_id: str
    channel: Channel
    source: Literal["organic", "ads", "referral", "unknown"]
    utm: Utm | None = None
    ctwa_clid: str | None = None
    created_at: datetime
    announced: bool = False

    @property
    def key(self) -> LeadKey:
        return LeadKey(self.company_id, self.lead_external_id)

    def created_event(self) -> LeadCreated:
        return LeadCreated(
            lead_id=self.lead_id,
            company_id=self.company_id,
            channel=self.channel,
            source=self.source,
            utm=self.utm or Utm(),
            lead_external_id=self.lead_external_id,
            ctwa_clid=self.ctwa_clid,
        )


class LeadRef(BaseModel):
    """Where the API finds a lead by id (it only knows ``lead_id``)."""

    lead_id: str
    company_id: str
    lead_external_id: str

    @property
    def key(self) -> LeadKey:
        return LeadKey(self.company_id, self.lead_external_id)


def utm_from(referral: AdReferral) -> Utm:
    """A click-to-WhatsApp ad as UTM fields: the app it ran on, ``ctwa`` as medium, the ad's headline as
    campaign and its id as content; ``utm_*`` parameters on the ad's URL, when present, win."""
    try:
        url = urlsplit(referral.source_url or "")
        host = url.hostname or ""
    except ValueError:  # the ad's URL comes from outside ("http://[broken"): it names no source then
        url, host = urlsplit(""), ""
    fields: dict[str, str | None] = {
        "source": "instagram" if "instagram" in host else "facebook",
        "medium": "ctwa",
        "campaign": referral.title,
        "content": referral.source_id,
    }
    for name, values in parse_qs(url.query).items():
        if name.startswith("utm_") and name[4:] in {"source", "medium", "campaign", "content", "term"}:
            fields[name[4:]] = values[0]
    return Utm.model_validate(fields)


class Leads:
    def __init__(self, bus: Bus, store: Store, *, channel: Channel = "whatsapp") -> None:
        self._bus = bus
        self._store = store
        self._channel = channel

    def candidate(self, event: Envelope[MessageReceived], *, now: datetime) -> Lead:
        """The lead the message's natural key gets if it has none yet."""
        message = event.payload
        referral = message.referral
        return Lead(
            lead_id=new_id("lead"),
            company_id=event.company_id,
            lead_external_id=message.lead_external_id,
            channel=self._channel,
            source="ads" if referral is not None else "organic",
            utm=utm_from(referral) if referral is not None else None,
            ctwa_clid=referral.ctwa_clid if referral is not None else None,
            created_at=now,
        )

    async def announce_many(self, announcing: Sequence[tuple[Lead, Envelope[Any]]]) -> list[Lead | Exception]:
        """Publish ``lead.created`` for each lead, on the thread of the message that made it, in one round
        trip for the refs and one for the events; safe to repeat (see the module docstring). Each lead marked
        announced, or the error it failed with. The caller records that it was done
        (``Commit(announced=True)``) with the lead returned."""
        refs = [
            LeadRef(lead_id=lead.lead_id, company_id=lead.company_id, lead_external_id=lead.lead_external_id)
            for lead, _ in announcing
        ]
        saved = await self._store.save_refs(refs)
        created = [
            (
                Envelope.new(
                    lead.created_event(),
                    source=self._bus.source,
                    company_id=lead.company_id,
                    correlation_id=cause.correlation_id,
                    causation_id=cause.id,
                ),
                f"{lead.company_id}:{lead.lead_external_id}",
            )
            for (lead, cause), failed in zip(announcing, saved, strict=True)
            if failed is None
        ]
        published = iter(await self._bus.publish_many(created) if created else [])
        results: list[Lead | Exception] = []
        for (lead, _), failed in zip(announcing, saved, strict=True):
            outcome = failed or next(published)
            results.append(
                outcome if isinstance(outcome, Exception) else lead.model_copy(update={"announced": True})
            )
        return results

    async def find(self, lead_id: str) -> LeadRef | None:
        return await self._store.find_ref(lead_id)


#: ``wa:lid:<digits>``: a WhatsApp sender known only by its privacy ``@lid`` (docs/catalog.md, Additions).
LID_PREFIX = "wa:lid:"


def reply_address(message: MessageReceived) -> str:
    """Where the answer to ``message`` goes (``message.sent.to``): the sender's phone number; for a lead known
    only by its privacy ``@lid`` (no ``from``), that LID's JID, which Evolution 2.3+ sends to. Anything else
    is passed on as the lead's id, and evolution-manager dead-letters what it cannot address."""
    if message.from_:
        return message.from_
    if message.lead_external_id.startswith(LID_PREFIX):
        return f"{message.lead_external_id.removeprefix(LID_PREFIX)}@lid"
    return message.lead_external_id
