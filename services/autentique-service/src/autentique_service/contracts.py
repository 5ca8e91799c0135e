"""Contracts in Redis, under `wb:svc:autentique-service:…` (no other service reads them).

    {ctr_…}:contract               hash             the contract, see below
    {ctr_…}:lock                   token, PX        one request at a time talks to Autentique for a contract
    {ctr_…}:webhook-event:<id>     1, EX            Autentique event ids already applied to this contract
    deal:<company_id>:<deal_id>    → ctr_…          the deal's current contract (one per deal unless re-issued)
    document:<document_id>         → ctr_…          for webhooks, which only name the document

Redis Cluster: every script and transaction touches the keys of one contract, which share the hash tag
`{ctr_…}` (one slot per contract, so contracts spread over the shards). The deal and document pointers lead
from one entity to another and are read and written on their own, in an order that never shows a
half-done step: a contract exists before its deal points at it, and a document points at its contract
before the contract records it (a webhook believes the pointer only when the contract agrees).

The contract hash holds what we were asked (`deal_id`, `value`, `signers` as JSON, …), what Autentique
answered (`document_id`, signers' `public_id` as `pid:<public_id>` → index), how many creation attempts were
made (`attempts`, counted *before* each call), and progress as write-once fields: `s:<i>:viewed`,
`s:<i>:signed`, `s:<i>:rejected`, `finished`, `signed_at`, `refused_at`. A re-issue links the two contracts
(`replaces` on the new one, `superseded_by` on the old one) and records when the old document was cancelled at
Autentique (`cancelled_at`). `correlation_id` and `causation_id` are the catalog's traceability: the lead's
thread, which both contract events carry, and contract.created's cause. Write-once (HSETNX) makes every
webhook idempotent and order-free: a replay or a late `signature.viewed` cannot undo a signature, and two
signers' webhooks handled at once cannot overwrite each other (a JSON blob read-modify-write would).

Redis errors leave as :class:`eventbus.BusUnavailable` (HTTP 503 through servicekit): the same Redis holds
the bus, and a caller should retry either way.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import ParamSpec, TypeVar

import structlog
from eventbus import Bus, BusUnavailable, ids
from redis.exceptions import RedisError
from servicekit import Conflict, lua
from ulid import ULID

from autentique_service import SERVICE
from autentique_service.contract_record import Contract as Contract  # importable from here, as before
from autentique_service.contract_record import text as _text
from autentique_service.models import (
    ContractCreate,
    StoredSigner,
)

log = structlog.get_logger("autentique_service")
P = ParamSpec("P")
T = TypeVar("T")

_RESERVE = lua.script("autentique_service", "reserve_deal")
_DELETE_IF = lua.script("autentique_service", "delete_if")
_FORGET_UNSENT = lua.script("autentique_service", "forget_unsent")
_SUPERSEDE = lua.script("autentique_service", "supersede")
_REQUEST_CANCEL = lua.script("autentique_service", "request_cancel")
_UNSUPERSEDE = lua.script("autentique_service", "unsupersede")
_WEBHOOK_CONTEXT = lua.script("autentique_service", "webhook_context")
_RECORD_ONCE = lua.script("autentique_service", "record_once")


def new_contract_id() -> str:
    return f"ctr_{ULID()}"


def redis_errors(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except (RedisError, OSError) as exc:
            log.warning(
                "contract_store_failed", operation=method.__name__, error=type(exc).__name__, detail=str(exc)
            )
            raise BusUnavailable(f"contract store unavailable: {type(exc).__name__}") from exc

    wrapped.__name__ = method.__name__
    wrapped.__doc__ = method.__doc__
    return wrapped


class Contracts:
    """The store. Every method is one to three round trips; none scans."""

    def __init__(self, bus: Bus) -> None:
        self._redis = bus.redis
        self._keys = bus.keys
        self._reserve = self._redis.register_script(_RESERVE)
        self._delete_if = self._redis.register_script(_DELETE_IF)
        self._forget_unsent = self._redis.register_script(_FORGET_UNSENT)
        self._webhook_context = self._redis.register_script(_WEBHOOK_CONTEXT)
        self._record_once = self._redis.register_script(_RECORD_ONCE)
        self._unsupersede = self._redis.register_script(_UNSUPERSEDE)
        self._supersede = self._redis.register_script(_SUPERSEDE)
        self._request_cancel = self._redis.register_script(_REQUEST_CANCEL)

    # Every key name, built only here (the layout is in the module's docstring).

    def _key(self, *parts: str) -> str:
        return str(self._keys.service(SERVICE, *parts))

    def _deal_key(self, company_id: str, deal_id: str) -> str:
        return self._key("deal", company_id, deal_id)

    def _document_key(self, document_id: str) -> str:
        return self._key("document", document_id)

    def _contract_key(self, contract_id: str, *parts: str) -> str:
        """The contract's hash, or with ``parts`` another key of the contract's slot (hash tag ``{ctr_…}``)."""
        return self._key(f"{{{contract_id}}}", *(parts or ("contract",)))

    def _lock_key(self, contract_id: str) -> str:
        return self._contract_key(contract_id, "lock")

    def _event_key(self, contract_id: str, event_id: str) -> str:
        return self._contract_key(contract_id, "webhook-event", event_id)

    @redis_errors
    async def current_for_deal(self, company_id: str, deal_id: str) -> str | None:
        found = await self._redis.get(self._deal_key(company_id, deal_id))
        return _text(found) if found else None

    @redis_errors
    async def get(self, contract_id: str) -> Contract | None:
        raw = await self._redis.hgetall(self._contract_key(contract_id))
        return Contract.from_hash(raw) if raw else None

    @redis_errors
    async def reserve(
        self, request: ContractCreate, *, contract_id: str, created_at: str, replacing: str | None
    ) -> str | None:
        """Make ``contract_id`` the deal's contract if the deal's current one is still ``replacing`` (None: the
        deal has none). Returns the deal's contract after the call: ``contract_id`` when reserved."""
        signers = [StoredSigner(**s.model_dump(exclude={"public_id", "link"})) for s in request.signers]
        fields: dict[str, str] = {
            "contract_id": contract_id,
            "deal_id": request.deal_id,
            "lead_id": request.lead_id or "",
            "company_id": request.company_id,
            "value": repr(request.value),
            "currency": request.currency,
            "created_at": created_at,
            "signers": json.dumps([s.model_dump() for s in signers]),
            "attempts": "0",
            "replaces": replacing or "",
            # A contract asked for without the lead's thread still gets one, shared by both its events.
            "correlation_id": request.correlation_id or ids.correlation_id(),
            "causation_id": request.causation_id or "",
        }
        # The contract first (its own slot): a deal never points at a contract that does not exist. A crash
        # before the deal points at it leaves a hash that no one knows the id of.
        contract_key = self._contract_key(contract_id)
        await self._redis.hset(contract_key, items=[part for pair in fields.items() for part in pair])
        # The replaced contract is marked before the deal moves: from then its webhooks are recorded but no
        # longer complete it (tracking.py), so one deal makes one signed contract, even while the new document
        # is being created; and a contract whose signature won the race is not replaced.
        if replacing and not await self._supersede(keys=[self._contract_key(replacing)], args=[contract_id]):
            with suppress(RedisError, OSError):  # unreferenced; this only saves the memory
                await self._redis.delete(contract_key)
            raise Conflict(
                f"contract {replacing} is signed or being replaced; read the deal's contract again"
            )
        deal_key = self._deal_key(request.company_id, request.deal_id)
        holder = _text(await self._reserve(keys=[deal_key], args=[replacing or "", contract_id])) or None
        if holder != contract_id:
            with suppress(RedisError, OSError):  # unreferenced either way; this only saves the memory
                await self._redis.delete(contract_key)
            if replacing:
                await self._unsupersede(keys=[self._contract_key(replacing)], args=[contract_id])
        return holder

    @redis_errors
    async def release(self, contract: Contract) -> bool:
        """Forget a reservation that never became a document (Autentique refused it): the deal is free again.
        Called under the contract's lock, so no document can be recorded meanwhile."""
        if not await self._forget_unsent(keys=[self._contract_key(contract.contract_id)]):
            return False
        # A crash here leaves the deal pointing at no contract: the next request for it reserves anew
        # (``Issuer.issue`` replaces a current contract it cannot read).
        deal_key = self._deal_key(contract.company_id, contract.deal_id)
        if contract.replaces is None:
            await self._delete_if(keys=[deal_key], args=[contract.contract_id])
            return True
        # A refused re-issue gives the deal back to the contract it was to replace, which counts again.
        await self._reserve(keys=[deal_key], args=[contract.contract_id, contract.replaces])
        await self._unsupersede(keys=[self._contract_key(contract.replaces)], args=[contract.contract_id])
        return True

    @asynccontextmanager
    async def locked(self, contract_id: str, *, seconds: float) -> AsyncIterator[bool]:
        """Yields whether this caller holds the contract's lock; it expires by itself after ``seconds`` so that
        a crashed request cannot keep a deal blocked."""
        token = secrets.token_hex(8)
        key = self._lock_key(contract_id)
        try:
            held = bool(await self._redis.set(key, token, nx=True, px=int(seconds * 1000)))
        except (RedisError, OSError) as exc:
            raise BusUnavailable(f"contract store unavailable: {type(exc).__name__}") from exc
        try:
            yield held
        finally:
            if held:
                with suppress(RedisError, OSError):  # it expires on its own
                    await self._delete_if(keys=[key], args=[token])

    @redis_errors
    async def count_attempt(self, contract_id: str) -> int:
        return int(await self._redis.hincrby(self._contract_key(contract_id), "attempts", 1))

    @redis_errors
    async def attach_document(
        self, contract: Contract, document_id: str, signers: list[StoredSigner], progress: dict[str, str]
    ) -> None:
        """Record Autentique's document; ``progress`` carries states already there (an adopted document)."""
        # The document's pointer first (another slot). A webhook that finds the pointer before the contract
        # records the document is answered as unknown; after a crash in between, the next request for the
        # deal adopts the document (issuing.py) and reads its signatures, so nothing is lost either way.
        await self._redis.set(self._document_key(document_id), contract.contract_id)
        key = self._contract_key(contract.contract_id)
        mapping: dict[str, str] = {
            "document_id": document_id,
            "signers": json.dumps([s.model_dump() for s in signers]),
        }
        for index, signer in enumerate(signers):
            if signer.public_id:
                mapping[f"pid:{signer.public_id}"] = str(index)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, items=[part for pair in mapping.items() for part in pair])
            for name, value in progress.items():
                pipe.hsetnx(key, name, value)
                if name.endswith(":rejected"):
                    pipe.hsetnx(key, "refused_at", value)
            await pipe.execute()

    @redis_errors
    async def request_cancel(self, contract_id: str, now: str) -> str:
        """``ok`` (recorded now or before), ``signed``, ``creating`` or ``missing`` (see _REQUEST_CANCEL)."""
        return _text(await self._request_cancel(keys=[self._contract_key(contract_id)], args=[now]))

    @redis_errors
    async def mark(
        self, contract_id: str, name: str, value: str, *, remember: tuple[str, int] | None = None
    ) -> None:
        """Set one field; ``remember``: (webhook event id, days) to remember in the same round trip."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._contract_key(contract_id), name, value)
            if remember is not None:
                pipe.set(self._event_key(contract_id, remember[0]), 1, ex=remember[1] * 86400)
            await pipe.execute()

    @redis_errors
    async def record_once(
        self, contract_id: str, fields: dict[str, str], *, remember: tuple[str, int] | None = None
    ) -> Contract | None:
        """Write each field unless it is already set, then read the contract back (one script).
        ``remember``: (webhook event id, days) to remember in the same step."""
        keys = [self._contract_key(contract_id)]
        args: list[str | int] = [remember[1] * 86400 if remember else 0]
        if remember is not None:
            keys.append(self._event_key(contract_id, remember[0]))
        for name, value in fields.items():
            args += [name, value]
        flat = await self._record_once(keys=keys, args=args)
        return Contract.from_hash(dict(zip(flat[::2], flat[1::2], strict=True))) if flat else None

    @redis_errors
    async def webhook_context(self, event_id: str, document_id: str) -> tuple[bool, Contract | None]:
        """(was this event applied already, the document's contract): the document's pointer, then one script
        over the contract's slot."""
        contract_id = await self._redis.get(self._document_key(document_id))
        if not contract_id:
            return False, None  # events are remembered per contract: an unknown document has none
        contract_id = _text(contract_id)
        reply = await self._webhook_context(
            keys=[self._event_key(contract_id, event_id), self._contract_key(contract_id)]
        )
        if reply[0] == 1 or len(reply) < 2 or not reply[1]:
            return reply[0] == 1, None
        flat = reply[1]
        return False, Contract.from_hash(dict(zip(flat[::2], flat[1::2], strict=True)))

    @redis_errors
    async def remember_webhook_event(self, contract_id: str, event_id: str, days: int) -> None:
        await self._redis.set(self._event_key(contract_id, event_id), 1, ex=days * 86400)
