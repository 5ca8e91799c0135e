"""The fake Autentique API's GraphQL route (``fakes.autentique``'s docstring lists what it mimics) and its
control routes under ``/_fake``; the state they act on is ``request.app.state.fake``."""

from __future__ import annotations

import hashlib
import time
import uuid
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fakes.autentique_schema import (
    SCHEMA,
    UploadedFile,
    check_create_document,
    document_api,
    document_resource,
    read_graphql_request,
    validation_error,
)
from fakes.autentique_state import GRAPHQL_PATH, AutentiqueState, Document, Signer, WebhookEndpoint, stamp
from fakes.control import (
    RESPONSE_DIRECTIVE,
    Failure,
    state_of,
)
from fakes.graphql_lite import Field, GraphQLError, Operation, parse, project, validate

router = APIRouter()
#: Not part of the real API: driving the fake from a test or a demo.
control = APIRouter()


def render_failure(failure: Failure) -> tuple[int, Any, dict[str, str]]:
    status = failure.status or 500
    messages = {401: "Unauthenticated.", 429: "Too Many Attempts.", 500: "Server Error"}
    headers = {"X-Attq-Request-Id": str(uuid.uuid4())}
    if failure.retry_after is not None:
        headers["Retry-After"] = str(failure.retry_after)
    return status, {"message": messages.get(status, HTTPStatus(status).phrase)}, headers


def _create_document(args: dict[str, Any], request: Request) -> Document:
    fake = state_of(request, AutentiqueState)
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


def _run_field(f: Field, op: Operation, variables: dict[str, Any], request: Request) -> tuple[Any, Any]:
    """(data for the field, error dict or None)."""
    fake = state_of(request, AutentiqueState)
    args = f.arguments(variables)

    def api(doc: Document) -> dict[str, Any]:
        return document_api(doc, fake.author_name, fake.author_email)

    if f.name == "createDocument":
        rules = check_create_document(args)
        if rules:
            return None, validation_error(f.key, rules, f)
        return api(_create_document(args, request)), None
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
        doc.updated_at = stamp()
        fake.mutations.append(("updateDocument", doc.id))
        return api(doc), None
    doc.deleted_at = stamp()
    fake.mutations.append(("deleteDocument", doc.id))
    # Reference §9: the fake announces the delete (whether Autentique does is unconfirmed, §10).
    fake.spawn(fake.emit("document.deleted", document_resource(doc, fake.author_name, fake.author_email), []))
    return True, None


@router.post(GRAPHQL_PATH, response_model=None)
async def graphql(request: Request) -> JSONResponse:
    fake = state_of(request, AutentiqueState)
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
        value, error = _run_field(f, op, variables, request)
        child = SCHEMA[root][f.name]
        data[f.key] = project(value, f.selections, child, op, SCHEMA) if child and f.selections else value
        if error is not None:
            errors.append(error)
    return JSONResponse({"errors": errors, "data": data} if errors else {"data": data}, headers=request_id)


@control.get("/_fake/documents")
async def list_documents(request: Request) -> list[dict[str, Any]]:
    fake = state_of(request, AutentiqueState)
    return [document_api(d, fake.author_name, fake.author_email) for d in fake.documents.values()]


@control.post("/_fake/documents/{document_id}/{action}", response_model=None)
async def act(document_id: str, action: str, request: Request) -> JSONResponse:
    fake = state_of(request, AutentiqueState)
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


@control.post("/_fake/webhook")
async def set_webhook(request: Request) -> dict[str, Any]:
    fake = state_of(request, AutentiqueState)
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


@control.post("/_fake/timeout-after-create")
async def timeout_after_create(request: Request) -> dict[str, Any]:
    fake = state_of(request, AutentiqueState)
    body = await request.json() if await request.body() else {}
    fake.timeout_after_create(body.get("seconds"), int(body.get("count", 1)))
    return {"ok": True, "pending": len(fake.create_faults)}
