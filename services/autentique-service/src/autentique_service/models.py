"""The internal API's bodies (service brief, "autentique-service internal API") and the stored contract."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from servicekit import contracts
from servicekit.contracts import SignerStatus

Delivery = Literal["email", "whatsapp", "link"]


class EventDetails(BaseModel):
    """The party the contract is about; every field is optional and rendered as "a definir" when absent."""

    model_config = ConfigDict(extra="ignore")

    type: str | None = Field(None, max_length=200)
    date: dt.date | None = None
    guests: int | None = Field(None, ge=0, le=1_000_000)
    location: str | None = Field(None, max_length=500)


class SignerCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    phone: str | None = Field(None, pattern=r"^\+[1-9][0-9]{6,14}$")
    delivery: Delivery

    @model_validator(mode="after")
    def _reachable(self) -> SignerCreate:
        # Autentique sends by e-mail when it has one and by WhatsApp when asked with a phone (reference §2).
        if self.delivery == "email" and self.email is None:
            raise ValueError("delivery 'email' needs an email")
        if self.delivery == "whatsapp" and self.phone is None:
            raise ValueError("delivery 'whatsapp' needs a phone")
        return self


class ContractCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    deal_id: str = Field(min_length=1, max_length=128)
    lead_id: str | None = Field(None, max_length=128)
    # Also names the company's template file: no path characters.
    company_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    value: float = Field(ge=0, le=1e12)
    currency: str = Field("BRL", pattern=r"^[A-Z]{3}$")
    event: EventDetails = Field(default_factory=EventDetails)
    signers: list[SignerCreate] = Field(min_length=1, max_length=20)
    reissue: bool = False
    #: Traceability (catalog): the lead's correlation id, which contract.created and contract.signed carry,
    #: and the event that caused the request (the lead's latest), contract.created's causation id. Without
    #: them the contract starts a thread of its own.
    correlation_id: str | None = Field(None, min_length=1, max_length=64)
    causation_id: str | None = Field(None, min_length=1, max_length=64)


class SignerPublic(BaseModel):
    name: str
    email: str | None
    phone: str | None
    status: SignerStatus
    signed_at: str | None
    #: Only for `delivery: "link"` signers, who get no message from Autentique: the caller delivers it.
    #: Never published on the bus (a link grants signing to whoever holds it).
    link: str | None = None


class ContractPublic(contracts.ContractPublic):
    """The shared answer (servicekit.contracts), as issued: value and currency always known."""

    value: float
    currency: str
    signers: list[SignerPublic]
    created_at: str


class StoredSigner(BaseModel):
    """A signer as we keep it: what we sent plus what Autentique calls it (`public_id`) and its link."""

    name: str
    email: str | None = None
    phone: str | None = None
    delivery: Delivery
    public_id: str | None = None
    link: str | None = None
