import asyncio

import httpx
import pytest
from servicekit.errors import UpstreamRejected, UpstreamUnavailable
from servicekit.upstream import Breakers, CircuitOpen, call, segment, with_retries


def client(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://api")


async def test_transient_failures_are_retried_until_success() -> None:
    answers = iter(
        [httpx.Response(503), httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200)]
    )
    async with client(lambda request: next(answers)) as http:
        response = await with_retries(lambda: call(http, "GET", "/x", api="test"), initial=0.001)
    assert response.status_code == 200


async def test_timeouts_become_upstream_unavailable() -> None:
    def timeout(request):
        raise httpx.ReadTimeout("slow", request=request)

    async with client(timeout) as http:
        with pytest.raises(UpstreamUnavailable, match="timed out"):
            await call(http, "GET", "/x", api="test")


async def test_a_rejection_is_permanent_and_not_retried() -> None:
    calls = 0

    def reject(request):
        nonlocal calls
        calls += 1
        return httpx.Response(400, text='{"error": "bad number"}')

    async with client(reject) as http:
        with pytest.raises(UpstreamRejected, match="HTTP 400"):
            await with_retries(lambda: call(http, "GET", "/x", api="test"), initial=0.001)
    assert calls == 1


async def test_circuit_opens_after_repeated_failures_and_recovers_after_a_probe() -> None:
    breakers = Breakers(failure_threshold=3, recovery_timeout=0.1)

    async def down():
        raise UpstreamUnavailable("503")

    async def up():
        return "ok"

    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            await breakers.call("instance-a", down)
    with pytest.raises(CircuitOpen):
        await breakers.call("instance-a", up)
    assert await breakers.call("instance-b", up) == "ok", "one key's circuit does not stall another"
    await asyncio.sleep(0.15)
    assert await breakers.call("instance-a", up) == "ok"
    assert breakers.state("instance-a") == "closed"


async def test_rejections_do_not_open_the_circuit() -> None:
    breakers = Breakers(failure_threshold=2, recovery_timeout=10)

    async def reject():
        raise UpstreamRejected("400")

    for _ in range(5):
        with pytest.raises(UpstreamRejected):
            await breakers.call("k", reject)
    assert breakers.state("k") == "closed"


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (".", "/v1/instances/%2E"),
        ("..", "/v1/instances/%2E%2E"),
        ("a/b", "/v1/instances/a%2Fb"),
        ("x?company_id=cmp_B#f", "/v1/instances/x%3Fcompany_id%3Dcmp_B%23f"),
        ("loja.centro", "/v1/instances/loja.centro"),
    ],
)
def test_a_path_segment_stays_one_segment_on_the_wire(value: str, path: str) -> None:
    request = httpx.Request("GET", f"http://api/v1/instances/{segment(value)}")
    assert request.url.raw_path.decode() == path
