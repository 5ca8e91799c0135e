"""A fake's webhook delivery: one POST retried on a schedule until a 2xx, every attempt recorded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class DeliveryAttempt:
    number: int
    delay_before: float
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Delivery:
    url: str
    event: str
    body: bytes
    headers: dict[str, str]
    attempts: list[DeliveryAttempt] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        return any(a.ok for a in self.attempts)

    def json(self) -> Any:
        return json.loads(self.body)

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "event": self.event,
            "headers": self.headers,
            "body": self.body.decode("utf-8"),
            "delivered": self.delivered,
            "attempts": [
                {"number": a.number, "delay_before": a.delay_before, "status": a.status, "error": a.error}
                for a in self.attempts
            ],
        }


async def deliver_with_retries(
    delivery: Delivery,
    *,
    delays: Sequence[float],
    non_retryable: Collection[int] = (),
    transport: httpx.AsyncBaseTransport | None = None,
    request_timeout: float = 30.0,
) -> Delivery:
    """POST `delivery.body` until a 2xx; `delays[i]` is the wait before attempt i+2."""
    async with httpx.AsyncClient(transport=transport, timeout=request_timeout) as client:
        for number in range(1, len(delays) + 2):
            delay = delays[number - 2] if number > 1 else 0.0
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                response = await client.post(delivery.url, content=delivery.body, headers=delivery.headers)
            except httpx.HTTPError as exc:
                delivery.attempts.append(DeliveryAttempt(number, delay, None, f"{type(exc).__name__}: {exc}"))
                continue
            attempt = DeliveryAttempt(number, delay, response.status_code, None)
            delivery.attempts.append(attempt)
            if attempt.ok or response.status_code in non_retryable:
                break
    return delivery
