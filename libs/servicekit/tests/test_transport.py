"""servicekit.transport: httpx's API over aiohttp, against a real socket; what a failure proves is unchanged."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
import servicekit
from servicekit.outcomes import OutcomeUnknown, UpstreamDown
from servicekit.transport import AiohttpTransport
from servicekit.upstream import call, segment

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Seen:
    requests: list[tuple[bytes, dict[str, str], bytes]] = field(default_factory=list)
    connections: int = 0


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    line, *rest = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in rest if h)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return line.encode(), headers, body


def answer(status: int, body: bytes, *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"content-length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@asynccontextmanager
async def server(respond: Callable[[bytes, bytes], bytes] | None, seen: Seen) -> AsyncIterator[str]:
    """A raw HTTP/1.1 server: ``respond(request line, body)`` answers each request on a kept-alive connection;
    ``None`` reads the request and then cuts the connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        try:
            while True:
                line, headers, body = await read_request(reader)
                seen.requests.append((line, headers, body))
                if respond is None:
                    return
                writer.write(respond(line, body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield f"http://127.0.0.1:{port}"


async def test_a_request_and_its_answer_cross_as_httpx_sends_and_reads_them() -> None:
    seen = Seen()
    body = json.dumps({"key": {"id": "3EB0"}}).encode()
    with_headers = answer(201, body, "content-type: application/json", "x-upstream: yes")
    async with (
        server(lambda line, body_: with_headers, seen) as url,
        servicekit.http_client(base_url=url) as http,
    ):
        response = await http.post(
            f"/message/sendText/{segment('..')}", params={"a": "b c"}, json={"n": 1}, headers={"apikey": "k"}
        )

    assert response.status_code == 201
    assert response.json() == {"key": {"id": "3EB0"}}
    assert response.headers["x-upstream"] == "yes"
    line, headers, sent = seen.requests[0]
    assert line == b"POST /message/sendText/%2E%2E?a=b+c HTTP/1.1"  # as httpx encoded it, not re-quoted
    assert headers["apikey"] == "k"
    assert headers["content-type"] == "application/json"
    assert json.loads(sent) == {"n": 1}


async def test_connections_are_kept_alive_between_requests() -> None:
    seen = Seen()
    async with (
        server(lambda line, body: answer(200, b"{}"), seen) as url,
        servicekit.http_client(base_url=url) as http,
    ):
        for _ in range(3):
            assert (await http.get("/")).status_code == 200

    assert (len(seen.requests), seen.connections) == (3, 1)


async def test_a_compressed_body_is_decoded_once_by_httpx() -> None:
    packed = gzip.compress(b'{"ok": true}')
    async with (
        server(lambda line, body: answer(200, packed, "content-encoding: gzip"), Seen()) as url,
        servicekit.http_client(base_url=url) as http,
    ):
        assert (await http.get("/")).json() == {"ok": True}


async def test_redirects_come_back_as_answers_unless_httpx_is_asked_to_follow() -> None:
    seen = Seen()
    async with (
        server(lambda line, body: answer(302, b"", "location: /elsewhere"), seen) as url,
        servicekit.http_client(base_url=url) as http,
    ):
        response = await http.get("/")

    assert response.status_code == 302
    assert len(seen.requests) == 1


async def test_a_refused_connection_proves_nothing_went_out() -> None:
    async with server(None, Seen()) as url:
        pass  # closed: nothing listens there now
    async with servicekit.http_client(base_url=url) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/")
        with pytest.raises(UpstreamDown):
            await call(http, "POST", "/message/sendText/x", api="evolution", json={})


async def test_a_connection_cut_after_the_request_leaves_a_send_unknown() -> None:
    seen = Seen()
    async with server(None, seen) as url, servicekit.http_client(base_url=url) as http:
        with pytest.raises(OutcomeUnknown):
            await call(http, "POST", "/message/sendText/x", api="evolution", json={"text": "oi"})

    assert len(seen.requests) == 1  # it did reach the server


async def test_no_answer_in_time_is_a_read_timeout_and_a_send_unknown() -> None:
    seen = Seen()
    gate = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.requests.append(await read_request(reader))
        await gate.wait()
        writer.close()

    listening = await asyncio.start_server(silent, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
    try:
        async with servicekit.http_client(base_url=url, timeout=httpx.Timeout(0.2)) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get("/")
            with pytest.raises(OutcomeUnknown):
                await call(http, "POST", "/message/sendText/x", api="evolution", json={})
    finally:
        gate.set()
        listening.close()


async def test_the_client_goes_through_aiohttp_unless_a_transport_is_given() -> None:
    given = httpx.MockTransport(lambda request: httpx.Response(204))
    async with servicekit.http_client() as default, servicekit.http_client(transport=given) as mocked:
        assert isinstance(default._transport, AiohttpTransport)
        assert mocked._transport is given
        assert (await mocked.get("http://x/")).status_code == 204
