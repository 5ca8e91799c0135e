"""Issuing a contract: one Autentique document per deal, whatever the network does.

1. The deal is reserved in Redis (`ctr_…`, status `creating`) before Autentique is called.
2. `createDocument` is a side effect in servicekit's outcome model: its record is claimed (and the attempt
   counted) before the call. A call that may have created the document (a timeout after sending, a cut
   connection, a 5xx, an unreadable answer), or a claim a crashed request left, is looked up at once by the
   document's name, which carries the contract id (reference §7). Found, it is adopted; not found, the
   outcome is *unknown*: answered 502, listed for an operator (``side_effect_outcomes_total``, the service's
   unknown-outcome index), and never created again until the operator says ``resend`` (reference §3:
   retrying a create blindly creates, and bills, a second document). Failures that prove nothing was
   created (refused, circuit open, 429/503) are retried.
3. Only one request talks to Autentique for a contract at a time (a lock that expires by itself); a second
   one meanwhile gets 409 and retries.
4. The document id and the signers' public ids are stored, then `contract.created` is published with the
   contract id as producer key: a repeat after a failed publish publishes it once.

A repeated request for a deal answers the deal's contract (200) without calling Autentique again;
`reissue: true` makes a new contract (and document) for the deal once the current one exists and is not signed;
the old one is superseded from the reservation on and its document cancelled once the new one exists
(superseding.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import structlog
from eventbus import Bus, ContractCreated
from servicekit import Conflict, UpstreamRejected
from servicekit.outcomes import Answer, OutcomeUnknown, Records, State
from servicekit.upstream import with_retries

from autentique_service import SERVICE
from autentique_service.clients.autentique import AutentiqueClient, Document, SignerRequest
from autentique_service.contracts import Contract, Contracts, new_contract_id
from autentique_service.models import ContractCreate, StoredSigner
from autentique_service.rendering import render_contract
from autentique_service.superseding import cancel_replaced
from autentique_service.tracking import Tracker

log = structlog.get_logger("autentique_service")

EFFECT = "create_document"
#: As long as a contract's record: a document's outcome is needed as long as its contract may be asked for.
RECORD_TTL = timedelta(days=400)


def document_name(contract_id: str) -> str:
    # The contract id makes the name unique: the lookup after an ambiguous failure matches it exactly.
    return f"Contrato {contract_id}"


@dataclass(frozen=True)
class Issued:
    contract: Contract
    created: bool  # a new contract (201) or the deal's existing one (200)


@dataclass
class Issuer:
    contracts: Contracts
    autentique: AutentiqueClient
    bus: Bus
    tracker: Tracker
    templates_dir: Path | None
    attempts: int
    retry_initial_delay: float
    lock_seconds: float

    async def issue(self, request: ContractCreate, uploaded_pdf: bytes | None) -> Issued:
        current_id = await self.contracts.current_for_deal(request.company_id, request.deal_id)
        current = await self.contracts.get(current_id) if current_id else None
        if current is not None and current.document_id is None:
            # An earlier attempt never learnt its outcome: finish it rather than start another document.
            finished = await self._create_document(current, request, uploaded_pdf)
            return Issued(await self._announce(finished), created=True)
        if current is not None and not request.reissue:
            return Issued(await self._announce(current), created=False)
        if current is not None and current.signed_event_id is not None:
            # A sale is made: replacing its contract would open the way to a second one.
            raise Conflict(f"contract {current.contract_id} is signed; it cannot be re-issued")
        contract_id = new_contract_id()
        created_at = _now()
        holder = await self.contracts.reserve(
            request, contract_id=contract_id, created_at=created_at, replacing=current_id
        )
        if holder != contract_id:
            raise Conflict(f"deal {request.deal_id} got a contract meanwhile ({holder}); retry to read it")
        contract = await self.contracts.get(contract_id)
        assert contract is not None, "written before the deal pointed at it"
        try:
            finished = await self._create_document(contract, request, uploaded_pdf)
        except UpstreamRejected:
            if current is not None:  # the deal went back to it (Contracts.release): it counts again
                await self.tracker.settle(await self.contracts.get(current.contract_id) or current)
            raise
        return Issued(await self._announce(finished), created=True)

    async def _create_document(
        self, contract: Contract, request: ContractCreate, uploaded_pdf: bytes | None
    ) -> Contract:
        async with self.contracts.locked(contract.contract_id, seconds=self.lock_seconds) as held:
            if not held:
                raise Conflict(f"contract {contract.contract_id} is being created; retry shortly")
            pdf = uploaded_pdf or render_contract(
                request,
                contract_id=contract.contract_id,
                templates_dir=self.templates_dir,
                issued_on=date.today(),
            )
            name = document_name(contract.contract_id)
            signers = [SignerRequest(s.name, s.email, s.phone, s.delivery) for s in contract.signers]
            records = self.records()
            record = await records.claim(contract.contract_id, holder=contract.contract_id)
            document = None
            if record.state is not State.CLAIMED or contract.attempts > 0:
                # An earlier call may have created it (or an operator said it did): look before creating.
                document = await self._look_up(contract, name)
                if document is None and record.state is State.SENT:
                    raise Conflict(
                        f"contract {contract.contract_id}: marked delivered, but no document found"
                    )
                if document is None and record.state is State.UNKNOWN:
                    raise OutcomeUnknown(
                        f"createDocument for contract {contract.contract_id} awaits an operator's decision",
                        answer=Answer(record.ref),
                    )
                if document is None and record.state is State.IN_FLIGHT:
                    await self._unknown(records, contract, Answer("crashed_mid_call"))

            async def create() -> Document:
                return await self.autentique.create_document(
                    contract.company_id,
                    name=name,
                    message="Segue o contrato para assinatura eletrônica.",
                    signers=signers,
                    pdf=pdf,
                )

            if document is None:
                await self.contracts.count_attempt(contract.contract_id)
                try:
                    document = await with_retries(
                        create, attempts=self.attempts, initial=self.retry_initial_delay
                    )
                except OutcomeUnknown as exc:
                    document = await self._look_up(contract, name)
                    if document is None:
                        await self._unknown(records, contract, exc.answer)
                except UpstreamRejected:
                    # A definite refusal created nothing: free the deal so that a corrected request can go.
                    await records.failed(contract.contract_id)
                    if await self.contracts.release(contract):
                        log.info("contract_reservation_released", contract_id=contract.contract_id)
                    raise
                except Exception:
                    # Refused, circuit open, 429/503: nothing was created. (A cancelled request keeps its claim:
                    # the next one looks the document up.)
                    await records.failed(contract.contract_id)
                    raise
            assert document is not None
            await records.sent(contract.contract_id, document.id)
            stored, progress = match_signers(contract.signers, document)
            await self.contracts.attach_document(contract, document.id, stored, progress)
        log.info("contract_document_created", contract_id=contract.contract_id, document_id=document.id)
        refreshed = await self.contracts.get(contract.contract_id)
        assert refreshed is not None
        return refreshed

    def records(self) -> Records:
        """The ``createDocument`` records (servicekit.outcomes): this service's ``/ops/outcomes`` serves them."""
        keys = self.bus.keys
        return Records(
            self.bus.redis,
            service=SERVICE,
            effect=EFFECT,
            # In the contract's slot, beside its hash (contracts.py's layout).
            key_of=lambda contract_id: keys.service(SERVICE, f"{{{contract_id}}}", "document-outcome"),
            index_key=keys.service(SERVICE, "outcomes", "unknown"),
            ttl=RECORD_TTL,
        )

    async def _look_up(self, contract: Contract, name: str) -> Document | None:
        try:
            found = await with_retries(
                lambda: self.autentique.find_document(contract.company_id, name),
                attempts=self.attempts,
                initial=self.retry_initial_delay,
            )
        except Exception as exc:  # a lookup that fails proves nothing either way
            log.warning(
                "contract_document_lookup_failed", contract_id=contract.contract_id, error=type(exc).__name__
            )
            return None
        if found is not None:
            log.info("contract_document_adopted", contract_id=contract.contract_id)
        return found

    async def _unknown(self, records: Records, contract: Contract, answer: Answer) -> NoReturn:
        await records.unknown(
            contract.contract_id, answer=answer, event_id="", channel="", company_id=contract.company_id
        )
        raise OutcomeUnknown(
            f"createDocument for contract {contract.contract_id}: {answer}; not found by its name, an operator "
            "decides (POST /ops/outcomes/create_document/<contract id>/resolve)",
            answer=answer,
        )

    async def _announce(self, contract: Contract) -> Contract:
        if contract.created_event_id is None:
            published = await self.bus.emit(
                ContractCreated(
                    contract_id=contract.contract_id,
                    deal_id=contract.deal_id,
                    company_id=contract.company_id,
                    value=contract.value,
                    currency=contract.currency,
                    lead_id=contract.lead_id,
                    document_id=contract.document_id,
                    status=contract.status,
                ),
                company_id=contract.company_id,
                dedupe_key=contract.contract_id,
                correlation_id=contract.correlation_id,
                causation_id=contract.causation_id,
            )
            await self.contracts.mark(contract.contract_id, "created_event_id", published.event_id)
            contract.created_event_id = published.event_id
        await cancel_replaced(
            contract,
            contracts=self.contracts,
            autentique=self.autentique,
            attempts=self.attempts,
            initial_delay=self.retry_initial_delay,
        )
        # An adopted document may have been signed while we did not know its id (its webhooks were
        # answered as unknown): contract.signed follows contract.created then.
        return await self.tracker.settle(contract)


def match_signers(ours: list[StoredSigner], document: Document) -> tuple[list[StoredSigner], dict[str, str]]:
    """Pair our signers with Autentique's signatures by e-mail, then by name, never by position: the
    response may list more signatures than we sent (the author, reference §2). Also returns progress already
    recorded on the document (an adopted document may have been signed meanwhile)."""
    free = list(document.signatures)
    stored: list[StoredSigner] = []
    progress: dict[str, str] = {}
    for index, signer in enumerate(ours):
        match = None
        if signer.email:
            match = next((s for s in free if (s.email or "").lower() == signer.email.lower()), None)
        if match is None:
            match = next((s for s in free if s.name == signer.name and not s.email), None)
        if match is None:
            match = next((s for s in free if s.name == signer.name), None)
        if match is None:
            log.warning("contract_signer_unmatched", signer_index=index)
            stored.append(signer)
            continue
        free.remove(match)
        stored.append(signer.model_copy(update={"public_id": match.public_id, "link": match.link}))
        for what, moment in (
            ("viewed", match.viewed_at),
            ("signed", match.signed_at),
            ("rejected", match.rejected_at),
        ):
            if moment:
                progress[f"s:{index}:{what}"] = moment
    return stored, progress


def _now() -> str:
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
