"""Shared machinery of the fakes: request recording, failure injection, `/_fake` routes; webhook retries are
in ``fakes.delivery`` (re-exported here).

Nothing here mimics a particular API. Each fake plugs in its own error renderer so that injected failures
carry that API's error body (Evolution: /work/shared/reference/evolution-api.md §7, Autentique:
autentique.md §3, Graph: facebook-capi.md §7).

Failure modes (settable in-process on the state object or with `POST /_fake/fail`):

- ``status``: answer ``status`` with the API's error body (429 adds ``Retry-After``);
- ``slow``: sleep ``seconds`` before handling the request;
- ``late``: handle the request (side effects happen), then sleep ``seconds`` before answering;
- ``drop``: handle the request, then cut the connection instead of answering (a client sees
  ``httpx.RemoteProtocolError`` in-process, a closed connection over a port);
- ``garbled``: handle the request, then answer its 2xx status with an HTML page instead of its body (what a
  proxy's error page behind a 200 looks like);
- ``fail_after``: handle the request (side effects happen), then answer ``status`` with the API's error body
  (a 5xx from an upstream that acted before failing);
- ``down``: every request fails until ``recover()``: with a ``status`` it is answered with that status,
  without one the connection is refused (``httpx.ConnectError`` in-process, a bare 500 over a port).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fakes.delivery import Delivery, DeliveryAttempt, deliver_with_retries

__all__ = [
    "CONTROL_PREFIX",
    "RESPONSE_DIRECTIVE",
    "Delivery",
    "DeliveryAttempt",
    "ErrorRenderer",
    "Failure",
    "FailureMode",
    "FakeControlMiddleware",
    "FakeState",
    "RecordedRequest",
    "WebhookingState",
    "control_router",
    "deliver_with_retries",
    "state_of",
]

CONTROL_PREFIX = "/_fake"
# Handlers put a Failure under this scope key to act on their own response (e.g. "created, then timed out").
RESPONSE_DIRECTIVE = "fakes.response_directive"

FailureMode = Literal["status", "slow", "late", "drop", "down", "garbled", "fail_after"]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    def json(self) -> Any:
        return json.loads(self.body)

    def to_dict(self) -> dict[str, Any]:
        try:
            text: str | None = self.body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": text,
            "body_base64": None if text is not None else base64.b64encode(self.body).decode("ascii"),
            "received_at": self.received_at,
        }


@dataclass
class Failure:
    mode: FailureMode
    status: int | None = None
    # None = until recover(); only meaningful for status/slow/late/drop.
    count: int | None = 1
    seconds: float = 0.0
    retry_after: int | None = None
    # API-specific error code (Graph `error.code` / `error_subcode`); other fakes ignore them.
    code: int | None = None
    subcode: int | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Failure:
        mode = body.get("mode")
        if mode not in ("status", "slow", "late", "drop", "down", "garbled", "fail_after"):
            raise ValueError("mode must be one of status, slow, late, drop, down, garbled, fail_after")
        if mode in ("status", "fail_after") and not isinstance(body.get("status"), int):
            raise ValueError("mode status needs an integer status")
        count = body.get("count", None if mode == "down" else 1)
        return cls(
            mode=mode,
            status=body.get("status"),
            count=None if count is None else int(count),
            seconds=float(body.get("seconds", 0.0)),
            retry_after=body.get("retry_after"),
            code=body.get("code"),
            subcode=body.get("subcode"),
        )


# (failure) -> (HTTP status, JSON body, extra headers)
ErrorRenderer = Callable[[Failure], tuple[int, Any, dict[str, str]]]


@dataclass
class FakeState:
    """Base of every fake's state: what arrived, and what should go wrong next."""

    requests: list[RecordedRequest] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def fail_next(
        self,
        status: int,
        count: int | None = 1,
        *,
        retry_after: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
    ) -> None:
        if status == 429 and retry_after is None:
            retry_after = 1
        self.failures.append(
            Failure("status", status, count, retry_after=retry_after, code=code, subcode=subcode)
        )

    def slow_next(self, seconds: float, count: int | None = 1, *, after_handling: bool = False) -> None:
        self.failures.append(Failure("late" if after_handling else "slow", None, count, seconds=seconds))

    def drop_next(self, count: int | None = 1) -> None:
        self.failures.append(Failure("drop", None, count))

    def garble_next(self, count: int | None = 1) -> None:
        """Handle the next request, then answer its status with an HTML body."""
        self.failures.append(Failure("garbled", None, count))

    def fail_after_next(self, status: int = 500, count: int | None = 1) -> None:
        """Handle the next request, then answer ``status`` with the API's error body."""
        self.failures.append(Failure("fail_after", status, count))

    def go_down(self, status: int | None = None) -> None:
        self.failures.append(Failure("down", status, None))

    def recover(self) -> None:
        self.failures.clear()

    def reset(self) -> None:
        """Forget recorded traffic and pending failures; subclasses also drop what they recorded."""
        self.requests.clear()
        self.failures.clear()

    def take_failure(self) -> Failure | None:
        if not self.failures:
            return None
        failure = self.failures[0]
        if failure.mode == "down" or failure.count is None:
            return failure
        failure.count -= 1
        if failure.count <= 0:
            self.failures.pop(0)
        return failure

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path and (method is None or r.method == method)]


