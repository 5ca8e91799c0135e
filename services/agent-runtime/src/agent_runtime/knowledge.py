"""What a company lets the agent say: prices, what is included, menu, cities served, address, hours, payment,
parking, cancellation terms, the slots it requires to qualify a lead, and its own wording of the agent's replies.

One JSON file per company, ``<AGENT_KNOWLEDGE_DIR>/<company_id>.json`` (the format is ``Knowledge`` below;
docs: the service README), is the seed: the company's agent settings (``agent_settings.py``, set through the
admin API and kept in Redis) replace it once an operator saves them. A company with neither gets honest
deferrals ("vou confirmar com a equipe") and a note for the salesperson. Files are read once per process and
company; a file that does not validate is logged and ignored.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from servicekit.agent_settings import AgentOpeningHours as OpeningHours
from servicekit.agent_settings import AgentPrice as Price

from agent_runtime.vocabulary import fold

log = structlog.get_logger("agent_runtime.knowledge")


class Knowledge(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    company_name: str | None = Field(None, max_length=80)
    prices: tuple[Price, ...] = ()
    #: Free text, the company's own words: shown as written.
    included: str | None = Field(None, max_length=600)
    menu: str | None = Field(None, max_length=600)
    cities: tuple[str, ...] = ()
    travel: str | None = Field(None, max_length=300)  # e.g. "atendemos até 100 km de Campinas"
    address: str | None = Field(None, max_length=300)
    hours: str | None = Field(None, max_length=300)
    payment: str | None = Field(None, max_length=300)
    legitimacy: str | None = Field(None, max_length=300)  # e.g. "CNPJ 12.345.678/0001-90, 15 anos no mercado"
    parking: str | None = Field(None, max_length=300)  # e.g. "estacionamento gratuito para 80 carros"
    #: Cancelling, moving the date, what happens to the deposit: the company's terms, as written.
    cancellation: str | None = Field(None, max_length=600)
    #: The slots a lead needs, confirmed, to be qualified (overrides ``AGENT_QUALIFY_ON``).
    required: tuple[str, ...] | None = None
    #: Whether an approximate answer ("uns 100", "entre 10 e 12 mil") counts for qualification.
    approximate_ok: bool | None = None
    #: Replies in the company's words: template name → text (``replies.TEMPLATES`` lists the names).
    templates: dict[str, str | list[str]] = Field(default_factory=dict)
    #: When the team answers (the company's time zone); none means always. Out of them the agent still talks,
    #: and says once a day when a person will (``out_of_hours_reply``, or a sentence built from the hours).
    business_hours: tuple[OpeningHours, ...] = Field((), max_length=14)
    out_of_hours_reply: str | None = Field(None, max_length=500)
    #: The score (``qualification.assess``) a lead needs besides the required slots; None: no floor.
    min_score: float | None = Field(None, ge=0, le=1)
    #: Words that hand the lead to a person when a message contains them, besides the agent's own
    #: ("atendente", "falar com uma pessoa"…); kept folded (lower case, no accents).
    handoff_keywords: tuple[str, ...] = Field((), max_length=30)
    #: A person answering the lead from the phone hands the lead off (the agent stops answering).
    handoff_on_human_reply: bool = True

    def price_for(self, event_type: str | None) -> Price | None:
        rows = {row.event_type: row for row in self.prices}
        return rows.get(event_type) or rows.get(None)

    def serves(self, city: str) -> bool | None:
        """True when ``city`` is in the list, None when there is no list or it is not in it (not a "no":
        the team may still go there)."""
        if not self.cities:
            return None
        return True if fold(city) in {fold(c) for c in self.cities} else None


EMPTY = Knowledge()


class Library:
    """The knowledge of every company, from a directory (``AGENT_KNOWLEDGE_DIR``); no directory, none."""

    def __init__(self, directory: Path | None) -> None:
        self._directory = directory
        self._load = lru_cache(maxsize=4096)(self._read)

    def of(self, company_id: str) -> Knowledge:
        return self._load(company_id)

    def _read(self, company_id: str) -> Knowledge:
        if self._directory is None or not company_id.replace("_", "").isalnum():
            return EMPTY  # a company id is cmp_<ULID>: anything else never names a file
        path = self._directory / f"{company_id}.json"
        try:
            return Knowledge.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return EMPTY
        except (OSError, ValidationError) as exc:
            log.error("knowledge_unreadable", company_id=company_id, error=type(exc).__name__)
            return EMPTY
