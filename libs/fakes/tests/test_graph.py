import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fakes import graph
from fakes.graph import GraphState

PIXEL = "1234567890"
TOKEN = "test-graph-token"
URL = f"/v25.0/{PIXEL}/events"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def wa_event(name: str = "LeadSubmitted", **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_name": name,
        "event_time": int(time.time()) - 60,
        "event_id": f"wa-{name}-1",
        "action_source": "business_messaging",
        "messaging_channel": "whatsapp",
        "user_data": {"whatsapp_business_account_id": "WABA_ID", "ctwa_clid": "ARAkCLIDVALUE"},
    }
    event.update(overrides)
    return event


def web_event(**user_data: Any) -> dict[str, Any]:
    return {
        "event_name": "Lead",
        "event_time": int(time.time()),
        "action_source": "website",
        "event_source_url": "https://loja.example.com/contato",
        "user_data": user_data
        or {"em": [sha("maria.souza@example.com")], "client_ip_address": "203.0.113.45"},
    }


@pytest.fixture
def state() -> GraphState:
    fake = GraphState()
    fake.add_pixel(PIXEL, TOKEN)
    return fake


@pytest.fixture
async def client(state: GraphState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=graph.create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://graph.test") as c:
        yield c


async def send(client: httpx.AsyncClient, events: list[Any], **extra: Any) -> httpx.Response:
    return await client.post(URL, params={"access_token": TOKEN}, json={"data": events, **extra})


async def test_lead_submitted_on_whatsapp_business_messaging_is_accepted_and_recorded(
    client: httpx.AsyncClient, state: GraphState
) -> None:
    response = await send(client, [wa_event()], test_event_code="TEST123")
    assert response.status_code == 200
    body = response.json()
    assert body["events_received"] == 1
    assert body["messages"] == []
    assert body["fbtrace_id"]
    assert state.events_for(PIXEL)[0]["event_name"] == "LeadSubmitted"
    assert state.events[PIXEL][0].test_event_code == "TEST123"
    recorded = (await client.get("/_fake/events", params={"pixel_id": PIXEL})).json()
    assert recorded[0]["event"]["user_data"]["ctwa_clid"] == "ARAkCLIDVALUE"


async def test_lead_on_business_messaging_is_rejected_with_subcode_2804066(
    client: httpx.AsyncClient, state: GraphState
) -> None:
    response = await send(client, [wa_event("Lead")])
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["error_subcode"], error["type"]) == (100, 2804066, "OAuthException")
    assert error["is_transient"] is False
    assert error["fbtrace_id"]
    assert state.events == {}


async def test_event_older_than_seven_days_rejects_the_whole_batch(
    client: httpx.AsyncClient, state: GraphState
) -> None:
    old = wa_event(
        "Purchase",
        event_time=int(time.time()) - 8 * 24 * 3600,
        custom_data={"currency": "BRL", "value": 1497.9},
    )
    response = await send(client, [wa_event(), old])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "Invalid parameter"
    assert (error["code"], error["error_subcode"]) == (100, 2804003)
    assert error["error_user_title"] == "Event Timestamp Too Old"
    assert state.events == {}


async def test_a_batch_with_one_invalid_event_is_rejected_whole(
    client: httpx.AsyncClient, state: GraphState
) -> None:
    missing_clid = wa_event(user_data={"whatsapp_business_account_id": "WABA_ID"})
    response = await send(client, [wa_event(), web_event(), missing_clid])
    assert response.status_code == 400
    assert "ctwa_clid" in response.json()["error"]["error_user_msg"]
    assert state.events_for(PIXEL) == []


async def test_event_in_the_future_is_rejected(client: httpx.AsyncClient) -> None:
    response = await send(client, [wa_event(event_time=int(time.time()) + 3600)])
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("user_data", "bad_key"),
    [
        ({"em": ["maria.souza@example.com"]}, "em"),
        ({"ph": sha("5511987654321").upper()}, "ph"),
        ({"em": [sha("a@b.co")], "fbp": sha("fb.1.1")}, "fbp"),
    ],
)
async def test_user_data_hashing_rules_are_enforced(
    client: httpx.AsyncClient, user_data: dict[str, Any], bad_key: str
) -> None:
    response = await send(client, [web_event(**user_data)])
    assert response.status_code == 400
    assert f"user_data.{bad_key}" in response.json()["error"]["error_user_msg"]


