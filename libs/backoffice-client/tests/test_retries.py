"""Which requests the client repeats, and how: only those safe to repeat (idempotent methods, or a request
carrying an Idempotency-Key), on no answer, 429 (after Retry-After) or 502/503/504; everything else once.
The server here is an httpx.MockTransport (the app-level tests are services/backoffice-api/tests/
test_python_client.py)."""

from __future__ import annotations

import json

import httpx
import pytest
from backoffice_client import (
    ApiError,
    AsyncBackofficeClient,
    BackofficeClient,
    RateLimited,
    ServerError,
    Unreachable,
)

DEAL = {
    "deal_id": "deal_1",
    "lead_id": "lead_1",
    "company_id": "cmp_A",
    "value": 1.0,
    "currency": "BRL",
    "event": {},
    "contract_id": None,
    "created_at": "2026-01-01T00:00:00.000Z",
}
CONTRACT = {
    "contract_id": "ctr_1",
    "deal_id": "deal_1",
    "lead_id": "lead_1",
    "company_id": "cmp_A",
    "document_id": "doc1",
    "status": "pending",
    "value": 1.0,
    "currency": "BRL",
    "created_at": None,
    "signed_at": None,
    "signers": [],
    "progress": {"signed": 0, "total": 0},
    "signers_live": True,
}


class Server:
    """Answers ``failures`` (status, headers) first, then ``body``; records every request."""

    def __init__(self, failures, body):
        self.failures, self.body, self.requests = list(failures), body, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failures:
            failure = self.failures.pop(0)
            if failure == "drop":
                raise httpx.ConnectError("refused", request=request)
            status, headers = failure
            return httpx.Response(status, headers=headers, json={"error": {"code": "x", "message": "no"}})
        return httpx.Response(200, json=self.body)


def client(server, **options):
    http = httpx.Client(base_url="http://bo", transport=httpx.MockTransport(server))
    return BackofficeClient(api_key="wbk_k", http=http, **options)


def test_a_read_is_retried_until_it_succeeds():
    server = Server([(503, {}), "drop", (502, {})], DEAL)
    assert client(server, attempts=4).get_deal("deal_1").deal_id == "deal_1"
    assert len(server.requests) == 4
    assert all(r.headers["x-api-key"] == "wbk_k" for r in server.requests)


def test_a_post_without_idempotency_key_is_sent_once():
    server = Server([(503, {})], {})
    with pytest.raises(ServerError) as failed:
        client(server).add_note("lead_1", "call back")
    assert failed.value.status == 503 and len(server.requests) == 1
    assert "idempotency-key" not in server.requests[0].headers


def test_a_deal_is_created_with_an_idempotency_key_and_retried_with_it():
    server = Server(["drop", (503, {})], DEAL)
    assert client(server).create_deal("lead_1", value=1).deal_id == "deal_1"
    keys = {r.headers["idempotency-key"] for r in server.requests}
    assert len(server.requests) == 3 and len(keys) == 1
    server = Server([], DEAL)
    client(server).create_deal("lead_1", value=1)
    assert server.requests[0].headers["idempotency-key"] not in keys  # a new call, a new key


def test_a_patch_is_sent_once():
    server = Server(["drop"], DEAL)
    with pytest.raises(Unreachable):
        client(server).update_deal("deal_1", value=2)
    assert len(server.requests) == 1


def test_a_contract_request_is_retried_with_the_same_idempotency_key():
    server = Server([(502, {}), "drop"], CONTRACT)
    assert client(server).create_contract("deal_1", [{"name": "Maria"}]).contract_id == "ctr_1"
    keys = {r.headers["idempotency-key"] for r in server.requests}
    assert len(server.requests) == 3 and len(keys) == 1
    server = Server([], CONTRACT)
    client(server).create_contract("deal_1", [{"name": "Maria"}], idempotency_key="mine")
    assert server.requests[0].headers["idempotency-key"] == "mine"


def test_429_waits_its_retry_after_and_gives_up_beyond_the_limit(monkeypatch):
    slept = []
    monkeypatch.setattr("time.sleep", slept.append)
    server = Server([(429, {"Retry-After": "2"})], DEAL)
    client(server).get_deal("deal_1")
    assert slept == [2.0] and len(server.requests) == 2
    server = Server([(429, {"Retry-After": "60"})], DEAL)
    with pytest.raises(RateLimited) as limited:
        client(server, max_retry_wait=30).get_deal("deal_1")
    assert limited.value.retry_after == 60 and len(server.requests) == 1


def test_other_errors_are_not_retried():
    for status in (400, 401, 403, 404, 409, 412, 422, 500):
        server = Server([(status, {})], DEAL)
        with pytest.raises(ApiError) as failed:
            client(server).get_deal("deal_1")
        assert failed.value.status == status and len(server.requests) == 1


def test_an_answer_without_our_error_body_still_has_its_type():
    def proxy(request):
        return httpx.Response(504, text="<html>gateway timeout</html>")

    http = httpx.Client(base_url="http://bo", transport=httpx.MockTransport(proxy))
    with pytest.raises(ServerError) as failed:
        BackofficeClient(api_key="k", http=http, attempts=1).get_deal("deal_1")
    assert failed.value.code == "error" and failed.value.status == 504


def test_update_deal_sends_only_what_is_given():
    server = Server([], DEAL)
    client(server).update_deal("deal_1", owner=None, if_match='"v3"')
    assert json.loads(server.requests[0].content) == {"owner": None}
    assert server.requests[0].headers["if-match"] == '"v3"'


async def test_the_async_client_retries_the_same_way():
    server = Server([(503, {}), "drop"], DEAL)
    http = httpx.AsyncClient(base_url="http://bo", transport=httpx.MockTransport(server))
    async with AsyncBackofficeClient(api_key="k", http=http) as api:
        assert (await api.get_deal("deal_1")).deal_id == "deal_1"
        assert len(server.requests) == 3
        server.failures = [(503, {})]
        with pytest.raises(ServerError):
            await api.update_deal("deal_1", value=2)
        assert len(server.requests) == 4
    await http.aclose()
