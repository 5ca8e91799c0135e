"""The Autentique GraphQL calls we make, no more (reference: shared/reference/autentique.md §2-§3).

Failures leave as servicekit's errors: UpstreamDown / UpstreamStatus (refused, circuit open, 429, 503:
nothing was created, retry), OutcomeUnknown (`createDocument` timed out, was cut, answered 5xx or
unreadably: look the document up, never create blindly), UpstreamUnavailable (the same failures of a query:
retry), UpstreamRejected (a refusal: bad token, no credits), DocumentRejected (Autentique's validation of
what we sent: the caller's data).
GraphQL reports errors with HTTP 200 and an `errors` list (§3), so a 200 is not yet a success.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr
from servicekit import UpstreamRejected, UpstreamUnavailable
from servicekit.outcomes import Answer, OutcomeUnknown, UpstreamDown
from servicekit.upstream import Breakers, UpstreamStatus, call

API = "autentique"

CREATE_DOCUMENT = (
    "mutation CreateDocument($document: DocumentInput!, $signers: [SignerInput!]!, $file: Upload!,"
    " $sandbox: Boolean) { createDocument(sandbox: $sandbox, document: $document, signers: $signers,"
    " file: $file) { id name created_at signatures { public_id name email action { name }"
    " link { short_link } } } }"
)
_DOCUMENT_FIELDS = (
    "id name created_at signatures { public_id name email action { name } link { short_link }"
    " viewed { created_at } signed { created_at } rejected { created_at reason } }"
)
FIND_DOCUMENTS = (
    "query FindDocuments($name: String, $sandbox: Boolean) { documents(name: $name, limit: 20, page: 1,"
    f" showSandbox: $sandbox) {{ data {{ {_DOCUMENT_FIELDS} }} }} }}"
)
# Reference §5: there is no "cancel". deleteDocument alone leaves a document signable through the links already
# sent, so the deadline is moved to now first, which blocks further signing.
CLOSE_DOCUMENT = (
    "mutation CloseDocument($id: UUID!, $deadline: String) {"
    " updateDocument(id: $id, document: {deadline_at: $deadline}) { id } }"
)
DELETE_DOCUMENT = "mutation DeleteDocument($id: UUID!) { deleteDocument(id: $id) }"
# Reference §6: resends the signing request to each signature not resent recently; fails with
# `too_many_resent_emails` only when every one of them was.
RESEND_SIGNATURES = "mutation ResendSignatures($ids: [UUID]) { resendSignatures(public_ids: $ids) }"
# Reference §6: `files.signed` is the signed PDF's URL (present before everyone signed: callers ask only once
# the contract is signed).
DOCUMENT_FILES = "query DocumentFiles($id: UUID!) { document(id: $id) { id files { original signed } } }"
DELIVERY_METHODS = {
    "email": "DELIVERY_METHOD_EMAIL",
    "whatsapp": "DELIVERY_METHOD_WHATSAPP",
    "link": "DELIVERY_METHOD_LINK",
}


class DocumentRejected(UpstreamRejected):
    """Autentique's validation refused the document: what we were asked to send is wrong (HTTP 422)."""


class ResentRecently(UpstreamRejected):
    """Every signature asked for was resent a short while ago (`too_many_resent_emails`): nothing was sent."""


@dataclass(frozen=True)
class SignerRequest:
    name: str
    email: str | None
    phone: str | None
    delivery: str

    def as_input(self) -> dict[str, Any]:
        # Reference §2: an e-mail sends by e-mail; a phone with WHATSAPP sends by WhatsApp; a name alone
        # sends nothing and the response carries the signer's link.
        signer: dict[str, Any] = {"action": "SIGN", "name": self.name}
        if self.delivery == "email":
            signer["email"] = self.email
        elif self.delivery == "whatsapp":
            signer.update(phone=self.phone, delivery_method=DELIVERY_METHODS["whatsapp"])
        return signer


