"""Routes: the internal contracts API (service token) and Autentique's webhooks (HMAC signature)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import SecretStr, ValidationError
from servicekit import NotFound, Unauthenticated
from servicekit.credentials import caller
from starlette.datastructures import UploadFile

from autentique_service import webhooks
from autentique_service.contracts import Contracts
from autentique_service.followups import FollowUps
from autentique_service.idempotency import HEADER, IdempotentRequests, Replayed, fingerprint
from autentique_service.issuing import Issued, Issuer
from autentique_service.models import ContractCreate, ContractPublic
from autentique_service.tracking import WEBHOOKS_REFUSED, Outcome, Tracker

router = APIRouter()


@dataclass(frozen=True)
class Ports:
    contracts: Contracts
    issuer: Issuer
    tracker: Tracker
    idempotency: IdempotentRequests
    #: An operator's follow-ups on a sent contract: cancel, remind, the signed file (followups_api.py).
    followups: FollowUps
    service_token: SecretStr | None
    webhook_secret: SecretStr | None
    company_webhook_secrets: dict[str, SecretStr]


async def get_ports(request: Request) -> Ports:
    # async: FastAPI runs a sync dependency in its thread pool, a thread hop on every request.
    ports: Ports = request.app.state.ports
    return ports


PortsDep = Annotated[Ports, Depends(get_ports)]


async def require_service_token(request: Request, ports: PortsDep) -> None:
    caller(request.headers.get("authorization"), {"backoffice-api": ports.service_token})


ServiceCaller = Depends(require_service_token)


@router.post(
    "/v1/contracts",
    status_code=201,
    dependencies=[ServiceCaller],
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": ContractCreate.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "contract": {"type": "string"},
                            "file": {"type": "string", "format": "binary"},
                        },
                    }
                },
            }
        }
    },
)
async def create_contract(request: Request, response: Response, ports: PortsDep) -> ContractPublic:
    """201 with a new contract, or 200 with the deal's existing one. JSON renders the company's template;
    multipart (`contract`: the same JSON, `file`: a PDF) sends the uploaded PDF instead. With an
    `Idempotency-Key`, a repeat of the request answers the first one's result (idempotency.py)."""
    body, pdf = await _read_contract_request(request)
    key = request.headers.get(HEADER)
    if key is None:
        issued: Issued | Replayed = await ports.issuer.issue(body, pdf)
    else:
        if not 1 <= len(key) <= 255:
            raise _invalid(("header", HEADER), "must be 1 to 255 characters")
        issued = await ports.idempotency.run(
            body.company_id, key, fingerprint(body, pdf), lambda: ports.issuer.issue(body, pdf)
        )
        if isinstance(issued, Replayed):
            response.headers["Idempotent-Replayed"] = "true"
    if not issued.created:
        response.status_code = 200
    return issued.contract.public()


@router.get("/v1/contracts/{contract_id}", dependencies=[ServiceCaller])
async def read_contract(contract_id: str, ports: PortsDep) -> ContractPublic:
    contract = await ports.contracts.get(contract_id) if contract_id.startswith("ctr_") else None
    if contract is None:
        raise NotFound(f"no contract {contract_id}")
    return contract.public()


@router.post("/webhooks/autentique")
async def receive_webhook(request: Request, ports: PortsDep, company_id: str | None = None) -> dict[str, Any]:
    """Verified before anything else is read. The secret is the deployment's (`AUTENTIQUE_WEBHOOK_SECRET`)
    unless the endpoint was registered as `?company_id=…` for a company with its own Autentique account."""
    body = await request.body()
    secret = ports.webhook_secret if company_id is None else ports.company_webhook_secrets.get(company_id)
    header = request.headers.get(webhooks.SIGNATURE_HEADER)
    if secret is None or not webhooks.signature_matches(body, header, secret.get_secret_value()):
        WEBHOOKS_REFUSED.labels("bad_signature").inc()
        raise Unauthenticated(f"missing or invalid {webhooks.SIGNATURE_HEADER}")
    try:
        update = webhooks.parse(body)
    except webhooks.MalformedWebhook:
        WEBHOOKS_REFUSED.labels("malformed").inc()
        raise
    outcome: Outcome = await ports.tracker.apply(update, company_id=company_id)
    return {"status": outcome}


async def _read_contract_request(request: Request) -> tuple[ContractCreate, bytes | None]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=4) as form:
            raw = form.get("contract")
            upload = form.get("file")
            pdf = await upload.read() if isinstance(upload, UploadFile) else None
        if not isinstance(raw, str):
            raise _invalid(("body", "contract"), "the contract JSON part is required")
        if pdf is None:
            raise _invalid(("body", "file"), "the PDF file part is required")
        if not pdf.startswith(b"%PDF-"):
            raise _invalid(("body", "file"), "must be a PDF document")
        return _validated(raw), pdf
    return _validated(await request.body()), None


def _validated(raw: str | bytes) -> ContractCreate:
    try:
        return ContractCreate.model_validate_json(raw)
    except ValidationError as exc:
        errors = [
            {**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_context=False)
        ]
        raise RequestValidationError(errors) from None
    except ValueError as exc:  # pragma: no cover - pydantic reports bad JSON as a ValidationError
        raise _invalid(("body",), str(exc)) from None


def _invalid(loc: tuple[str, ...], message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])
