"""The contract as two services answer it: autentique-service issues it, backoffice-api shows it merged with
what its events said. One definition, so that the two answers cannot drift apart; each service adds only the
fields it alone knows (autentique-service its signers' links, backoffice-api the signers' progress)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

#: autentique-service's lifecycle (``creating`` until Autentique holds the document; ``cancelling``: an
#: operator's cancel is recorded and Autentique has not confirmed it yet, a retry finishes it); ``pending`` is
#: backoffice-api's, for a contract it knows from autentique-service's answer before any event said more.
ContractStatus = Literal["pending", "creating", "sent", "signed", "refused", "cancelling", "cancelled"]
SignerStatus = Literal["pending", "viewed", "signed", "refused"]


class ContractPublic(BaseModel):
    contract_id: str
    deal_id: str
    lead_id: str | None
    company_id: str
    document_id: str | None
    status: ContractStatus
    #: Always set by autentique-service; null in backoffice-api for a contract known from that answer
    #: alone, before its ``contract.created`` (which carries the value) arrived.
    value: float | None
    currency: str | None
