"""Lead identity: one ``lead_`` id per ``company_id + lead_external_id``, announced once as ``lead.created``.

The id is claimed with ``SET NX`` on the natural key (the lead record lives with the lead's other state,
``store.py``), so two first messages handled at the same time (or a replay of the first) agree on one id;
``lead.created`` is published with the natural key as the bus's ``dedupe_key`` and the lead is marked
announced only after the publish (with the first answer, ``Store.commit``), so a crash in between
re-publishes (the bus returns the first event) instead of losing it.

The admin API knows a lead by id only: an index maps the id to the natural key. It is written before
``lead.created`` tells anyone the id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal
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
            utm=self.utm,
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
    url = referral.source_url or ""
    host = urlsplit(url).hostname or ""
    fields: dict[str, str | None] = {
        "source": "instagram" if "instagram" in host else "facebook",
        "medium": "ctwa",
        "campaign": referral.title,
        "content": referral.source_id,
    }
    for name, values in parse_qs(urlsplit(url).query).items():
        if name.startswith("utm_") and name[4:] in {"source", "medium", "campaign", "content", "term"}:
            fields[name[4:]] = values[0]
    return Utm.model_validate(fields)


class Leads:
    def __init__(self, bus: Bus, store: Store, *, channel: Channel = "whatsapp") -> None:
        self._bus = bus
        self._store = store
        self._channel = channel

    async def identify(self, event: Envelope[MessageReceived], *, now: datetime) -> Lead:
        """The message's lead, created (not yet announced) when this is its first message."""
        lead = await self._store.lead(LeadKey(event.company_id, event.payload.lead_external_id))
        return lead if lead is not None else await self.claim(event, now=now)

    async def claim(self, event: Envelope[MessageReceived], *, now: datetime) -> Lead:
        """A new lead for the message's natural key, or the lead another handler claimed it for first."""
        message = event.payload
        referral = message.referral
        candidate = Lead(
            lead_id=new_id("lead"),
            company_id=event.company_id,
            lead_external_id=message.lead_external_id,
            channel=self._channel,
            source="ads" if referral is not None else "organic",
            utm=utm_from(referral) if referral is not None else None,
            ctwa_clid=referral.ctwa_clid if referral is not None else None,
            created_at=now,
        )
        return await self._store.claim(candidate)

    async def announce(self, lead: Lead) -> Lead:
        """Publish ``lead.created``; safe to repeat (see the module docstring). The caller records that it
        was done (``Store.commit(announced=True)``) with the lead returned."""
        await self._store.save_ref(
            LeadRef(lead_id=lead.lead_id, company_id=lead.company_id, lead_external_id=lead.lead_external_id)
        )
        await self._bus.emit(
            lead.created_event(),
            company_id=lead.company_id,
            dedupe_key=f"{lead.company_id}:{lead.lead_external_id}",
        )
        return lead.model_copy(update={"announced": True})

    async def find(self, lead_id: str) -> LeadRef | None:
        return await self._store.find_ref(lead_id)
