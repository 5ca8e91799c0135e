"""Re-issues: the contract a re-issue replaced has its document cancelled at Autentique.

Reference §5: there is no cancel mutation, and `deleteDocument` alone leaves the document signable through the
links already sent, so the deadline is moved to now first (`AutentiqueClient.cancel_document`). This runs once
the new document exists (a failed re-issue leaves the old document valid) and again on any later request for
the deal until it succeeds: an Autentique outage leaves the old document signable a while longer, but its
webhooks are already recorded and ignored from the moment the re-issue was reserved (tracking.py), so it
can never become `contract.signed`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from prometheus_client import Counter
from servicekit import UpstreamUnavailable
from servicekit.upstream import with_retries

from autentique_service.clients.autentique import AutentiqueClient
from autentique_service.contracts import Contract, Contracts

log = structlog.get_logger("autentique_service")

CANCELLATIONS = Counter(
    "autentique_document_cancellations_total",
    "Cancellations of a re-issued contract's old document at Autentique, by outcome (done, failed).",
    ["outcome"],
)


async def cancel_replaced(
    contract: Contract,
    *,
    contracts: Contracts,
    autentique: AutentiqueClient,
    attempts: int,
    initial_delay: float,
) -> None:
    """Cancel the document of the contract ``contract`` replaced, if that is still to do."""
    if contract.replaces is None or contract.document_id is None:
        return
    old = await contracts.get(contract.replaces)
    if old is None or old.document_id is None or old.cancelled_at is not None:
        return
    document_id = old.document_id
    now = _now()

    async def attempt() -> None:
        await autentique.cancel_document(old.company_id, document_id, now=now)

    try:
        await with_retries(attempt, attempts=attempts, initial=initial_delay)
    except UpstreamUnavailable as exc:
        # The new contract stands; the next request for the deal tries again.
        CANCELLATIONS.labels("failed").inc()
        log.warning("contract_document_cancel_failed", contract_id=old.contract_id, error=str(exc))
        return
    await contracts.mark(old.contract_id, "cancelled_at", now)
    CANCELLATIONS.labels("done").inc()
    log.info("contract_document_cancelled", contract_id=old.contract_id, replaced_by=contract.contract_id)


def _now() -> str:
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
