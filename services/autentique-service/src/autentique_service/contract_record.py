"""One contract as read from its hash (``contracts.py`` describes the fields): what we were asked, what
Autentique answered, each signer's progress, and the status and public answer that follow from them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from servicekit.contracts import ContractStatus, SignerStatus

from autentique_service.models import ContractPublic, SignerPublic, StoredSigner


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class Contract:
    contract_id: str
    deal_id: str
    lead_id: str | None
    company_id: str
    value: float
    currency: str
    created_at: str
    signers: list[StoredSigner]
    document_id: str | None = None
    attempts: int = 0
    created_event_id: str | None = None
    signed_event_id: str | None = None
    finished: bool = False
    finished_at: str | None = None
    signed_at: str | None = None
    refused_at: str | None = None
    #: Re-issues: the contract this one replaces, the one that replaced it, when its document was cancelled.
    replaces: str | None = None
    superseded_by: str | None = None
    cancelled_at: str | None = None
    #: An operator asked to cancel it (routes' cancel); from then on it can no longer become signed.
    cancel_requested_at: str | None = None
    #: The thread the contract's events continue (the lead's) and contract.created's cause.
    correlation_id: str | None = None
    causation_id: str | None = None
    progress: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_hash(cls, raw: Mapping[bytes | str, bytes | str]) -> Contract:
        h = {text(k): text(v) for k, v in raw.items()}
        return cls(
            contract_id=h["contract_id"],
            deal_id=h["deal_id"],
            lead_id=h.get("lead_id") or None,
            company_id=h["company_id"],
            value=float(h["value"]),
            currency=h["currency"],
            created_at=h["created_at"],
            signers=[StoredSigner.model_validate(s) for s in json.loads(h["signers"])],
            document_id=h.get("document_id"),
            attempts=int(h.get("attempts", "0")),
            created_event_id=h.get("created_event_id"),
            signed_event_id=h.get("signed_event_id"),
            finished=h.get("finished") == "1",
            finished_at=h.get("finished_at"),
            signed_at=h.get("signed_at"),
            refused_at=h.get("refused_at"),
            replaces=h.get("replaces") or None,
            superseded_by=h.get("superseded_by") or None,
            cancelled_at=h.get("cancelled_at"),
            cancel_requested_at=h.get("cancel_requested_at") or None,
            correlation_id=h.get("correlation_id") or None,
            causation_id=h.get("causation_id") or None,
            progress={k: v for k, v in h.items() if k.startswith(("s:", "pid:"))},
        )

    def signer_index(self, public_id: str) -> int | None:
        index = self.progress.get(f"pid:{public_id}")
        return int(index) if index is not None else None

    def signer_moment(self, index: int, what: str) -> str | None:
        return self.progress.get(f"s:{index}:{what}")

    def signer_status(self, index: int) -> SignerStatus:
        if self.signer_moment(index, "signed") or (self.finished and self.signed_at):
            return "signed"
        if self.signer_moment(index, "rejected"):
            return "refused"
        if self.signer_moment(index, "viewed"):
            return "viewed"
        return "pending"

    @property
    def all_signed(self) -> bool:
        return self.finished or all(self.signer_moment(i, "signed") for i in range(len(self.signers)))

    @property
    def withdrawn(self) -> bool:
        """Replaced by a re-issue or cancelled by an operator: it may never become ``contract.signed``."""
        return self.superseded_by is not None or self.cancel_requested_at is not None

    @property
    def status(self) -> ContractStatus:
        if self.document_id is None:
            return "creating"
        if self.cancel_requested_at is not None:
            return "cancelled" if self.cancelled_at is not None else "cancelling"
        if self.signed_at is not None:
            return "signed"
        if self.refused_at is not None:
            return "refused"
        return "sent"

    def public(self) -> ContractPublic:
        return ContractPublic(
            contract_id=self.contract_id,
            deal_id=self.deal_id,
            lead_id=self.lead_id,
            company_id=self.company_id,
            document_id=self.document_id,
            status=self.status,
            value=self.value,
            currency=self.currency,
            signers=[
                SignerPublic(
                    name=s.name,
                    email=s.email,
                    phone=s.phone,
                    status=self.signer_status(i),
                    signed_at=self.signer_moment(i, "signed") or (self.signed_at if self.finished else None),
                    link=s.link if s.delivery == "link" else None,
                )
                for i, s in enumerate(self.signers)
            ],
            created_at=self.created_at,
        )
