"""What a failed call proves, over real HTTP to a fake: not sent (retried, an Outage when the upstream is
down), unknown (never retried) or rejected; and the records on a real Redis."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from eventbus import Bus, Outage, PermanentFailure
from eventbus.dlq import reason_for
from eventbus.server import free_port
from fakes import evolution as fake_evolution
from fakes.serving import served
from servicekit.errors import UpstreamUnavailable
from servicekit.outcomes import (
    Answer,
    Decision,
    OutcomeUnknown,
    Record,
    Records,
    State,
    UpstreamDown,
    list_unknown,
)
from servicekit.upstream import CircuitOpen, UpstreamStatus, call, with_retries

SEND = "/message/sendText/vendas-01"
BODY = {"number": "5511987654321", "text": "oi"}
HEADERS = {"apikey": "k"}


@pytest.fixture
def fake() -> fake_evolution.EvolutionState:
    state = fake_evolution.EvolutionState()
    state.add_instance("vendas-01", "k")
    return state


async def _send(http: httpx.AsyncClient) -> httpx.Response:
    return await with_retries(
        lambda: call(http, "POST", SEND, api="t", json=BODY, headers=HEADERS), initial=0.001
    )


@pytest.mark.parametrize(
    ("inject", "kind"),
    [
        (lambda f: f.slow_next(1.0, after_handling=True), "ReadTimeout"),
        (lambda f: f.drop_next(), "RemoteProtocolError"),
        (lambda f: f.fail_after_next(500), "HTTP 500 (server_error)"),
        (lambda f: f.fail_after_next(502), "HTTP 502 (server_error)"),
    ],
    ids=["read_timeout_after_send", "reset_after_write", "500_after_processing", "502_after_processing"],
)
async def test_an_ambiguous_answer_to_a_side_effect_is_unknown_and_never_retried(fake, inject, kind) -> None:
    async with (
        served(fake_evolution.create_app(fake)) as url,
        httpx.AsyncClient(base_url=url, timeout=0.3) as http,
    ):
        inject(fake)
        with pytest.raises(OutcomeUnknown) as caught:
            await _send(http)
    assert isinstance(caught.value, PermanentFailure) and not isinstance(caught.value, Outage)
    assert str(caught.value.answer) == kind
    assert len(fake.sent) == 1 and len(fake.requests_to(SEND)) == 1


async def test_the_same_failures_on_a_read_are_retried(fake) -> None:
    async with (
        served(fake_evolution.create_app(fake)) as url,
        httpx.AsyncClient(base_url=url, timeout=0.3) as http,
    ):
        fake.slow_next(1.0, after_handling=True)
        fake.fail_after_next(500)
        response = await with_retries(
            lambda: call(http, "GET", "/instance/connectionState/vendas-01", api="t", headers=HEADERS),
            initial=0.001,
        )
    assert response.json()["instance"]["state"] == "open"
    assert len(fake.requests_to("/instance/connectionState/vendas-01")) == 3


@pytest.mark.parametrize("status", [429, 503])
async def test_an_answer_that_says_not_processed_is_retried(fake, status: int) -> None:
    async with served(fake_evolution.create_app(fake)) as url, httpx.AsyncClient(base_url=url) as http:
        fake.fail_next(status, retry_after=0 if status == 429 else None)
        assert (await _send(http)).status_code == 201
    assert len(fake.sent) == 1 and len(fake.requests_to(SEND)) == 2


async def test_a_refused_connection_is_an_outage_nothing_was_sent() -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}") as http:
        with pytest.raises(UpstreamDown) as caught:
            await call(http, "POST", SEND, api="t", json=BODY)
    assert isinstance(caught.value, Outage) and isinstance(caught.value, UpstreamUnavailable)
    assert issubclass(CircuitOpen, UpstreamDown)


async def test_a_5xx_answer_to_a_read_is_retryable_not_unknown(fake) -> None:
    async with served(fake_evolution.create_app(fake)) as url, httpx.AsyncClient(base_url=url) as http:
        fake.fail_next(500)
        with pytest.raises(UpstreamStatus):
            await call(http, "GET", "/instance/connectionState/vendas-01", api="t", headers=HEADERS)


async def test_records_go_claimed_then_sent_failed_or_unknown_and_an_operator_resolves(bus: Bus) -> None:
    index = bus.keys.service("t", "outcomes", "unknown")
    records = Records(
        bus.redis,
        service="t",
        effect="e",
        key_of=lambda i: bus.keys.service("t", "e", i),
        index_key=index,
        ttl=timedelta(hours=1),
    )
    assert (await records.claim("a", holder="evt_a")).state is State.CLAIMED
    assert (
        await records.claim("a", holder="evt_a")
    ).state is State.IN_FLIGHT  # a second handling sees the first's claim
    await records.sent("a", "ref-1")
    assert (
        await records.claim("a", holder="evt_a") == (await records.get("a"))
        and (await records.get("a")).ref == "ref-1"
    )  # type: ignore[union-attr]
    assert (await records.claim("b", holder="evt_b")).state is State.CLAIMED
    await records.failed("b")
    assert (
        await records.claim("b", holder="evt_b")
    ).state is State.CLAIMED  # released: a later try may send it
    await records.unknown("b", answer=Answer("ReadTimeout"), event_id="evt_1", channel="message.sent")
    assert (await records.claim("b", holder="evt_b")).state is State.UNKNOWN
    [listed] = await list_unknown(bus.redis, index)
    assert (listed.effect, listed.id, listed.answer, listed.event_id) == ("e", "b", "ReadTimeout", "evt_1")
    await records.resolve("b", Decision.RESEND, operator="ana")
    assert await list_unknown(bus.redis, index) == []
    assert (await records.claim("b", holder="evt_b")).state is State.CLAIMED
    await records.sent("b", "ref-2")
    # A second decision on what is no longer unknown changes nothing: a sent record is never released.
    assert await records.resolve("b", Decision.RESEND, operator="ana") is None
    assert (await records.get("b")) == Record(State.SENT, ref="ref-2")


def test_an_unknown_outcome_is_dead_lettered_with_its_own_reason() -> None:
    # The dead letter's reason is a metric label (eventbus_dead_lettered_total{reason}) that an alert and the
    # operators' lists select on: an unknown outcome must not hide among other permanent failures.
    assert reason_for(OutcomeUnknown("sendText", answer=Answer("ReadTimeout"))) == "outcome_unknown"
    assert reason_for(PermanentFailure("a 400 from the API")) == "permanent_failure"