async def test_missing_required_fields_and_unknown_action_source_are_invalid_parameters(
    client: httpx.AsyncClient,
) -> None:
    no_name = wa_event()
    del no_name["event_name"]
    for event in (no_name, wa_event(action_source="whatsapp"), wa_event(messaging_channel=None)):
        response = await send(client, [event])
        assert response.status_code == 400
        assert response.json()["error"]["code"] == 100


async def test_purchase_needs_value_and_currency(client: httpx.AsyncClient) -> None:
    bad = await send(client, [wa_event("Purchase", custom_data={"currency": "BRL"})])
    good = await send(client, [wa_event("Purchase", custom_data={"currency": "BRL", "value": 1497.9})])
    assert bad.status_code == 400
    assert good.status_code == 200


async def test_invalid_ctwa_clid_is_rejected_with_subcode_2804087(
    client: httpx.AsyncClient, state: GraphState
) -> None:
    state.invalid_ctwa_clids.add("ARAkCLIDVALUE")
    response = await send(client, [wa_event()])
    assert response.json()["error"]["error_subcode"] == 2804087


async def test_empty_and_oversized_batches_are_rejected(client: httpx.AsyncClient) -> None:
    assert (await send(client, [])).status_code == 400
    assert (await send(client, [wa_event()] * 1001)).status_code == 400
    assert (await send(client, [wa_event()] * 1000)).json()["events_received"] == 1000


async def test_wrong_or_missing_token_is_401_oauth_code_190(client: httpx.AsyncClient) -> None:
    wrong = await client.post(URL, params={"access_token": "nope"}, json={"data": [wa_event()]})
    missing = await client.post(URL, json={"data": [wa_event()]})
    for response in (wrong, missing):
        assert response.status_code == 401
        error = response.json()["error"]
        assert (error["code"], error["type"]) == (190, "OAuthException")


async def test_token_of_another_pixel_is_rejected_and_unknown_pixel_is_code_100_subcode_33(
    client: httpx.AsyncClient, state: GraphState
) -> None:
    state.add_pixel("999", "other-token")
    other = await client.post(URL, params={"access_token": "other-token"}, json={"data": [wa_event()]})
    unknown = await client.post(
        "/v25.0/555/events", params={"access_token": TOKEN}, json={"data": [wa_event()]}
    )
    assert other.status_code == 401
    assert unknown.status_code == 400
    assert (unknown.json()["error"]["code"], unknown.json()["error"]["error_subcode"]) == (100, 33)


async def test_bearer_header_and_sdk_form_body_with_json_string_events_are_accepted(
    client: httpx.AsyncClient, state: GraphState
) -> None:
    bearer = await client.post(URL, headers={"Authorization": f"Bearer {TOKEN}"}, json={"data": [wa_event()]})
    form = await client.post(
        URL,
        data={"access_token": TOKEN, "data": json.dumps([json.dumps(wa_event()), json.dumps(web_event())])},
    )
    assert bearer.status_code == 200
    assert form.status_code == 200
    assert form.json()["events_received"] == 2
    assert len(state.events_for(PIXEL)) == 3


async def test_injected_rate_limit_613_is_transient_then_recovers(
    client: httpx.AsyncClient, state: GraphState
) -> None:
    state.fail_with_code(613, subcode=1487742)
    limited = await send(client, [wa_event()])
    ok = await send(client, [wa_event()])
    error = limited.json()["error"]
    assert limited.status_code == 400
    assert (error["code"], error["error_subcode"], error["is_transient"]) == (613, 1487742, True)
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("failure", "status", "code", "transient"),
    [
        ({"mode": "status", "status": 503}, 503, 2, True),
        ({"mode": "status", "status": 500}, 500, 1, True),
        ({"mode": "status", "status": 429}, 429, 4, True),
        ({"mode": "status", "status": 401, "code": 190}, 401, 190, False),
        ({"mode": "status", "status": 400, "code": 100}, 400, 100, False),
        ({"mode": "status", "status": 400, "code": 17, "subcode": 2446079}, 400, 17, True),
    ],
)
async def test_error_classes_injected_over_http_use_the_graph_error_body(
    client: httpx.AsyncClient, failure: dict[str, Any], status: int, code: int, transient: bool
) -> None:
    await client.post("/_fake/fail", json=failure)
    response = await send(client, [wa_event()])
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["is_transient"]) == (code, transient)
    assert (await send(client, [wa_event()])).status_code == 200


async def test_slow_mode_delays_the_answer(client: httpx.AsyncClient) -> None:
    await client.post("/_fake/fail", json={"mode": "slow", "seconds": 0.2, "count": 1})
    started = time.monotonic()
    response = await send(client, [wa_event()])
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2
