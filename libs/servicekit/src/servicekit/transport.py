"""httpx's API over aiohttp's HTTP/1.1 client: the transport of :func:`servicekit.http_client` when none is given.

httpx's own transport (httpcore over anyio) cost 0.5-0.8 ms of CPU per request on this machine against
~0.15 ms for aiohttp's, and its pool looks for a free connection by walking every connection it holds, so a
burst of concurrent sends costs more per request still (evolution-manager's ``sendText``, one per WhatsApp
turn, was the largest single item of that service's profile: docs/benchmarks.md). The services keep httpx's
API (requests, responses, event hooks, ``MockTransport``/``ASGITransport`` in tests, the OpenTelemetry
instrumentation); only the bytes on the wire go through aiohttp.

What a failure proves must not change (``servicekit.upstream`` decides retries from it), so aiohttp's errors
become the httpx error of the same meaning:

- the connection could not be made (refused, DNS, TLS, connect or pool timeout) → :class:`httpx.ConnectError` /
  :class:`httpx.ConnectTimeout`: nothing was sent;
- no answer in time once connected → :class:`httpx.ReadTimeout`;
- anything else on a connection (cut, malformed answer, a body cut short) → :class:`httpx.ReadError` /
  :class:`httpx.RemoteProtocolError`: the request may have been acted on.

Hand-written rather than the ``httpx-aiohttp`` package (the same idea, by an httpx maintainer): its error map
turns every ``aiohttp.ClientConnectionError`` into ``httpx.ConnectTimeout``, "nothing was sent", and that class
includes a connection cut after the request was written (``ServerDisconnectedError``, ``ClientOSError``): under
that map a WhatsApp text whose answer was lost would be retried and sent twice.

Redirects and cookies stay httpx's (aiohttp follows none and keeps none); bodies are passed through as
received (``auto_decompress`` off: httpx decodes them by their ``Content-Encoding``). httpx's *write* timeout
has no aiohttp counterpart: requests here are a few KB, written at once.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
from yarl import URL

#: Connections kept per transport, as httpx's default ``Limits(max_connections=100)``.
MAX_CONNECTIONS = 100
#: Seconds an idle keep-alive connection is kept: under the 5 s after which uvicorn and Node servers close an
#: idle one, so that a request is seldom written into a connection the server is closing (a POST sent there
#: has an unknown outcome).
KEEPALIVE_SECONDS = 4.0


def _timeout(extensions: dict[str, Any]) -> aiohttp.ClientTimeout:
    t = extensions.get("timeout") or {}
    connect, pool = t.get("connect"), t.get("pool")
    # aiohttp's `connect` covers waiting for a pooled connection and making a new one; `sock_connect` the latter.
    total_connect = None if connect is None and pool is None else (connect or 0.0) + (pool or 0.0)
    return aiohttp.ClientTimeout(
        total=None, connect=total_connect, sock_connect=connect, sock_read=t.get("read")
    )


def _mapped(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """aiohttp's failure as the httpx error that says the same about whether the request went out."""
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS: before a byte was sent
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, (TimeoutError, aiohttp.ServerTimeoutError)):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(
        exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientResponseError, aiohttp.ClientPayloadError)
    ):
        return httpx.RemoteProtocolError(message, request=request)
    return httpx.ReadError(message, request=request)


class _Body(httpx.AsyncByteStream):
    """The response body as aiohttp reads it; closing it gives the connection back (or drops it, unread)."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _mapped(exc, self._request) from exc

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (its connection pool) per transport, made on the first request: a session belongs
    to the event loop it was made in."""

    def __init__(
        self, *, max_connections: int = MAX_CONNECTIONS, verify: ssl.SSLContext | bool = True
    ) -> None:
        self._max_connections = max_connections
        self._ssl: ssl.SSLContext | bool = (
            httpx.create_ssl_context() if verify is True else verify  # the CA bundle httpx would use
        )
        self._session: aiohttp.ClientSession | None = None

    def _opened(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=KEEPALIVE_SECONDS, ssl=self._ssl
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
                trust_env=False,  # httpx already chose this transport for the URL (its own proxy mounts)
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content = await request.aread()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        try:
            response = await self._opened().request(
                request.method,
                URL(str(request.url), encoded=True),  # as httpx encoded it: never re-quoted
                headers=headers,
                data=content or None,
                allow_redirects=False,
                timeout=_timeout(request.extensions),
                compress=None,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _mapped(exc, request) from exc
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
            request=request,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