class FakeControlMiddleware:
    """Records every non-control request and applies the pending failure before/after the handler."""

    def __init__(self, app: ASGIApp, state: FakeState, render_error: ErrorRenderer) -> None:
        self.app = app
        self.state = state
        self.render_error = render_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                break
        self.state.requests.append(
            RecordedRequest(
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"),
                headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
                body=bytes(body),
                received_at=time.time(),
            )
        )
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        failure = self.state.take_failure()
        if failure is not None and failure.mode == "down" and failure.status is None:
            # Before the response starts: a refused connection in-process, a bare 500 from uvicorn.
            raise httpx.ConnectError("fake is down")
        if failure is not None and failure.mode in ("status", "down"):
            status, payload, headers = self.render_error(failure)
            await JSONResponse(payload, status_code=status, headers=headers)(scope, replay, send)
            return
        if failure is not None and failure.mode == "slow":
            await asyncio.sleep(failure.seconds)
        if failure is not None and failure.mode in ("late", "drop", "garbled", "fail_after"):
            scope[RESPONSE_DIRECTIVE] = failure
        await self.app(scope, replay, self._directed_send(scope, send))

    def _directed_send(self, scope: Scope, send: Send) -> Callable[[Message], Awaitable[None]]:
        started: list[Message] = []

        async def directed(message: Message) -> None:
            directive: Failure | None = scope.get(RESPONSE_DIRECTIVE)
            if directive is not None and directive.mode in ("garbled", "fail_after"):
                # The handler ran (its side effects happened); what it answered is replaced.
                if message["type"] == "http.response.start":
                    started.append(message)
                elif message["type"] == "http.response.body" and not message.get("more_body", False):
                    if directive.mode == "garbled":
                        page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                        headers = [
                            (b"content-type", b"text/html"),
                            (b"content-length", str(len(page)).encode()),
                        ]
                        await send(
                            {
                                "type": "http.response.start",
                                "status": started[0]["status"],
                                "headers": headers,
                            }
                        )
                        await send({"type": "http.response.body", "body": page})
                    else:
                        status, payload, extra = self.render_error(directive)
                        await JSONResponse(payload, status_code=status, headers=extra)(scope, _no_body, send)
                return
            if directive is not None and message["type"] == "http.response.start":
                if directive.mode == "late":
                    await asyncio.sleep(directive.seconds)
                elif directive.mode == "drop":
                    # Starting the response then raising makes uvicorn close the socket mid-response.
                    await send(message)
                    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            await send(message)

        return directed


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


@dataclass
class WebhookingState(FakeState):
    """A fake that also sends webhooks: where they go in-process, how fast retries run, what was sent."""

    deliveries: list[Delivery] = field(default_factory=list)
    # In-process tests route deliveries to an ASGI receiver (httpx.ASGITransport) or a MockTransport.
    webhook_transport: httpx.AsyncBaseTransport | None = None
    # Real retry schedules span minutes; tests use 0.0, demos something like 0.01.
    retry_delay_scale: float = 1.0
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set, repr=False)

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        async def run() -> Any:
            return await coro

        # The event loop keeps only weak references to tasks: hold them until they finish.
        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait for background deliveries (those started with wait=false)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def reset(self) -> None:
        super().reset()
        self.deliveries.clear()


S = TypeVar("S", bound=FakeState)


def state_of(request: Request, kind: type[S]) -> S:
    """The state of the fake serving ``request`` (``create_app`` keeps it on ``app.state.fake``)."""
    state = request.app.state.fake
    if not isinstance(state, kind):
        raise TypeError(f"this app's fake is a {type(state).__name__}, not a {kind.__name__}")
    return state


def control_router(state: FakeState, extra_reset: Callable[[], None] | None = None) -> APIRouter:
    router = APIRouter(prefix=CONTROL_PREFIX)

    @router.get("/requests")
    async def list_requests(path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        return [
            r.to_dict()
            for r in state.requests
            if (path is None or r.path == path) and (method is None or r.method == method.upper())
        ]

    @router.post("/reset")
    async def reset() -> dict[str, bool]:
        state.reset()
        if extra_reset is not None:
            extra_reset()
        return {"ok": True}

    @router.post("/fail")
    async def fail(request: Request) -> JSONResponse:
        try:
            failure = Failure.from_json(await request.json())
        except (ValueError, TypeError, AttributeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        if failure.mode == "status" and failure.status == 429 and failure.retry_after is None:
            failure.retry_after = 1
        state.failures.append(failure)
        return JSONResponse({"ok": True, "pending": len(state.failures)})

    @router.post("/recover")
    async def recover() -> dict[str, bool]:
        state.recover()
        return {"ok": True}

    if isinstance(state, WebhookingState):
        webhooking = state

        @router.get("/deliveries")
        async def list_deliveries() -> list[dict[str, Any]]:
            return [d.to_dict() for d in webhooking.deliveries]

    return router
