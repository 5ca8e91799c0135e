"""agent-runtime configuration, from `AGENT_*` environment variables (and the shared `REDIS_URL`,
`BUS_PREFIX`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict
from servicekit import ServiceSettings

from agent_runtime.qualification import CRITERIA, Rules
from agent_runtime.slots import MAX_INPUT_CHARS


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AGENT_", extra="ignore")

    required_secrets: ClassVar[tuple[str, ...]] = ("admin_token",)

    port: int = 8002
    #: `AGENT_ADMIN_TOKEN`: backoffice-api's credential for the admin API (it sets and reads handoffs); no
    #: default: unset, nobody is let in, and production refuses to start (servicekit.secrets).
    admin_token: SecretStr | None = None
    #: Time zone that "amanhã" and "sábado que vem" are read in, unless the company has its own below.
    timezone: str = "America/Sao_Paulo"
    company_timezones: dict[str, str] = Field(
        default_factory=dict
    )  # AGENT_COMPANY_TIMEZONES='{"cmp_…": "…"}'
    #: A conversation nobody touched for this long starts over (the lead and its qualification stay).
    conversation_ttl: timedelta = timedelta(days=30)
    #: A lead (its record, reference and qualified flag) silent for this long is forgotten: if it writes again
    #: it is a new lead (a new ``lead.created``). Bounded so that Redis does not keep every lead for ever
    #: (~860 B each, docs/retention.md); a year covers the customer who comes back for next year's party.
    lead_ttl: timedelta = timedelta(days=365)
    #: How long the answer to a received message is kept for replays: the bus's processed-id retention.
    answer_ttl: timedelta = timedelta(days=8)
    #: A published answer is cut down to a mark by the lead's next commit, or by a sweep this long after it
    #: was published (store.py): a lead's next message usually comes sooner, and then the cut is free.
    cut_after: timedelta = timedelta(seconds=30)
    #: WhatsApp messages longer than this are split (at sentence boundaries) into several.
    max_message_chars: int = Field(300, ge=40, le=4096)
    #: What the rules and the model read of a lead's message: the rest is ignored. WhatsApp allows 65,536
    #: characters; no lead needs more than a few hundred to describe an event, and work per message stays bounded.
    max_input_chars: int = Field(MAX_INPUT_CHARS, ge=100, le=65536)
    qualify_on: tuple[str, ...] = CRITERIA
    min_budget_per_guest: float = Field(50.0, ge=0)
    #: Whether an estimate ("uns 100", "entre 10 e 12 mil") meets a criterion; a company's knowledge file may say.
    qualify_approximate: bool = True
    #: A directory of ``<company_id>.json`` files: what the agent may answer per company (``knowledge.py``).
    knowledge_dir: Path | None = None
    #: Seconds a company's agent settings (``agent_settings.py``) are used before they are read again: how long
    #: a save through the admin API takes to reach the other replicas (the replica that took it, at once).
    settings_ttl: float = Field(5.0, ge=0, le=300)
    #: Messages (of different leads) in flight per process: ``concurrency / max_batch`` batches at once. Handlers
    #: mostly wait on Redis, and more at once means fuller round trips and one batch thinking while another
    #: waits: with 1,000 conversations, 512 handled 0.59–0.60× the no-op's rate against 0.53× at 256 (1,024:
    #: 0.54×; docs/bench/agent-runtime.md). One lead is still one message at a time.
    concurrency: int = Field(512, ge=1)
    #: Messages (of different leads) answered together, phase by phase (``handlers.answer_messages``); the
    #: batches are what is ready, never waited for, so a lone message goes at once.
    max_batch: int = Field(64, ge=1)
    #: Leads whose last committed state the process keeps in memory, so that their next message needs no
    #: read (``Store.recall``; the commit checks it). 0 turns it off; ~4 KB each (16 MB at the default).
    remembered_leads: int = Field(4096, ge=0)
    #: An OpenAI-compatible chat-completions URL; unset means rules only.
    llm_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = Field(4.0, gt=0)
    #: Model calls at once. A call waits for its turn at most AGENT_LLM_TIMEOUT (then the rules answer), and
    #: then has AGENT_LLM_TIMEOUT to answer.
    llm_concurrency: int = Field(32, ge=1)
    #: Let the model rephrase the rule-built replies too (extraction is always tried when a URL is set).
    llm_phrase: bool = True

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # fail at start-up, not on the first message
        return value

    @field_validator("qualify_on")
    @classmethod
    def _known_criteria(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(value) - set(CRITERIA)
        if unknown:
            raise ValueError(f"unknown criteria {sorted(unknown)}; known: {list(CRITERIA)}")
        return value

    def rules(self) -> Rules:
        return Rules(
            required=self.qualify_on,
            min_budget_per_guest=self.min_budget_per_guest,
            approximate_ok=self.qualify_approximate,
        )

    def zone(self, company_id: str) -> ZoneInfo:
        return ZoneInfo(self.company_timezones.get(company_id, self.timezone))
