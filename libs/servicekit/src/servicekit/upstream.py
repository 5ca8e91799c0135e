"""Calling external APIs: httpx errors become ours once, here, with retries and a circuit breaker per key.

What a failure proves decides what it becomes (servicekit.outcomes draws the whole model):

- nothing went out — connection refused, DNS, connect or pool timeout, an open circuit →
  :class:`~servicekit.outcomes.UpstreamDown` (an :class:`UpstreamUnavailable` and an :class:`eventbus.Outage`);
  429 and 503 → :class:`UpstreamStatus` (not processed; ``retry_after`` carries the server's ``Retry-After``);
- it may have gone out — a read or write timeout, a connection cut after the request was written, a 5xx other
  than 503 — on a
  call that is not idempotent → :class:`~servicekit.outcomes.OutcomeUnknown` (a
  :class:`~eventbus.PermanentFailure`: never retried, dead-lettered for an operator); on an idempotent call (a
  GET, a read) → :class:`UpstreamUnavailable`, retried as any transient failure;
- any other 4xx → :class:`UpstreamRejected` (permanent, with the API's name and the status as the reason;
  the body stays on the exception for the client that classifies it).

Messages name the API and the status, never the upstream's body: they become 502 answers, log lines and
dead-letter reasons, and upstream error bodies echo what was sent (phone numbers, names). A client that
needs the body to classify a refusal reads ``exc.response``.

Breakers come from ``circuitbreaker`` (async-aware since 2.0); the registry only adds one breaker per key
(an Evolution instance, a Meta pixel) so that one broken tenant does not stall the others.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from circuitbreaker import CircuitBreaker
from eventbus import PermanentFailure
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from servicekit.errors import UpstreamRejected, UpstreamUnavailable
from servicekit.outcomes import Answer, OutcomeUnknown, UpstreamDown

T = TypeVar("T")

#: Methods a repeat cannot double (RFC 9110 §9.2.2); anything else is a side effect unless the caller says so.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: httpx errors raised before a byte of the request reached the server: the call provably did nothing.
NOT_SENT_ERRORS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Statuses that say the request was not processed: 429 (rate limited) and 503 ("currently unable to handle
#: the request", RFC 9110 §15.6.4; what proxies answer when no backend is there). 500, 502 and 504 may follow
#: an upstream that acted (a crash after the send, a gateway that gave up waiting).
NOT_PROCESSED = frozenset({429, 503})


class CircuitOpen(UpstreamDown):
    """The breaker is open: the call was not even tried."""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class UpstreamStatus(UpstreamUnavailable):
    """429 or 5xx. ``response`` is kept for callers whose API says more in the body than in the status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        retry_after: float | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.response = response