@dataclass(frozen=True)
class Signature:
    public_id: str
    name: str | None
    email: str | None
    link: str | None
    viewed_at: str | None = None
    signed_at: str | None = None
    rejected_at: str | None = None

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> Signature:
        def moment(key: str) -> str | None:
            event = raw.get(key)
            return event.get("created_at") if isinstance(event, dict) else None

        link = raw.get("link")
        return cls(
            public_id=str(raw["public_id"]),
            name=raw.get("name"),
            email=raw.get("email"),
            link=link.get("short_link") if isinstance(link, dict) else None,
            viewed_at=moment("viewed"),
            signed_at=moment("signed"),
            rejected_at=moment("rejected"),
        )


@dataclass(frozen=True)
class Document:
    id: str
    name: str
    signatures: list[Signature] = field(default_factory=list)

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> Document:
        return cls(
            id=str(raw["id"]),
            name=str(raw.get("name") or ""),
            signatures=[Signature.from_api(s) for s in raw.get("signatures") or [] if s.get("public_id")],
        )


class AutentiqueClient:
    """One shared httpx client; the token and the circuit breaker are chosen per company (each company may
    sign with its own Autentique account, and one account's outage must not stall the others)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        url: str,
        token: SecretStr | None,
        company_tokens: dict[str, SecretStr],
        breakers: Breakers,
        timeout: float,
        sandbox: bool,
    ) -> None:
        self._http = http
        self._url = url
        self._token = token
        self._company_tokens = company_tokens
        self._breakers = breakers
        self._timeout = timeout
        self._sandbox = sandbox

    def _breaker_key(self, company_id: str) -> str:
        return f"autentique:{company_id}" if company_id in self._company_tokens else "autentique"

    async def create_document(
        self, company_id: str, *, name: str, message: str, signers: list[SignerRequest], pdf: bytes
    ) -> Document:
        """Not idempotent: a timeout may hide a created (and billed) document. Failures that prove nothing was
        created leave as they are (retry); every other one is an :class:`OutcomeUnknown` (look it up)."""
        operations = {
            "query": CREATE_DOCUMENT,
            "variables": {
                "sandbox": self._sandbox,
                "document": {"name": name, "message": message, "refusable": True},
                "signers": [s.as_input() for s in signers],
                "file": None,
            },
        }
        # GraphQL multipart request spec (reference §2): operations, map, then the file part.
        try:
            data = await self._graphql(
                company_id,
                data={"operations": json.dumps(operations), "map": json.dumps({"file": ["variables.file"]})},
                files={"file": ("contrato.pdf", pdf, "application/pdf")},
            )
        except (UpstreamDown, UpstreamStatus, UpstreamRejected, OutcomeUnknown):
            raise  # not sent (refused, circuit open, 429/503), refused, or already classified
        except UpstreamUnavailable as exc:  # our deadline, a 2xx without JSON: Autentique may have created it
            raise OutcomeUnknown(f"{API}: createDocument: {exc}", answer=Answer("no_answer")) from exc
        created = data.get("createDocument")
        if not isinstance(created, dict) or not created.get("id"):
            answer = Answer("unreadable_body", 200)
            raise OutcomeUnknown(f"{API}: createDocument answered without a document", answer=answer)
        return Document.from_api(created)

    async def find_document(self, company_id: str, name: str) -> Document | None:
        """The document named exactly ``name``, if Autentique has one (names carry our contract id)."""
        data = await self._graphql(
            company_id,
            idempotent=True,  # a query: retried like a read
            json={"query": FIND_DOCUMENTS, "variables": {"name": name, "sandbox": self._sandbox}},
        )
        page = data.get("documents") or {}
        for raw in page.get("data") or []:
            if isinstance(raw, dict) and raw.get("name") == name and raw.get("id"):
                return Document.from_api(raw)
        return None

    async def cancel_document(self, company_id: str, document_id: str, *, now: str) -> None:
        """Stop a document from being signed (deadline ``now``), then delete it. Both are safe to repeat: a
        document already gone (``document_not_found``) counts as cancelled."""
        for query, variables in (
            (CLOSE_DOCUMENT, {"id": document_id, "deadline": now}),
            (DELETE_DOCUMENT, {"id": document_id}),
        ):
            try:
                # Both mutations set a state (a deadline, a deletion): repeating one is harmless, so an
                # ambiguous answer is retried rather than recorded as unknown.
                await self._graphql(
                    company_id, idempotent=True, json={"query": query, "variables": variables}
                )
            except UpstreamRejected as exc:
                if "document_not_found" not in str(exc):
                    raise
                return

    async def resend_signatures(self, company_id: str, public_ids: list[str]) -> None:
        """Not idempotent (each call may message the signers again): the caller records the outcome.
        Failures that prove nothing went out leave as they are; every other one is an :class:`OutcomeUnknown`."""
        try:
            await self._graphql(
                company_id, json={"query": RESEND_SIGNATURES, "variables": {"ids": public_ids}}
            )
        except UpstreamRejected as exc:
            if "too_many_resent_emails" in str(exc):
                raise ResentRecently(f"{API}: every signer was reminded recently; try again later") from exc
            raise
        except (UpstreamDown, UpstreamStatus, OutcomeUnknown):
            raise
        except UpstreamUnavailable as exc:
            raise OutcomeUnknown(f"{API}: resendSignatures: {exc}", answer=Answer("no_answer")) from exc

    async def signed_file(self, company_id: str, document_id: str) -> str | None:
        """The URL of the document's signed PDF, as Autentique lists it now (None when it has none)."""
        data = await self._graphql(
            company_id,
            idempotent=True,  # a query: retried like a read
            json={"query": DOCUMENT_FILES, "variables": {"id": document_id}},
        )
        document = data.get("document") or {}
        files = document.get("files") if isinstance(document, dict) else None
        url = files.get("signed") if isinstance(files, dict) else None
        return url if isinstance(url, str) and url.startswith("https://") else None

    async def _graphql(self, company_id: str, **request: Any) -> dict[str, Any]:
        secret = self._company_tokens.get(company_id, self._token)
        # No token configured (development only: production refuses to start): Autentique answers 401.
        token = secret.get_secret_value() if secret is not None else ""

        async def attempt() -> httpx.Response:
            # httpx's timeouts bound each connect/read/write; this bounds the whole exchange (a server
            # that trickles its answer, or an in-process transport, which has no timeouts of its own).
            try:
                async with asyncio.timeout(self._timeout):
                    answer: httpx.Response = await call(
                        self._http,
                        "POST",
                        self._url,
                        api=API,
                        headers={"Authorization": f"Bearer {token}"},
                        **request,
                    )
            except TimeoutError as exc:
                raise UpstreamUnavailable(f"{API}: timed out after {self._timeout:g}s") from exc
            return answer

        response: httpx.Response = await self._breakers.call(self._breaker_key(company_id), attempt)
        try:
            body = response.json()
        except ValueError as exc:
            raise UpstreamUnavailable(f"{API}: answered HTTP {response.status_code} without JSON") from exc
        if not isinstance(body, dict):
            raise UpstreamUnavailable(f"{API}: unexpected answer")
        errors = body.get("errors")
        if errors:
            raise _graphql_error(errors)
        data = body.get("data")
        return data if isinstance(data, dict) else {}


#: Autentique's error codes (reference §3: `document_not_found`, `must_be_at_least_characters:3`, …).
_CODE = re.compile(r"^[a-z][a-z_]{0,60}(:\d{1,6})?$")


def _graphql_error(errors: list[Any]) -> UpstreamRejected:
    """Autentique's own codes are kept (they name the rule); any other message is free text, and GraphQL's
    echo the variables they refused (a signer's e-mail): those become a fixed phrase, never repeated."""
    first = errors[0] if isinstance(errors[0], dict) else {}
    message = str(first.get("message", "error"))
    validation = (first.get("extensions") or {}).get("validation")
    if message == "validation" and isinstance(validation, dict):
        details = "; ".join(
            f"{path}: {', '.join(str(c) if _CODE.match(str(c)) else 'invalid' for c in codes)}"
            for path, codes in validation.items()
        )
        return DocumentRejected(f"{API} refused the document: {details}")
    if message.lower() == "unauthorized":
        return UpstreamRejected(f"{API}: unauthorized (check the API token)")
    if _CODE.match(message):
        return UpstreamRejected(f"{API}: {message}")
    return UpstreamRejected(f"{API}: refused the request (GraphQL error)")
