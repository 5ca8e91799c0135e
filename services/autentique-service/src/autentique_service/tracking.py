"""Signing progress from webhooks, and `contract.signed` exactly once.

Every update is written once (HSETNX, see contracts.py), so replays, duplicates and any arrival order give
the same contract. When the last signer's signature or `document.finished` arrives, whichever comes first,
`signed_at` is fixed (the latest signing time Autentique reports) and `contract.signed` is published with the
contract id as producer key (the catalog's idempotency key): two webhooks finishing the contract at the same
moment publish one event, and the contract remembers the event id so that later replays skip the bus.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

import structlog
from eventbus import Bus, ContractSigned
from eventbus.envelope import format_timestamp
from prometheus_client import Counter

from autentique_service.contracts import Contract, Contracts
from autentique_service.webhooks import DocumentFinished, Ignored, SignatureChanged, Update

log = structlog.get_logger("autentique_service")

Outcome = Literal["applied", "replayed", "unknown_document", "ignored", "superseded"]
WEBHOOKS = Counter(
    "autentique_webhooks_total",
    "Autentique webhook deliveries by outcome (unknown_document: not one of our contracts; superseded: a"
    " re-issued contract's old document, recorded and ignored).",
    ["outcome"],
)
WEBHOOKS_REFUSED = Counter(
    "autentique_webhooks_refused_total",
    "Autentique webhook deliveries refused before reading them: bad_signature, malformed.",
    ["reason"],
)


@dataclass
class Tracker:
    contracts: Contracts
    bus: Bus
    replay_window_days: int

    async def apply(self, update: Update, *, company_id: str | None) -> Outcome:
        """``company_id``: the company whose secret verified the delivery, None for the deployment's secret.
        A company's endpoint may only move that company's contracts."""
        outcome = await self._apply(update, company_id)
        WEBHOOKS.labels(outcome).inc()
        return outcome

    async def _apply(self, update: Update, company_id: str | None) -> Outcome:
        if isinstance(update, Ignored):
            # Nothing is applied for it, so it was never remembered: event ids are remembered per contract,
            # and Autentique gives each event one id and one type.
            return "ignored"
        seen, contract = await self.contracts.webhook_context(update.event_id, update.document_id)
        if seen:
            return "replayed"
        if (
            contract is None
            # the document's pointer is written just before the contract records the document (contracts.py)
            or contract.document_id != update.document_id
            or (company_id is not None and contract.company_id != company_id)
        ):
            log.info("autentique_webhook_unknown_document", event_id=update.event_id)
            return "unknown_document"
        if isinstance(update, SignatureChanged):
            fields = self._signature_fields(contract, update)
        else:
            fields = self._finished_fields(contract, update)
        if contract.withdrawn:
            # A re-issue replaced this contract: what its document still reports (a signature made before the
            # cancellation, delivered late) is kept for the record, but only the deal's current contract may
            # become contract.signed (and, downstream, a Purchase).
            await self.contracts.record_once(
                contract.contract_id, fields, remember=(update.event_id, self.replay_window_days)
            )
            log.info(
                "autentique_webhook_superseded", contract_id=contract.contract_id, event_id=update.event_id
            )
            return "superseded"
        # The event id is remembered only once everything it causes is in Redis (else Autentique's retry
        # would be taken for a replay): with the progress when it completes nothing, after the publish when
        # it completes the contract. Fixing signed_at in the same transaction saves a round trip.
        after = _with(contract, fields)
        completes = after.all_signed and contract.signed_event_id is None
        if completes and contract.signed_at is None:
            fields["signed_at"] = _latest_signature(after)
        remember = (update.event_id, self.replay_window_days)
        recorded = await self.contracts.record_once(
            contract.contract_id, fields, remember=None if completes else remember
        )
        await self.settle(recorded or after, remember=remember if completes else None)
        return "applied"

    @staticmethod
    def _signature_fields(contract: Contract, update: SignatureChanged) -> dict[str, str]:
        index = contract.signer_index(update.public_id)
        if index is None:  # the author's own signature, or a signer we could not match
            return {}
        fields = {f"s:{index}:{update.what}": _stamp(update.at)}
        if update.what == "rejected":
            fields["refused_at"] = _stamp(update.at)
        return fields

    @staticmethod
    def _finished_fields(contract: Contract, update: DocumentFinished) -> dict[str, str]:
        fields = {"finished": "1"}
        for public_id, at in update.signed.items():
            index = contract.signer_index(public_id)
            if index is not None:
                fields[f"s:{index}:signed"] = _stamp(at)
        latest = max(update.signed.values(), default=update.at)
        if latest is not None:
            fields["finished_at"] = _stamp(latest)
        return fields

    async def settle(self, contract: Contract, *, remember: tuple[str, int] | None = None) -> Contract:
        """Publish `contract.signed` if the contract is complete and has not said so yet; then remember the
        webhook event that caused it, if any."""
        if (
            contract.signed_event_id is not None
            or contract.document_id is None
            or contract.withdrawn
            or not contract.all_signed
        ):
            if remember is not None:
                await self.contracts.remember_webhook_event(contract.contract_id, *remember)
            return contract
        if contract.signed_at is None:
            fixed = {"signed_at": _latest_signature(contract)}
            contract = await self.contracts.record_once(contract.contract_id, fixed) or contract
        if contract.withdrawn:  # a re-issue or a cancel marked it first (Contracts.reserve, request_cancel)
            return contract
        assert contract.signed_at is not None
        published = await self.bus.emit(
            ContractSigned(
                contract_id=contract.contract_id,
                deal_id=contract.deal_id,
                company_id=contract.company_id,
                signed_at=datetime.fromisoformat(contract.signed_at),
                value=contract.value,
                currency=contract.currency,
                lead_id=contract.lead_id,
                document_id=contract.document_id,
            ),
            company_id=contract.company_id,
            dedupe_key=contract.contract_id,
            # The lead's thread, caused by the contract's creation (catalog: traceability to the sale).
            correlation_id=contract.correlation_id,
            causation_id=contract.created_event_id,
        )
        await self.contracts.mark(
            contract.contract_id, "signed_event_id", published.event_id, remember=remember
        )
        contract.signed_event_id = published.event_id
        log.info("contract_signed", contract_id=contract.contract_id, event_id=published.event_id)
        return contract


def _with(contract: Contract, fields: dict[str, str]) -> Contract:
    """The contract as it will be once ``fields`` are written (write-once: existing values stay)."""
    progress = {k: v for k, v in fields.items() if k.startswith("s:")} | contract.progress
    return replace(
        contract,
        progress=progress,
        finished=contract.finished or fields.get("finished") == "1",
        finished_at=contract.finished_at or fields.get("finished_at"),
    )


def _latest_signature(contract: Contract) -> str:
    """signed_at: the latest signing time Autentique reported for the contract's signers."""
    moments = [
        m for i in range(len(contract.signers)) if (m := contract.signer_moment(i, "signed")) is not None
    ]
    if contract.finished_at is not None:
        moments.append(contract.finished_at)
    if not moments:  # finished, yet no signing time for anyone: nothing from Autentique to go on
        log.warning("contract_signed_without_time", contract_id=contract.contract_id)
        moments.append(_stamp(datetime.now(UTC)))
    return max(moments)


def _stamp(moment: datetime) -> str:
    # One fixed width (milliseconds, Z) so that the latest signing time is also the greatest string.
    return str(format_timestamp(moment))