class UpstreamRefused(UpstreamRejected):
    """A 4xx other than 429. ``response`` lets a client reclassify (Meta reports rate limits as HTTP 400)."""

    def __init__(self, message: str, *, status: int, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.response = response


def segment(value: str) -> str:
    """``value`` as one path segment of a URL to another service: every reserved character percent-encoded
    (``/``, ``?``, ``#``, ``%``), and the dot segments ``.`` and ``..``, which URL normalisation (httpx's too)
    would otherwise resolve: ``/v1/instances/.`` is sent as ``/v1/instances``, the list of every instance."""
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if encoded in {".", ".."} else encoded


def transport_failure(exc: httpx.TransportError, *, api: str, idempotent: bool) -> UpstreamUnavailable:
    """An httpx transport error as ours: :class:`UpstreamDown` when the request never left, else
    :class:`OutcomeUnknown` for a side effect (the server may have acted) or a retryable
    :class:`UpstreamUnavailable` for an idempotent call."""
    kind = type(exc).__name__
    if isinstance(exc, NOT_SENT_ERRORS):
        return UpstreamDown(f"{api}: unreachable ({kind})")
    if not idempotent:
        return OutcomeUnknown(f"{api}: no answer after the request went out ({kind})", answer=Answer(kind))
    return UpstreamUnavailable(
        f"{api}: {'timed out' if isinstance(exc, httpx.TimeoutException) else 'failed'} ({kind})"
    )


async def call(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    api: str,
    idempotent: bool | None = None,
    not_processed: frozenset[int] = NOT_PROCESSED,
    **kwargs: Any,
) -> httpx.Response:
    """One request; returns 2xx/3xx responses, raises ours for everything else. ``api`` names the upstream
    in messages (never the URL's query string or headers: they may hold tokens). ``idempotent`` defaults to
    the method's (a GraphQL query is a POST that reads: pass ``True``); ``not_processed`` lists the 5xx an
    upstream documents as "nothing was done"."""
    idempotent = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        raise transport_failure(exc, api=api, idempotent=idempotent) from exc
    if response.status_code >= 500 and not idempotent and response.status_code not in not_processed:
        # The server failed somewhere; before or after acting, its status does not say.
        raise OutcomeUnknown(
            f"{api}: HTTP {response.status_code}", answer=Answer("server_error", response.status_code)
        )
    if response.status_code == 429 or response.status_code >= 500:
        raise UpstreamStatus(
            f"{api}: HTTP {response.status_code}",
            status=response.status_code,
            retry_after=_retry_after(response),
        )
    if response.status_code >= 400:
        raise UpstreamRefused(
            f"{api}: HTTP {response.status_code}", status=response.status_code, response=response
        )
    return response


async def with_retries(
    attempt: Callable[[], Awaitable[T]], *, attempts: int = 4, initial: float = 0.2, maximum: float = 5.0
) -> T:
    """Retry ``attempt`` on :class:`UpstreamUnavailable` with exponential backoff and jitter, honouring a
    server's ``Retry-After`` when it asks for longer. Rejections, unknown outcomes and open circuits are not
    retried."""
    backoff = wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial)

    def wait(state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = getattr(exc, "retry_after", None)
        return max(backoff(state), min(asked, 30.0)) if asked else backoff(state)

    async for retrying in AsyncRetrying(
        retry=retry_if_exception(_transient),
        stop=stop_after_attempt(attempts),
        wait=wait,
        reraise=True,
    ):
        with retrying:
            return await attempt()
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover


def _transient(exc: BaseException) -> bool:
    # PermanentFailure covers rejections and unknown outcomes (a retry could send twice).
    return isinstance(exc, UpstreamUnavailable) and not isinstance(exc, (PermanentFailure, CircuitOpen))


class Breakers:
    """One circuit breaker per key: opens after ``failure_threshold`` consecutive :class:`UpstreamUnavailable`,
    lets one probe through after ``recovery_timeout`` seconds (half-open), closes on success."""

    def __init__(self, *, failure_threshold: int = 5, recovery_timeout: float = 30.0) -> None:
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self._breakers: dict[str, CircuitBreaker] = {}

    def __getitem__(self, key: str) -> CircuitBreaker:
        if key not in self._breakers:
            self._breakers[key] = CircuitBreaker(
                failure_threshold=self.failure_threshold,
                recovery_timeout=self.recovery_timeout,
                expected_exception=_counts_as_failure,
                name=key,
            )
        return self._breakers[key]

    async def call(self, key: str, attempt: Callable[[], Awaitable[T]]) -> T:
        breaker = self[key]
        # circuitbreaker checks "opened" in its decorator only; call_async just counts the outcome.
        if breaker.opened:
            raise CircuitOpen(f"circuit open for {key}: retry in {max(breaker.open_remaining, 0):.0f}s")
        result: T = await breaker.call_async(attempt)
        return result

    def state(self, key: str) -> str:
        return str(self[key].state)


def _counts_as_failure(thrown_type: type[BaseException], _: BaseException) -> bool:
    # A rejection (4xx) says nothing of the upstream's health: it must not open the circuit.
    return issubclass(thrown_type, UpstreamUnavailable) and not issubclass(thrown_type, UpstreamRejected)
