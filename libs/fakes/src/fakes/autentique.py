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

from fastapi import FastAPI

from fakes import autentique_routes
from fakes.autentique_state import (
    DEFAULT_API_TOKEN,
    GRAPHQL_PATH,
    AutentiqueState,
    Document,
    Signer,
    WebhookEndpoint,
    sign_webhook_body,
)
from fakes.control import FakeControlMiddleware, control_router

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


def create_app(state: AutentiqueState | None = None) -> FastAPI:
    fake = state if state is not None else AutentiqueState()
    app = FastAPI(title="Fake Autentique API", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fake = fake
    app.add_middleware(FakeControlMiddleware, state=fake, render_error=autentique_routes.render_failure)
    app.include_router(control_router(fake))
    app.include_router(autentique_routes.router)
    app.include_router(autentique_routes.control)
    return app
