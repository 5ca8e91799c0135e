"""Lead identity: one ``lead_`` id per ``company_id + lead_external_id``, announced once as ``lead.created``.

The id is claimed with ``SET NX`` on the natural key, so two first messages handled at the same time (or a
replay of the first) agree on one id; ``lead.created`` is published with the natural key as the bus's
``dedupe_key`` and the lead is marked announced only after the publish, so a crash in between re-publishes
(the bus returns the first event) instead of losing it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from eventbus import AdReferral, Bus, Envelope, LeadCreated, MessageReceived, Utm
from eventbus.ids import new_id
from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from agent_runtime import SERVICE

Channel = Literal["whatsapp", "instagram", "telegram"]


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
    def __init__(self, redis: Redis, bus: Bus, *, channel: Channel = "whatsapp") -> None:
        self._redis = redis
        self._bus = bus
        self._keys = bus.keys
        self._channel = channel

    def _key(self, company_id: str, lead_external_id: str) -> str:
        return str(self._keys.service(SERVICE, "lead", company_id, lead_external_id))

    def _ref_key(self, lead_id: str) -> str:
        return str(self._keys.service(SERVICE, "lead-ref", lead_id))

    async def identify(self, event: Envelope[MessageReceived], *, now: datetime) -> Lead:
        """The message's lead, created (not yet announced) when this is its first message."""
        message = event.payload
        key = self._key(event.company_id, message.lead_external_id)
        if (raw := await self._redis.get(key)) is not None:
            return Lead.model_validate_json(raw)
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
        if await self._redis.set(key, candidate.model_dump_json(), nx=True):
            return candidate
        raw = await self._redis.get(key)  # another handler won the claim: its lead is the lead
        assert raw is not None, "a claimed lead key is never deleted"
        return Lead.model_validate_json(raw)

    async def announce(self, lead: Lead) -> Lead:
        """Publish ``lead.created`` unless done; safe to repeat (see the module docstring)."""
        if lead.announced:
            return lead
        ref = LeadRef(
            lead_id=lead.lead_id, company_id=lead.company_id, lead_external_id=lead.lead_external_id
        )
        await self._redis.set(self._ref_key(lead.lead_id), ref.model_dump_json())
        await self._bus.emit(
            lead.created_event(),
            company_id=lead.company_id,
            dedupe_key=f"{lead.company_id}:{lead.lead_external_id}",
        )
        announced = lead.model_copy(update={"announced": True})
        await self._redis.set(self._key(lead.company_id, lead.lead_external_id), announced.model_dump_json())
        return announced

    async def find(self, lead_id: str) -> LeadRef | None:
        raw = await self._redis.get(self._ref_key(lead_id))
        return LeadRef.model_validate_json(raw) if raw is not None else None
