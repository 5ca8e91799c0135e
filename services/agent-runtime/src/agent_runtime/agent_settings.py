"""A company's agent settings: what its operators set through the admin API (backoffice-api's
``/v1/admin/agent-settings``) — the greeting, business hours and the out-of-hours answer, the slots that qualify a
lead, the score threshold, handoff keywords, whether a person's reply from the phone hands off, and the knowledge
the agent answers from (prices, what is included, menu, cities, address, hours…).

agent-runtime owns them: one Redis key per company in its own namespace. The knowledge file
(``AGENT_KNOWLEDGE_DIR/<company>.json``) is the seed until an operator saves settings. ``CompanySettings`` keeps
what it read in a bounded cache for ``AGENT_SETTINGS_TTL`` (a few seconds): a save takes effect at once in the
process that took it and within that time in every other replica, without a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

import structlog
from eventbus import Bus
from pydantic import BaseModel, ValidationError
from servicekit.agent_settings import AgentKnowledge
from servicekit.agent_settings import AgentSettings as SharedAgentSettings

from agent_runtime import SERVICE
from agent_runtime.knowledge import EMPTY, Knowledge, Library
from agent_runtime.qualification import CRITERIA
from agent_runtime.vocabulary import fold

log = structlog.get_logger("agent_runtime.agent_settings")

Source = Literal["stored", "file", "default"]


class AgentSettings(SharedAgentSettings):
    """One company's agent settings (``servicekit.agent_settings``, the model backoffice-api validates with too),
    and how the conversation reads them."""

    def to_knowledge(self) -> Knowledge:
        """What the conversation reads (``conversation.advance``)."""
        templates = dict(self.templates)
        if self.greeting is not None:
            templates["greeting"] = self.greeting
        return Knowledge(
            **self.knowledge.model_dump(),
            required=self.qualify_on,
            approximate_ok=self.approximate_ok,
            templates=templates,
            business_hours=self.business_hours,
            out_of_hours_reply=self.out_of_hours_reply,
            min_score=self.score_threshold,
            handoff_keywords=tuple(fold(k) for k in self.handoff_keywords),  # as messages are read
            handoff_on_human_reply=self.handoff_on_human_reply,
        )

    @classmethod
    def from_knowledge(cls, knowledge: Knowledge) -> AgentSettings:
        """A knowledge file as settings: what ``GET`` shows before an operator saved any."""
        fields = knowledge.model_dump()
        templates = dict(knowledge.templates)
        greeting = templates.pop("greeting", None)
        required = [c for c in knowledge.required or () if c in CRITERIA]
        return cls.model_validate(
            {
                "greeting": greeting if isinstance(greeting, str) else None,
                "business_hours": fields["business_hours"],
                "out_of_hours_reply": knowledge.out_of_hours_reply,
                "qualify_on": required or None,
                "approximate_ok": knowledge.approximate_ok,
                "score_threshold": knowledge.min_score,
                "handoff_keywords": knowledge.handoff_keywords,
                "handoff_on_human_reply": knowledge.handoff_on_human_reply,
                "templates": templates,
                "knowledge": {k: fields[k] for k in AgentKnowledge.model_fields},
            }
        )


class StoredSettings(BaseModel):
    """The Redis value: the settings, when and by whom they were saved."""

    settings: AgentSettings
    updated_at: datetime
    updated_by: str | None = None


class Loaded(BaseModel):
    """A company's settings as in effect, and where they come from."""

    settings: AgentSettings
    source: Source
    updated_at: datetime | None = None
    updated_by: str | None = None


class CompanySettings:
    """Every company's agent settings: Redis (saved by operators) over the knowledge files (the seed), cached.

    The conversation is pure and synchronous, so the handler ``refresh``-es the companies of a batch before
    thinking (one GET per company whose cached entry is older than ``ttl``), and ``of`` reads the cache.
    """

    def __init__(self, bus: Bus | None, files: Library, *, ttl: float = 5.0, capacity: int = 4096) -> None:
        self._bus = bus
        self._files = files
        self._ttl = ttl
        self._capacity = capacity
        self._cache: OrderedDict[str, tuple[float, Loaded, Knowledge]] = OrderedDict()

    def _key(self, company_id: str) -> str:
        assert self._bus is not None
        return self._bus.keys.service(SERVICE, "agent-settings", company_id)

    def of(self, company_id: str) -> Knowledge:
        """The knowledge the agent uses for ``company_id`` now (the last read, or the seed file)."""
        if (entry := self._cache.get(company_id)) is not None:
            return entry[2]
        return self._files.of(company_id)

    async def refresh(self, company_ids: Iterable[str]) -> None:
        """Read the settings of the companies whose cached entry is missing or older than the TTL. A read that
        fails keeps a stale entry when there is one (Redis is briefly away): the handler's own Redis calls will
        fail the message if it is not."""
        if self._bus is None:
            return
        now = time.monotonic()
        due = [c for c in set(company_ids) if (e := self._cache.get(c)) is None or e[0] <= now]
        if not due:
            return
        results = await asyncio.gather(
            *(self._bus.redis.get(self._key(c)) for c in due), return_exceptions=True
        )
        for company_id, raw in zip(due, results, strict=True):
            if isinstance(raw, BaseException):
                if company_id in self._cache:
                    continue
                raise raw
            self._remember(company_id, self._parse(company_id, raw), now)

    async def load(self, company_id: str) -> Loaded:
        """The company's settings read now (the admin API), and cached."""
        raw = await self._bus.redis.get(self._key(company_id)) if self._bus is not None else None
        loaded = self._parse(company_id, raw)
        self._remember(company_id, loaded, time.monotonic())
        return loaded

    async def save(self, company_id: str, settings: AgentSettings, *, updated_by: str | None) -> Loaded:
        """Replace the company's settings; in effect at once here, within the TTL in other replicas."""
        if self._bus is None:
            raise RuntimeError("no Redis to keep settings in")
        stored = StoredSettings(settings=settings, updated_at=datetime.now(UTC), updated_by=updated_by)
        await self._bus.redis.set(self._key(company_id), stored.model_dump_json())
        loaded = Loaded(
            settings=settings, source="stored", updated_at=stored.updated_at, updated_by=updated_by
        )
        self._remember(company_id, loaded, time.monotonic())
        return loaded

    def _parse(self, company_id: str, raw: bytes | str | None) -> Loaded:
        if raw is not None:
            try:
                stored = StoredSettings.model_validate_json(raw)
            except ValidationError as exc:  # written by an older version: the seed, and say so
                log.error("agent_settings_unreadable", company_id=company_id, error=str(exc)[:200])
            else:
                return Loaded(
                    settings=stored.settings,
                    source="stored",
                    updated_at=stored.updated_at,
                    updated_by=stored.updated_by,
                )
        seed = self._files.of(company_id)
        return Loaded(
            settings=AgentSettings.from_knowledge(seed), source="default" if seed is EMPTY else "file"
        )

    def _remember(self, company_id: str, loaded: Loaded, now: float) -> None:
        knowledge = (
            loaded.settings.to_knowledge() if loaded.source == "stored" else self._files.of(company_id)
        )
        self._cache[company_id] = (now + self._ttl, loaded, knowledge)
        self._cache.move_to_end(company_id)
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
