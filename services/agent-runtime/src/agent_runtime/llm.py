"""The optional language model: an OpenAI-compatible chat-completions endpoint (``AGENT_LLM_URL``).

It may read slots the rules missed, which are then asked back to the lead before they are recorded (as any
guess, ``conversation``), and rephrase the rule-built replies, never adding a number of its own. It is never
needed: every call has a deadline, a circuit breaker skips it while it keeps failing, and any error, timeout
or answer that does not validate means "use the rules" — the conversation never waits on it nor fails
because of it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from dataclasses import replace
from typing import Any

import httpx
import structlog
from pydantic import BaseModel, Field, SecretStr, ValidationError
from servicekit import UpstreamUnavailable, upstream
from servicekit.upstream import Breakers

from agent_runtime.readings import Extraction, Reading, SlotName, Slots

log = structlog.get_logger("agent_runtime.llm")

_EXTRACT_PROMPT = (
    "Você extrai dados de mensagens de clientes de uma empresa de eventos (buffet, casamento, 15 anos, "
    "aniversário, formatura, corporativo). Hoje é {today}. Responda somente com um objeto JSON com as "
    "chaves event_type (texto em português), date (AAAA-MM-DD), guests (inteiro), budget_min e "
    "budget_max (reais, inteiros), location (texto) e handoff (true se o cliente pede um humano). "
    "Use null para o que a mensagem não diz."
)
_PHRASE_PROMPT = (
    "Reescreva a resposta de uma assistente de vendas de eventos para o WhatsApp em português do Brasil, "
    "natural e cordial, sem inventar nem remover informações, datas, valores ou perguntas. "
    "Não responda perguntas do cliente nem acrescente preços, números ou promessas: só reescreva. "
    "Responda só com o texto."
)
_SLOT_FIELDS: dict[SlotName, tuple[str, ...]] = {
    "event_type": ("event_type",),
    "date": ("date",),
    "guests": ("guests",),
    "budget": ("budget_min", "budget_max"),
    "location": ("location",),
}
_NUMBER = re.compile(r"\d+")


class _Slots(BaseModel):
    event_type: str | None = Field(default=None, max_length=60)
    date: dt.date | None = None
    guests: int | None = Field(default=None, ge=1, le=100_000)
    budget_min: int | None = Field(default=None, ge=0)
    budget_max: int | None = Field(default=None, ge=0)
    location: str | None = Field(default=None, max_length=120)
    handoff: bool = False


class LanguageModel:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        url: str,
        model: str,
        api_key: SecretStr | None,
        timeout: float,
        concurrency: int = 32,
        breakers: Breakers | None = None,
    ) -> None:
        self._http = http
        # The agent answers hundreds of leads at once (AGENT_CONCURRENCY); the endpoint takes far fewer calls.
        self._slots = asyncio.Semaphore(concurrency)
        self._url = url
        self._model = model
        self._api_key = api_key
        self._timeout = timeout
        self._breakers = breakers or Breakers(failure_threshold=5, recovery_timeout=30)

    async def refine(self, text: str, found: Extraction, *, today: dt.date) -> Extraction:
        """``found`` with the slots the rules missed filled in by the model, when it answers in time."""
        content = await self._chat(
            [
                {"role": "system", "content": _EXTRACT_PROMPT.format(today=today.isoformat())},
                {"role": "user", "content": text},
            ],
            json_mode=True,
        )
        if content is None:
            return found
        try:
            proposed = _Slots.model_validate_json(content)
        except ValidationError as exc:
            log.warning("llm_fallback", reason="invalid_answer", errors=exc.error_count())
            return found
        update: dict[str, Any] = {}
        rules = found.slots
        if rules.event_type is None and proposed.event_type:
            update["event_type"] = proposed.event_type.strip().lower()
        if rules.date is None and proposed.date is not None and proposed.date >= today:
            update["date"] = proposed.date  # the rules' "never in the past" holds for the model too
        if rules.guests is None and proposed.guests is not None:
            update["guests"] = proposed.guests
        if not rules.has("budget") and (proposed.budget_min is not None or proposed.budget_max is not None):
            update["budget_min"], update["budget_max"] = proposed.budget_min, proposed.budget_max
        if rules.location is None and proposed.location:
            update["location"] = proposed.location.strip()
        # What the model read is a guess like any other: asked back, recorded once the lead confirms it.
        readings = []
        for slot, keys in _SLOT_FIELDS.items():
            if any(update.get(key) is not None for key in keys):
                values = Slots.model_validate(
                    {key: update[key] for key in keys if update.get(key) is not None}
                )
                readings.append(Reading(slot=slot, values=values, reason="model"))
        return replace(found, unsure=(*found.unsure, *readings), handoff=found.handoff or proposed.handoff)

    async def phrase(self, paragraphs: list[str]) -> list[str]:
        """The reply reworded by the model, or as it is."""
        content = await self._chat(
            [
                {"role": "system", "content": _PHRASE_PROMPT},
                {"role": "user", "content": "\n\n".join(paragraphs)},
            ],
            json_mode=False,
        )
        if not content or not content.strip() or len(content) > 4 * sum(len(p) for p in paragraphs) + 200:
            return paragraphs
        if set(_NUMBER.findall(content)) - set(_NUMBER.findall(" ".join(paragraphs))):
            # A number of its own (a price, a date): the model may phrase, never inform.
            log.warning("llm_fallback", reason="invented_number")
            return paragraphs
        return [p for p in content.strip().split("\n\n") if p.strip()]

    async def _chat(self, messages: list[dict[str, str]], *, json_mode: bool) -> str | None:
        body: dict[str, Any] = {"model": self._model, "messages": messages, "temperature": 0}
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        headers = {"Authorization": f"Bearer {self._api_key.get_secret_value()}"} if self._api_key else {}

        async def attempt() -> httpx.Response:
            # httpx's timeout bounds each network step; asyncio's bounds the whole call (a slow trickle too),
            # and becomes an UpstreamUnavailable so that the breaker counts it. The call has the whole timeout
            # from the moment it got its turn: a call left a sliver of time by a long wait would time out
            # through no fault of the endpoint, and a burst would open the breaker of a healthy model.
            try:
                async with asyncio.timeout(self._timeout):
                    response: httpx.Response = await upstream.call(
                        self._http,
                        "POST",
                        self._url,
                        api="llm",
                        json=body,
                        headers=headers,
                        timeout=self._timeout,
                    )
            except TimeoutError as exc:
                raise UpstreamUnavailable("llm: timed out") from exc
            return response

        try:
            # A message waits for its turn at most the timeout (then the rules answer it), and for the call at
            # most the timeout again.
            async with asyncio.timeout(self._timeout):
                await self._slots.acquire()
        except TimeoutError:
            # Our own queue, not the endpoint's fault: the breaker does not count it.
            log.warning("llm_fallback", reason="busy")
            return None
        try:
            response = await self._breakers.call("llm", attempt)
            data = response.json()
            content = data["choices"][0]["message"]["content"]
        except UpstreamUnavailable as exc:
            log.warning("llm_fallback", reason=type(exc).__name__, error=str(exc)[:200])
            return None
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            log.warning("llm_fallback", reason="unreadable_answer", error=type(exc).__name__)
            return None
        finally:
            self._slots.release()
        return content if isinstance(content, str) else json.dumps(content)
