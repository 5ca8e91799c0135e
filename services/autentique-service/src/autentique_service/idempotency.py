"""`Idempotency-Key` on `POST /v1/contracts`: a retried or concurrent request with the same key gets the first
one's result, whatever the first one does meanwhile.

A re-issue (`reissue: true`) is not idempotent by itself: each one makes a new contract and document. A caller
that times out (backoffice-api gives up after 5 s, a document may take three 15 s attempts) and sends the
request again would make a second one. With a key, the second request finds the first one's record:

    idempotency:<company_id>:<sha256(key)>   JSON, one key per record (any Redis Cluster slot)
      {"state": "pending", "fingerprint", "token"}        PX = the contract lock's time: a crashed request's
                                                          claim lapses by itself
      {"state": "done", "fingerprint", "contract_id", "created"}   EX = AUTENTIQUE_IDEMPOTENCY_HOURS (24)

- done, same body → the first result: the contract as it is now, with the first answer's status (201/200)
  and `Idempotent-Replayed: true`;
- pending, same body → the request waits for the first one (polling, AUTENTIQUE_IDEMPOTENCY_WAIT_SECONDS),
  then answers its result, or 409 `in_progress` if it is still running;
- another body under the same key → 422 `idempotency_key_reused`;
- the first request failed → its claim is dropped, so the retry runs again: the issuer resumes the contract
  the first one reserved (issuing.py) rather than start another.

Keys are scoped by company (one company cannot read another's result by guessing a key).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import structlog
from eventbus import Bus, BusUnavailable
from servicekit import Conflict, ServiceError, lua

from autentique_service import SERVICE
from autentique_service.contracts import Contract, Contracts, redis_errors
from autentique_service.issuing import Issued
from autentique_service.models import ContractCreate

log = structlog.get_logger("autentique_service")

HEADER = "Idempotency-Key"
# Compare-and-delete: only the request that claimed a key may drop its claim.
_DROP_CLAIM = lua.script("autentique_service", "delete_if")


class IdempotencyKeyReused(ServiceError):
    """The key was first used with another body (HTTP 422)."""


class RequestInProgress(Conflict):
    """The key's first request is still running after the wait (HTTP 409): retry with the same key."""


def fingerprint(request: ContractCreate, pdf: bytes | None) -> str:
    """What a key stands for: the request as parsed (key order and spacing do not matter), without its
    traceability ids, which say where the request came from, not what it asks (a lead qualified between a
    request and its retry changes the cause the caller sends, not the contract)."""
    asked = request.model_dump_json(exclude={"correlation_id", "causation_id"})
    digest = hashlib.sha256(asked.encode())
    if pdf is not None:
        digest.update(hashlib.sha256(pdf).digest())
    return digest.hexdigest()


@dataclass(frozen=True)
class Replayed:
    contract: Contract
    created: bool


class IdempotentRequests:
    def __init__(
        self, bus: Bus, contracts: Contracts, *, ttl_hours: int, claim_seconds: float, wait_seconds: float
    ) -> None:
        self._redis = bus.redis
        self._keys = bus.keys
        self._contracts = contracts
        self._ttl = ttl_hours * 3600
        self._claim_ms = int(claim_seconds * 1000)
        self._wait = wait_seconds
        self._drop_claim = self._redis.register_script(_DROP_CLAIM)

    def _key(self, company_id: str, key: str) -> str:
        hashed = hashlib.sha256(key.encode()).hexdigest()
        return str(self._keys.service(SERVICE, "idempotency", company_id, hashed))

    async def run(
        self, company_id: str, key: str, print_: str, issue: Callable[[], Awaitable[Issued]]
    ) -> Issued | Replayed:
        """``issue`` once per key; every other request with the key gets its result."""
        record_key = self._key(company_id, key)
        claim = json.dumps({"state": "pending", "fingerprint": print_, "token": secrets.token_hex(8)})
        deadline = time.monotonic() + self._wait
        while not await self._claim(record_key, claim):
            record = await self._read(record_key)
            if record is None:
                continue  # the first one failed and dropped its claim: try to claim it ourselves
            if record.get("fingerprint") != print_:
                raise IdempotencyKeyReused(f"{HEADER} was already used with a different request body")
            if record.get("state") == "done":
                contract = await self._contracts.get(str(record["contract_id"]))
                if contract is not None:
                    log.info("contract_request_replayed", contract_id=contract.contract_id)
                    return Replayed(contract, bool(record.get("created")))
            if time.monotonic() >= deadline:
                raise RequestInProgress(
                    f"a request with this {HEADER} is still running; retry with the same key"
                )
            # Waiting is rare (a caller's retry overtaking its first request): polling keeps replicas free of
            # any channel between them.
            await asyncio.sleep(0.1)
        try:
            issued = await issue()
        except BaseException:
            with suppress(BusUnavailable):  # the claim lapses by itself
                await self._drop(record_key, claim)
            raise
        done = {"state": "done", "fingerprint": print_, "contract_id": issued.contract.contract_id}
        await self._store(record_key, json.dumps(done | {"created": issued.created}))
        return issued

    @redis_errors
    async def _claim(self, record_key: str, claim: str) -> bool:
        return bool(await self._redis.set(record_key, claim, nx=True, px=self._claim_ms))

    @redis_errors
    async def _read(self, record_key: str) -> dict[str, Any] | None:
        raw = await self._redis.get(record_key)
        return None if raw is None else dict(json.loads(raw))

    @redis_errors
    async def _store(self, record_key: str, value: str) -> None:
        await self._redis.set(record_key, value, ex=self._ttl)

    @redis_errors
    async def _drop(self, record_key: str, claim: str) -> None:
        await self._drop_claim(keys=[record_key], args=[claim])
