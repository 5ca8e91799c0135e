"""Fake Autentique API v2 (GraphQL e-signature) with signed webhooks.

Mimics, per /work/shared/reference/autentique.md:
- `POST /v2/graphql` with `Authorization: Bearer <token>`; bad/missing token → HTTP 401 (§1, §3);
- `createDocument` over the GraphQL multipart request spec (`operations`/`map`/file part), its
  `DocumentInput`/`SignerInput` rules, response shape (50-hex `id`, `link` only for link signers)
  (§2, samples);
- `document(id:)` / `document(public_id:)` and `documents(...)` pagination, the "look it up before creating
  again" queries (§2 "Reconciliation", Query type of the introspected schema);
- GraphQL errors as HTTP 200 + `errors` (`document_not_found`, `validation` with
  `extensions.validation`) (§3);
- webhooks: envelope, `signature.accepted` / `signature.rejected` / `signature.viewed` / `document.finished`,
  `X-Autentique-Signature` = hex HMAC-SHA256(secret, raw body), retries after 60/120/300 s (§4, §5).
The 401/429 bodies are unconfirmed in the reference; Laravel's defaults are used.

Control routes: `/_fake/requests`, `/_fake/reset`, `/_fake/fail`, `/_fake/recover`, `/_fake/deliveries`,
`GET /_fake/documents`, `POST /_fake/documents/{id}/sign|refuse|view` (`{"signer": index|email|public_id}`),
`POST /_fake/webhook` (`{url, secret, ...}`), `POST /_fake/timeout-after-create` (`{seconds?, count?}`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fakes.autentique_schema import (
    SCHEMA,
    UploadedFile,
    check_create_document,
    document_api,
    document_resource,
    read_graphql_request,
    signature_resource,
    validation_error,
)
from fakes.control import (
    RESPONSE_DIRECTIVE,
    Delivery,
    Failure,
    FakeControlMiddleware,
    WebhookingState,
    control_router,
    deliver_with_retries,
)
from fakes.graphql_lite import Field, GraphQLError, Operation, parse, project, validate

__all__ = [
    "DEFAULT_API_TOKEN",
    "GRAPHQL_PATH",
    "AutentiqueState",
    "Document",
    "Signer",
    "WebhookEndpoint",
    "create_app",
    "sign_webhook_body",
]

DEFAULT_API_TOKEN = "fake-autentique-token"  # noqa: S105 - a fake's placeholder, not a secret
GRAPHQL_PATH = "/v2/graphql"
RETRY_DELAYS = (60.0, 120.0, 300.0)


def _stamp(moment: datetime | None = None, *, micro: bool = False) -> str:
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + (f"{moment.microsecond:06d}" if micro else "000000") + "Z"


def sign_webhook_body(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@dataclass
class Signer:
    action: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    delivery_method: str | None = None
    public_id: str = field(default_factory=lambda: str(uuid.uuid1(node=secrets.randbits(48))))
    # Every signer has a signing URL; the API only shows it (`link`) for signers nobody notifies.
    short_link: str = field(default_factory=lambda: "https://assina.ae/" + secrets.token_urlsafe(12))
    created_at: str = field(default_factory=_stamp)
    viewed_at: str | None = None
    signed_at: str | None = None
    rejected_at: str | None = None
    reject_reason: str | None = None
    is_author: bool = False

    @property
    def link_visible(self) -> bool:
        return self.email is None and self.phone is None


@dataclass
class Document:
    name: str
    signers: list[Signer]
    file_name: str = "document.pdf"
    file_size: int = 0
    file_sha256: str = ""
    message: str | None = None
    refusable: bool = False
    sortable: bool = False
    stop_on_rejected: bool = True
    reminder: str | None = None
    deadline_at: str | None = None
    sandbox: bool = False
    id: str = field(default_factory=lambda: secrets.token_hex(25))
    created_at: str = field(default_factory=_stamp)
    updated_at: str = field(default_factory=_stamp)
    deleted_at: str | None = None

    @property
    def finished(self) -> bool:
        return all(s.signed_at is not None for s in self.signers if not s.is_author)

    @property
    def signable(self) -> bool:
        # Reference §5: a deadline in the past blocks signing; a delete alone does not (the link still signs).
        if self.deadline_at is None:
            return True
        return datetime.fromisoformat(self.deadline_at.replace("Z", "+00:00")) > datetime.now(UTC)


@dataclass
class WebhookEndpoint:
    url: str
    secret: str
    name: str = "fake-endpoint"
    endpoint_id: int = 4821
    # None = all event types.
    events: set[str] | None = None
    # The docs' `document.updated` example nests the resource in `data.object` (reference §4).
    data_placement: Literal["data", "data.object"] = "data"
    # Autentique may deliver the same event twice (reference §4); receivers must dedupe on event.id.
    duplicate: bool = False


@dataclass
class AutentiqueState(WebhookingState):
    api_token: str = DEFAULT_API_TOKEN
    organization_id: int = 4821
    author_name: str = "Loja Exemplo Ltda"
    author_email: str = "contratos@example.com"
    webhook: WebhookEndpoint | None = None
    documents: dict[str, Document] = field(default_factory=dict)
    # Unconfirmed in the reference whether the author is listed: switch on to test matching by email.
    list_author_signature: bool = False
    create_faults: list[Failure] = field(default_factory=list)
    # Seconds a new document stays out of `documents(...)` listings: how soon a listing shows a document is
    # unconfirmed (reference §7), so clients must not read "not listed" as "not created".
    listing_lag_seconds: float = 0.0
    listed_at: dict[str, float] = field(default_factory=dict)
    #: Every mutation that changed something, in order: (mutation name, document id or signature public id),
    #: so that a test can tell a cancel or a reminder reached Autentique exactly once.
    mutations: list[tuple[str, str]] = field(default_factory=list)
    #: Reference §6/§9: a signature resent less than this many seconds ago is skipped, and
    #: `resendSignatures` fails with `too_many_resent_emails` when every id asked for is cooling down.
    resend_cooldown_seconds: float = 300.0
    resent_at: dict[str, float] = field(default_factory=dict)

    def reset(self) -> None:
        super().reset()
        self.documents.clear()
        self.create_faults.clear()
        self.mutations.clear()
        self.resent_at.clear()

    def resend(self, public_ids: list[str]) -> str | None:
        """`resendSignatures`: the error code, or None when at least one signature was resent."""
        signers = {s.public_id: (d, s) for d in self.documents.values() for s in d.signers}
        if not public_ids or any(p not in signers for p in public_ids):
            return "signature_not_found"
        now = time.monotonic()
        due = [p for p in public_ids if now - self.resent_at.get(p, -1e18) >= self.resend_cooldown_seconds]
        if not due:
            return "too_many_resent_emails"
        for public_id in due:
            self.resent_at[public_id] = now
            self.mutations.append(("resendSignatures", public_id))
        return None

    def timeout_after_create(self, seconds: float | None = None, count: int = 1) -> None:
        """Next `count` createDocument calls store the document, then answer after `seconds` (or, with
        None, cut the connection): the client cannot tell whether it was created."""
        for _ in range(count):
            self.create_faults.append(
                Failure("drop") if seconds is None else Failure("late", seconds=seconds)
            )

    def find_signer(self, document_id: str, signer: int | str) -> tuple[Document, Signer]:
        doc = self.documents[document_id]
        if isinstance(signer, int):
            return doc, [s for s in doc.signers if not s.is_author][signer]
        for candidate in doc.signers:
            if signer in (candidate.email, candidate.public_id, candidate.name, candidate.phone):
                return doc, candidate
        raise KeyError(f"no signer {signer!r} in document {document_id}")

    async def view(self, document_id: str, signer: int | str) -> list[Delivery]:
        doc, who = self.find_signer(document_id, signer)
        who.viewed_at = who.viewed_at or _stamp()
        return await self.emit("signature.viewed", signature_resource(doc, who), [])

    async def sign(self, document_id: str, signer: int | str) -> list[Delivery]:
        doc, who = self.find_signer(document_id, signer)
        if who.rejected_at is not None or who.signed_at is not None:
            raise ValueError("document_signed")
        if not doc.signable:
            raise ValueError("document_expired")
        now = _stamp()
        who.viewed_at, who.signed_at, doc.updated_at = who.viewed_at or now, now, now
        sent = await self.emit("signature.accepted", signature_resource(doc, who), [])
        if doc.finished:
            signed = sum(1 for s in doc.signers if s.signed_at and not s.is_author)
            resource = document_resource(doc, self.author_name, self.author_email)
            sent += await self.emit("document.finished", resource, {"signed_count": signed - 1})
        return sent

    async def refuse(self, document_id: str, signer: int | str, reason: str = "Recusado") -> list[Delivery]:
        doc, who = self.find_signer(document_id, signer)
        if not doc.refusable:
            raise ValueError("document is not refusable")
        if who.signed_at is not None:
            raise ValueError("document_signed")
        now = _stamp()
        who.viewed_at, who.rejected_at, who.reject_reason, doc.updated_at = (
            who.viewed_at or now,
            now,
            reason,
            now,
        )
        return await self.emit("signature.rejected", signature_resource(doc, who), [])

    async def emit(self, event_type: str, resource: dict[str, Any], previous: Any) -> list[Delivery]:
        hook = self.webhook
        if hook is None or (hook.events is not None and event_type not in hook.events):
            return []
        event_id = str(uuid.uuid4())
        envelope = {
            "id": base64.b64encode(f"{hook.endpoint_id}|{event_id}".encode()).decode("ascii"),
            "object": "webhook",
            "name": hook.name,
            "format": "json",
            "url": hook.url,
            "event": {
                "id": event_id,
                "object": "event",
                "organization": self.organization_id,
                "type": event_type,
                "data": {"object": resource} if hook.data_placement == "data.object" else resource,
                "previous_attributes": previous,
                "created_at": _stamp(micro=True),
            },
        }
        # Serialize once, sign those bytes, send those bytes (reference §5 "How a fake signs").
        body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "X-Autentique-Signature": sign_webhook_body(body, hook.secret),
        }
        out = []
        for _ in range(2 if hook.duplicate else 1):
            delivery = Delivery(url=hook.url, event=event_type, body=body, headers=headers)
            self.deliveries.append(delivery)
            out.append(
                await deliver_with_retries(
                    delivery,
                    delays=[d * self.retry_delay_scale for d in RETRY_DELAYS],
                    transport=self.webhook_transport,
                )
            )
        return out


def _render_failure(failure: Failure) -> tuple[int, Any, dict[str, str]]:
    status = failure.status or 500
    messages = {401: "Unauthenticated.", 429: "Too Many Attempts.", 500: "Server Error"}
    headers = {"X-Attq-Request-Id": str(uuid.uuid4())}
    if failure.retry_after is not None:
        headers["Retry-After"] = str(failure.retry_after)
    return status, {"message": messages.get(status, HTTPStatus(status).phrase)}, headers


def create_app(state: AutentiqueState | None = None) -> FastAPI:
    fake = state if state is not None else AutentiqueState()
    app = FastAPI(title="Fake Autentique API", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fake = fake
    app.add_middleware(FakeControlMiddleware, state=fake, render_error=_render_failure)
    app.include_router(control_router(fake))

    def create_document(args: dict[str, Any], request: Request) -> Document:
        upload: UploadedFile = args["file"]
        given = args["document"]
        signers = [
            Signer(s["action"], s.get("name"), s.get("email"), s.get("phone"), s.get("delivery_method"))
            for s in args["signers"]
        ]
        if fake.list_author_signature:
            signers.insert(0, Signer("SIGN", fake.author_name, fake.author_email, is_author=True))
        doc = Document(
            name=given["name"],
            signers=signers,
            file_name=upload.filename,
            file_size=len(upload.content),
            file_sha256=hashlib.sha256(upload.content).hexdigest(),
            message=given.get("message"),
            refusable=bool(given.get("refusable", False)),
            sortable=bool(given.get("sortable", False)),
            stop_on_rejected=bool(given.get("stop_on_rejected", True)),
            reminder=given.get("reminder"),
            deadline_at=given.get("deadline_at"),
            sandbox=bool(args.get("sandbox") or False),
        )
        fake.documents[doc.id] = doc
        fake.listed_at[doc.id] = time.time()
        if fake.create_faults:
            request.scope[RESPONSE_DIRECTIVE] = fake.create_faults.pop(0)
        return doc

    def run_field(f: Field, op: Operation, variables: dict[str, Any], request: Request) -> tuple[Any, Any]:
        """(data for the field, error dict or None)."""
        args = f.arguments(variables)

        def api(doc: Document) -> dict[str, Any]:
            return document_api(doc, fake.author_name, fake.author_email)

        if f.name == "createDocument":
            rules = check_create_document(args)
            if rules:
                return None, validation_error(f.key, rules, f)
            return api(create_document(args, request)), None
        if f.name == "document":
            doc = fake.documents.get(str(args.get("id")))
            if doc is None and args.get("public_id"):
                doc = next(
                    (
                        d
                        for d in fake.documents.values()
                        if any(s.public_id == args["public_id"] for s in d.signers)
                    ),
                    None,
                )
            if doc is None or doc.deleted_at is not None:
                error = {
                    "message": "document_not_found",
                    "locations": [{"line": f.line, "column": f.column}],
                    "path": [f.key],
                }
                return None, error
            return api(doc), None
        if f.name == "documents":
            limit, page = int(args.get("limit") or 60), int(args.get("page") or 1)
            listed_before = time.time() - fake.listing_lag_seconds
            docs = [
                d
                for d in reversed(fake.documents.values())
                if d.deleted_at is None and fake.listed_at.get(d.id, 0.0) <= listed_before
            ]
            for key in ("name", "search"):
                if args.get(key):
                    docs = [d for d in docs if str(args[key]).lower() in d.name.lower()]
            if args.get("signer"):
                needle = str(args["signer"]).lower()
                docs = [
                    d
                    for d in docs
                    if any(needle in (s.email or s.name or s.phone or "").lower() for s in d.signers)
                ]
            chunk = docs[(page - 1) * limit : page * limit]
            first = (page - 1) * limit + 1 if chunk else None
            return {
                "data": [api(d) for d in chunk],
                "total": len(docs),
                "per_page": limit,
                "current_page": page,
                "last_page": max(1, -(-len(docs) // limit)),
                "from": first,
                "to": first + len(chunk) - 1 if first else None,
                "has_more_pages": page * limit < len(docs),
            }, None
        if f.name == "resendSignatures":
            code = fake.resend([str(p) for p in args.get("public_ids") or []])
            return (None, {"message": code, "path": [f.key]}) if code else (True, None)
        doc = fake.documents.get(str(args.get("id")))
        if doc is None or (f.name == "deleteDocument" and doc.deleted_at is not None):
            return None, {"message": "document_not_found", "path": [f.key]}
        if f.name == "updateDocument":
            # Reference §5: moving `deadline_at` to now is what stops further signing.
            changes = args.get("document") or {}
            if "deadline_at" in changes:
                doc.deadline_at = changes["deadline_at"]
            doc.updated_at = _stamp()
            fake.mutations.append(("updateDocument", doc.id))
            return api(doc), None
        doc.deleted_at = _stamp()
        fake.mutations.append(("deleteDocument", doc.id))
        # Reference §9: the fake announces the delete (whether Autentique does is unconfirmed, §10).
        fake.spawn(
            fake.emit("document.deleted", document_resource(doc, fake.author_name, fake.author_email), [])
        )
        return True, None

    @app.post(GRAPHQL_PATH, response_model=None)
    async def graphql(request: Request) -> JSONResponse:
        request_id = {"X-Attq-Request-Id": str(uuid.uuid4())}
        if request.headers.get("authorization", "") != f"Bearer {fake.api_token}":
            return JSONResponse({"message": "Unauthenticated."}, status_code=401, headers=request_id)
        try:
            query, variables, operation_name = await read_graphql_request(request)
            op = parse(query, operation_name)
            root = "Mutation" if op.kind == "mutation" else "Query"
            validate(op, root, SCHEMA)
        except GraphQLError as exc:
            return JSONResponse({"errors": [exc.to_dict()]}, headers=request_id)
        except (ValueError, KeyError, TypeError):
            error = GraphQLError("Syntax Error: Unexpected <EOF>").to_dict()
            return JSONResponse({"errors": [error]}, headers=request_id)
        variables = {**op.variable_defaults, **variables}
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for f in op.selections:
            if not isinstance(f, Field):
                continue
            value, error = run_field(f, op, variables, request)
            child = SCHEMA[root][f.name]
            data[f.key] = project(value, f.selections, child, op, SCHEMA) if child and f.selections else value
            if error is not None:
                errors.append(error)
        return JSONResponse(
            {"errors": errors, "data": data} if errors else {"data": data}, headers=request_id
        )

    @app.get("/_fake/documents")
    async def list_documents() -> list[dict[str, Any]]:
        return [document_api(d, fake.author_name, fake.author_email) for d in fake.documents.values()]

    @app.post("/_fake/documents/{document_id}/{action}", response_model=None)
    async def act(document_id: str, action: str, request: Request) -> JSONResponse:
        body = await request.json() if await request.body() else {}
        signer: int | str = body.get("signer", 0)
        try:
            if action == "sign":
                sent = await fake.sign(document_id, signer)
            elif action == "refuse":
                sent = await fake.refuse(document_id, signer, body.get("reason", "Recusado"))
            elif action == "view":
                sent = await fake.view(document_id, signer)
            else:
                return JSONResponse({"error": "action must be sign, refuse or view"}, status_code=404)
        except (KeyError, IndexError) as exc:
            return JSONResponse({"error": f"not found: {exc}"}, status_code=404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"deliveries": [d.to_dict() for d in sent]})

    @app.post("/_fake/webhook")
    async def set_webhook(request: Request) -> dict[str, Any]:
        body = await request.json()
        events = body.get("events")
        fake.webhook = WebhookEndpoint(
            url=body["url"],
            secret=body["secret"],
            name=body.get("name", "fake-endpoint"),
            events=set(events) if events else None,
            data_placement=body.get("data_placement", "data"),
            duplicate=bool(body.get("duplicate", False)),
        )
        return {"ok": True}

    @app.post("/_fake/timeout-after-create")
    async def timeout_after_create(request: Request) -> dict[str, Any]:
        body = await request.json() if await request.body() else {}
        fake.timeout_after_create(body.get("seconds"), int(body.get("count", 1)))
        return {"ok": True, "pending": len(fake.create_faults)}

    return app
