"""Autentique shapes: the GraphQL field map, createDocument input rules, API objects, webhook resources.

API objects follow the introspected schema and fixtures cited in /work/shared/reference/autentique.md §2
(`link` null unless the signer is notified by nobody; `action { name }`; `viewed/signed/rejected` as Event
objects). Webhook resources follow §4-§5: `action` as a label (`"Sign"`), timestamps instead of Event
objects, `events[]`, `document` as the id, counts and `files` on documents.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request
from starlette.datastructures import UploadFile

from fakes.graphql_lite import Field, Schema

if TYPE_CHECKING:
    from fakes.autentique import Document, Signer

__all__ = [
    "SCHEMA",
    "UploadedFile",
    "action_label",
    "check_create_document",
    "document_api",
    "document_resource",
    "read_graphql_request",
    "signature_resource",
    "validation_error",
]


def _scalars(*names: str) -> dict[str, str | None]:
    return dict.fromkeys(names)


SCHEMA: Schema = {
    "Query": {"document": "Document", "documents": "DocumentPagination"},
    "Mutation": {
        "createDocument": "Document",
        "updateDocument": "Document",
        "deleteDocument": None,
        "resendSignatures": None,
    },
    "DocumentPagination": {
        "data": "Document",
        **_scalars("total", "per_page", "current_page", "last_page", "from", "to", "has_more_pages"),
    },
    "Document": {
        **_scalars(
            "id",
            "name",
            "refusable",
            "stop_on_rejected",
            "qualified",
            "ignore_cpf",
            "ignore_birthdate",
            "sortable",
            "sandbox",
            "scrolling_required",
            "created_at",
            "deleted_at",
            "deadline_at",
            "updated_at",
            "expiration_at",
            "reminder",
            "message",
            "footer",
            "cc",
            "reply_to",
            "signatures_count",
            "signed_count",
            "rejected_count",
            "is_from_api",
            "new_signature_style",
            "show_audit_page",
            "whatsapp_template",
            "email_template_id",
        ),
        "signatures": "Signature",
        "author": "Author",
        "files": "File",
        "hashes": "Hash",
    },
    "Signature": {
        **_scalars("public_id", "name", "email", "delivery_method", "type", "created_at", "updated_at"),
        "action": "Action",
        "link": "Link",
        "viewed": "Event",
        "signed": "Event",
        "rejected": "Event",
        "user": "User",
        "email_events": "EmailEvent",
    },
    "Action": _scalars("name"),
    "Link": _scalars("id", "short_link"),
    "Event": {**_scalars("ip", "port", "reason", "created_at"), "geolocation": "Geolocation"},
    "Geolocation": _scalars(
        "country", "countryISO", "state", "stateISO", "city", "zipcode", "latitude", "longitude"
    ),
    "User": _scalars("id", "name", "email", "phone", "cpf"),
    "Author": _scalars("id", "organization_id", "name", "email", "company"),
    "File": _scalars("original", "signed", "certified", "pades"),
    "Hash": _scalars("md5", "sha1", "sha2"),
    "EmailEvent": _scalars("sent", "opened", "delivered", "refused", "reason"),
}

_GEO = {
    "country": "Brazil",
    "countryISO": "BR",
    "state": "São Paulo",
    "stateISO": "SP",
    "city": "São Paulo",
    "zipcode": "01310",
    "latitude": -23.5614,
    "longitude": -46.6559,
}


def action_label(action: str) -> str:
    """`SIGN_AS_A_WITNESS` → `Sign as a witness`; the reference only shows `Sign`, the rest is a guess."""
    return action.replace("_", " ").capitalize()


def _files(doc: Document) -> dict[str, Any]:
    base = f"https://api.autentique.com.br/documentos/{doc.id}"
    return {
        "original": f"https://storage.googleapis.com/fake-autentique/{doc.id}/original.pdf",
        "signed": f"{base}/assinado.pdf" if doc.finished else None,
        "certified": f"{base}/certificado.pdf" if doc.finished else None,
        "pades": f"{base}/pades.pdf" if doc.finished else None,
    }


def _event(at: str | None, reason: str | None = None) -> dict[str, Any] | None:
    if at is None:
        return None
    return {"ip": "203.0.113.45", "port": 51234, "reason": reason, "created_at": at, "geolocation": _GEO}


def _signature_api(signer: Signer) -> dict[str, Any]:
    return {
        "public_id": signer.public_id,
        "name": signer.name,
        "email": signer.email,
        "delivery_method": signer.delivery_method or ("DELIVERY_METHOD_EMAIL" if signer.email else None),
        "type": "STANDARD",
        "created_at": signer.created_at,
        "updated_at": signer.signed_at or signer.rejected_at or signer.created_at,
        "action": {"name": signer.action},
        "link": {"id": signer.short_link.rsplit("/", 1)[-1], "short_link": signer.short_link}
        if signer.link_visible
        else None,
        "viewed": _event(signer.viewed_at),
        "signed": _event(signer.signed_at),
        "rejected": _event(signer.rejected_at, signer.reject_reason),
        "user": {
            "id": signer.public_id.replace("-", "") + "00000000",
            "name": signer.name,
            "email": signer.email,
            "phone": signer.phone,
            "cpf": None,
        }
        if signer.email
        else None,
        "email_events": None,
    }


def _counts(doc: Document) -> dict[str, int]:
    signers = [s for s in doc.signers if not s.is_author]
    return {
        "signatures_count": len(signers),
        "signed_count": sum(1 for s in signers if s.signed_at),
        "rejected_count": sum(1 for s in signers if s.rejected_at),
    }


def document_api(doc: Document, author_name: str, author_email: str) -> dict[str, Any]:
    return {
        "id": doc.id,
        "name": doc.name,
        "refusable": doc.refusable,
        "stop_on_rejected": doc.stop_on_rejected,
        "qualified": False,
        "ignore_cpf": False,
        "ignore_birthdate": False,
        "sortable": doc.sortable,
        "sandbox": doc.sandbox,
        "scrolling_required": False,
        "created_at": doc.created_at,
        "deleted_at": doc.deleted_at,
        "deadline_at": doc.deadline_at,
        "updated_at": doc.updated_at,
        "expiration_at": None,
        "reminder": doc.reminder,
        "message": doc.message,
        "footer": None,
        "cc": [],
        "reply_to": None,
        **_counts(doc),
        "is_from_api": True,
        "new_signature_style": False,
        "show_audit_page": True,
        "whatsapp_template": None,
        "email_template_id": None,
        "signatures": [_signature_api(s) for s in doc.signers],
        "author": {
            "id": "0" * 40,
            "organization_id": 4821,
            "name": author_name,
            "email": author_email,
            "company": author_name,
        },
        "files": _files(doc),
        "hashes": {"md5": None, "sha1": None, "sha2": doc.file_sha256},
    }


def signature_resource(doc: Document, signer: Signer) -> dict[str, Any]:
    events = []
    for kind, at in (
        ("viewed", signer.viewed_at),
        ("signed", signer.signed_at),
        ("rejected", signer.rejected_at),
    ):
        if at is not None:
            event: dict[str, Any] = {"type": kind, "document": doc.id, "ip": "203.0.113.45", "port": 51234}
            if kind != "viewed":
                event.update(geolocation=_GEO, reason=signer.reject_reason if kind == "rejected" else None)
            event["created_at"] = at
            events.append(event)
    return {
        "public_id": signer.public_id,
        "object": "signature",
        "user": {"name": signer.name, "email": signer.email, "cpf": None},
        "document": doc.id,
        "action": action_label(signer.action),
        "viewed": signer.viewed_at,
        "signed": signer.signed_at,
        "rejected": signer.rejected_at,
        "events": events,
        "created_at": signer.created_at,
    }


def document_resource(doc: Document, author_name: str, author_email: str) -> dict[str, Any]:
    signatures = []
    for signer in doc.signers:
        if signer.is_author:
            continue
        signatures.append(
            {
                "public_id": signer.public_id,
                "object": "signature",
                "document": doc.id,
                "user": {"name": signer.name, "email": signer.email},
                "action": action_label(signer.action),
                "viewed": signer.viewed_at,
                "signed": signer.signed_at,
                "rejected": signer.rejected_at,
                "created_at": signer.created_at,
            }
        )
    return {
        "id": doc.id,
        "object": "document",
        "name": doc.name,
        "refusable": doc.refusable,
        "sortable": doc.sortable,
        "sandbox": doc.sandbox,
        "author": {"name": author_name, "email": author_email, "cpf": None},
        "signatures": signatures,
        **_counts(doc),
        "files": _files(doc),
        "created_at": doc.created_at,
        "updated_at": doc.updated_at,
        "deleted_at": doc.deleted_at,
        "deadline_at": doc.deadline_at,
    }


ACTIONS = {
    "SIGN",
    "APPROVE",
    "RECOGNIZE",
    "SIGN_AS_A_WITNESS",
    "ACKNOWLEDGE_RECEIPT",
    "ENDORSE_IN_BLACK",
    "ENDORSE_IN_WHITE",
    "SIGN_AS_PART",
    "SIGN_AS_INTERVENER",
}
DELIVERY_METHODS = {
    "DELIVERY_METHOD_EMAIL",
    "DELIVERY_METHOD_WHATSAPP",
    "DELIVERY_METHOD_SMS",
    "DELIVERY_METHOD_LINK",
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    content: bytes


def validation_error(path: str, rules: dict[str, list[str]], f: Field) -> dict[str, Any]:
    return {
        "message": "validation",
        "locations": [{"line": f.line, "column": f.column}],
        "path": [path],
        "extensions": {"validation": rules, "category": "validation"},
    }


def check_create_document(args: dict[str, Any]) -> dict[str, list[str]]:
    rules: dict[str, list[str]] = {}
    document = args.get("document") if isinstance(args.get("document"), dict) else {}
    name = document.get("name") if isinstance(document, dict) else None
    if not isinstance(name, str) or not name.strip():
        rules["document.name"] = ["field_required"]
    signers = args.get("signers")
    if not isinstance(signers, list) or not signers:
        rules["signers"] = ["field_required"]
    for i, signer in enumerate(signers if isinstance(signers, list) else []):
        if not isinstance(signer, dict) or signer.get("action") not in ACTIONS:
            rules[f"signers.{i}.action"] = ["field_required"]
            continue
        if signer.get("email") is not None and not _EMAIL.match(str(signer["email"])):
            rules[f"signers.{i}.email"] = ["must_be_a_valid_email_address"]
        if not any(signer.get(k) for k in ("email", "phone", "name")):
            rules[f"signers.{i}.name"] = ["field_required"]
        if signer.get("delivery_method") not in (None, *DELIVERY_METHODS):
            rules[f"signers.{i}.delivery_method"] = ["format_is_invalid"]
        if signer.get("phone") and signer.get("delivery_method") in (None, "DELIVERY_METHOD_EMAIL"):
            rules[f"signers.{i}.delivery_method"] = ["field_required"]
    if not isinstance(args.get("file"), UploadedFile):
        rules["file"] = ["must_be_a_file"]
    return rules


async def read_graphql_request(request: Request) -> tuple[str, dict[str, Any], str | None]:
    """(query, variables, operationName) from a JSON body or a GraphQL multipart request."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        # The context manager closes the spooled upload files once read.
        async with request.form() as form:
            operations = json.loads(str(form["operations"]))
            mapping: dict[str, list[str]] = json.loads(str(form.get("map", "{}")))
            uploads: dict[str, UploadedFile] = {}
            for part in mapping:
                upload = form.get(part)
                if isinstance(upload, UploadFile):
                    content = await upload.read()
                    uploads[part] = UploadedFile(upload.filename or part, upload.content_type or "", content)
        for part, paths in mapping.items():
            if part not in uploads:
                continue
            for path in paths:
                target: Any = operations
                *parents, last = path.split(".")
                for step in parents:
                    target = target[int(step)] if isinstance(target, list) else target.setdefault(step, {})
                target[int(last) if isinstance(target, list) else last] = uploads[part]
    else:
        operations = json.loads(await request.body())
    return (
        str(operations.get("query", "")),
        dict(operations.get("variables") or {}),
        operations.get("operationName"),
    )
