"""What an operator does to a contract once it is sent: cancel it, remind its signers, fetch its signed PDF.

Cancel is idempotent end to end: the cancel is recorded first (``Contracts.request_cancel``, exclusive with a
signature), so that from then on no webhook can make the contract ``contract.signed``; then Autentique is
told (deadline now, then delete: reference §5; both safe to repeat, so retried). A cancel that Autentique
did not confirm leaves the contract ``cancelling`` and the next request finishes it. Nothing is published:
the catalog has no event for it and no consumer needs one (the deal stays where it is until an operator
moves it).

A reminder is not idempotent (each ``resendSignatures`` may message the signers), so it runs once per caller
``Idempotency-Key`` through an outcome record (servicekit.outcomes): a repeat answers the first result, and a
call whose outcome is ambiguous is recorded as unknown for an operator instead of being sent again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from pydantic import BaseModel
from servicekit import Conflict, NotFound, UpstreamRejected
from servicekit.outcomes import Answer, OutcomeUnknown, Records, State, UpstreamDown
from servicekit.upstream import UpstreamStatus, with_retries

from autentique_service.clients.autentique import AutentiqueClient
from autentique_service.contracts import Contract, Contracts

log = structlog.get_logger("autentique_service")

REMIND_EFFECT = "resend_signatures"
REMIND_TTL = timedelta(days=2)


class ContractNotOpen(Conflict):
    """The contract is not awaiting signatures (signed, cancelled, still being created): HTTP 409."""


class Reminded(BaseModel):
    contract_id: str
    #: How many signers were asked to sign again (those who had not signed yet).
    signers: int


class SignedFile(BaseModel):
    contract_id: str
    #: Autentique's URL of the signed PDF (reference §6: whether it needs the API token is unconfirmed).
    url: str


def _now() -> str:
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class FollowUps:
    contracts: Contracts
    autentique: AutentiqueClient
    reminders: Records
    attempts: int
    initial_delay: float

    async def _contract(self, contract_id: str) -> Contract:
        contract = await self.contracts.get(contract_id) if contract_id.startswith("ctr_") else None
        if contract is None:
            raise NotFound(f"no contract {contract_id}")
        return contract

    async def cancel(self, contract_id: str) -> Contract:
        contract = await self._contract(contract_id)
        if contract.cancelled_at is not None and contract.cancel_requested_at is not None:
            return contract  # a repeat: Autentique was told already
        verdict = await self.contracts.request_cancel(contract_id, _now())
        if verdict == "signed":
            raise ContractNotOpen(f"contract {contract_id} is signed; it can no longer be cancelled")
        if verdict == "creating":
            raise ContractNotOpen(f"contract {contract_id} is still being created; retry shortly")
        if verdict == "missing":
            raise NotFound(f"no contract {contract_id}")
        document_id = contract.document_id
        assert document_id is not None  # request_cancel refuses a contract without one
        now = _now()
        await with_retries(
            lambda: self.autentique.cancel_document(contract.company_id, document_id, now=now),
            attempts=self.attempts,
            initial=self.initial_delay,
        )
        await self.contracts.mark(contract_id, "cancelled_at", now)
        log.info("contract_cancelled", contract_id=contract_id)
        cancelled = await self.contracts.get(contract_id)
        assert cancelled is not None
        return cancelled

    async def remind(self, contract_id: str, idempotency_key: str) -> Reminded:
        contract = await self._contract(contract_id)
        if contract.status != "sent":
            raise ContractNotOpen(f"contract {contract_id} is {contract.status}: no signer to remind")
        pending = [
            s.public_id
            for i, s in enumerate(contract.signers)
            if s.public_id and contract.signer_status(i) in ("pending", "viewed")
        ]
        answer = Reminded(contract_id=contract_id, signers=len(pending))
        effect_id = f"{contract_id}:{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}"
        record = await self.reminders.claim(effect_id, holder=effect_id)
        if record.state is State.SENT:
            return Reminded(contract_id=contract_id, signers=int(record.ref or 0))
        if record.state is State.UNKNOWN:
            raise OutcomeUnknown(
                f"an earlier reminder with this Idempotency-Key may have gone out ({record.ref}); "
                "an operator decides",
                answer=Answer("earlier_unknown"),
            )
        if record.state is State.IN_FLIGHT:
            raise Conflict("a reminder with this Idempotency-Key is in progress; retry shortly")
        if not pending:
            await self.reminders.sent(effect_id, "0")
            return answer
        try:
            await self.autentique.resend_signatures(contract.company_id, pending)
        except OutcomeUnknown as exc:
            await self.reminders.unknown(
                effect_id, answer=exc.answer, event_id="", channel="", company_id=contract.company_id
            )
            raise
        except (UpstreamDown, UpstreamStatus, UpstreamRejected):
            # Not sent (refused, circuit open, 429/503) or refused by Autentique (ResentRecently among
            # them): nothing went out, the same key may try again.
            await self.reminders.failed(effect_id)
            raise
        except BaseException:
            # Anything else (a cancelled request, an unexpected error) is not proof either way: never resent blindly.
            await self.reminders.unknown(
                effect_id,
                answer=Answer("interrupted"),
                event_id="",
                channel="",
                company_id=contract.company_id,
            )
            raise
        await self.reminders.sent(effect_id, str(len(pending)))
        log.info("contract_signers_reminded", contract_id=contract_id, signers=len(pending))
        return answer

    async def signed_file(self, contract_id: str) -> SignedFile:
        contract = await self._contract(contract_id)
        if contract.status != "signed" or contract.document_id is None:
            raise ContractNotOpen(f"contract {contract_id} is {contract.status}: no signed PDF yet")
        url = await self.autentique.signed_file(contract.company_id, contract.document_id)
        if url is None:
            raise NotFound(f"Autentique lists no signed PDF for contract {contract_id} yet")
        return SignedFile(contract_id=contract_id, url=url)
