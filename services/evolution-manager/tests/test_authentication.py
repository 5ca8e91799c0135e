"""Who may send webhooks, checked before the body is read: one answer for every refusal, short-lived JWTs
only, and a rate limit per instance. Over ASGI against the real Redis, as test_api.py."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from pathlib import Path
from typing import Any

import jwt
from evolution_manager.registry import InstanceConfig, Registry
from fakes.evolution_webhooks import make_webhook_jwt
from servicekit.secretbox import SecretBox

REFERENCE = json.loads((Path(__file__).parent / "reference_samples.json").read_text())
SAMPLE_TEXT: dict[str, Any] = REFERENCE["sample_1_text"]


def evolution_jwt(secret: str, *, lifetime: int, now: int | None = None) -> str:
    issued = int(time.time()) if now is None else now
    claims = {"iat": issued, "exp": issued + lifetime, "app": "evolution", "action": "webhook"}
    return jwt.encode(claims, secret, algorithm="HS256")


async def test_unknown_instance_and_wrong_secret_get_the_same_401(service) -> None:
    unknown = await service.post_webhook({**SAMPLE_TEXT, "instance": "vendas-99"})
    known_wrong = await service.post_webhook(SAMPLE_TEXT, headers={"x-shared-secret": "not-the-secret"})
    known_unsigned = await service.post_webhook(SAMPLE_TEXT, headers={})
    unknown_unsigned = await service.post_webhook({**SAMPLE_TEXT, "instance": "vendas-99"}, headers={})
    answers = {(r.status_code, r.text) for r in (unknown, known_wrong, known_unsigned, unknown_unsigned)}
    assert len(answers) == 1 and unknown.status_code == 401, answers
    assert "vendas" not in unknown.text
    assert await service.published("message.received") == []


async def test_a_jwt_made_to_live_ten_years_is_401(service) -> None:
    token = evolution_jwt(service.SECRET, lifetime=10 * 365 * 24 * 3600)
    response = await service.post_webhook(SAMPLE_TEXT, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "lives" in response.json()["error"]["message"]
    assert await service.published("message.received") == []


async def test_a_jwt_of_evolutions_ten_minutes_is_accepted_and_one_without_iat_is_not(service) -> None:
    token = evolution_jwt(service.SECRET, lifetime=600)
    accepted = await service.post_webhook(SAMPLE_TEXT, headers={"Authorization": f"Bearer {token}"})
    assert accepted.status_code == 200, accepted.text
    no_iat = jwt.encode(
        {"exp": int(time.time()) + 60, "app": "evolution", "action": "webhook"}, service.SECRET, "HS256"
    )
    refused = await service.post_webhook(SAMPLE_TEXT, headers={"Authorization": f"Bearer {no_iat}"})
    assert refused.status_code == 401 and "iat" in refused.json()["error"]["message"]
    assert make_webhook_jwt(service.SECRET)  # the fake's own tokens are the ten-minute kind (reference §4)


class Body:
    """A request body sent in chunks, recording how many the server pulled."""

    def __init__(self, head: bytes, *, chunks: int, size: int) -> None:
        self.head, self.chunks, self.size, self.pulled = head, chunks, size, 0

    async def __aiter__(self):
        self.pulled += 1
        yield self.head
        for _ in range(self.chunks):
            self.pulled += 1
            yield b" " * self.size


async def test_a_large_body_is_not_read_before_its_sender_is_authenticated(service) -> None:
    # 4 MiB under the 8 MiB cap: the head names the instance, the secret is wrong.
    head = json.dumps({"event": "messages.upsert", "instance": service.INSTANCE}).encode()[:-1] + b", "
    for headers in ({"x-shared-secret": "not-the-secret"}, {}):
        body = Body(head, chunks=64, size=64 * 1024)
        response = await service.http.post("/webhooks/evolution", content=body, headers=headers)
        assert response.status_code == 401
        assert body.pulled == 1, f"{body.pulled} chunks read before the refusal"


async def test_a_body_naming_another_instance_after_its_head_is_401(service) -> None:
    await service.register("outra-02", company_id="cmp_other", webhook_secret="another-secret-of-outra-02")
    envelope = copy.deepcopy(SAMPLE_TEXT)
    text = json.dumps(envelope)
    # JSON keeps the last of two keys: the head says vendas-01 (whose secret is sent), the body outra-02.
    forged = text[:-1] + ', "instance": "outra-02"}'
    response = await service.http.post(
        "/webhooks/evolution", content=forged.encode(), headers={"x-shared-secret": service.SECRET}
    )
    assert response.status_code == 401
    assert await service.published("message.received") == []


async def test_webhooks_over_the_instance_rate_are_429_with_retry_after(run_service) -> None:
    async with run_service(webhook_rate_per_second=0.05, webhook_burst=3) as service:
        await service.register(
            "outra-02", company_id="cmp_other", webhook_secret="another-secret-of-outra-02"
        )
        answers = []
        for n in range(4):
            envelope = copy.deepcopy(SAMPLE_TEXT)
            envelope["data"]["key"]["id"] = f"RATE{n}"
            answers.append(await service.post_webhook(envelope))
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert 1 <= int(answers[-1].headers["retry-after"]) <= 20  # a token every 20 s
        assert len(await service.published("message.received")) == 3
        other = copy.deepcopy(SAMPLE_TEXT) | {"instance": "outra-02"}
        response = await service.post_webhook(
            other, headers={"x-shared-secret": "another-secret-of-outra-02"}
        )
        assert response.status_code == 200  # another instance has its own window


async def test_an_unknown_name_is_answered_from_memory_as_a_known_one_is(run_service, make_settings) -> None:
    """A known name's secret is read from the replica's cache, an unknown one's from Redis each time: the
    answer time would tell them apart. Unknown names are remembered for as long."""
    async with run_service(instance_cache_seconds=0.5) as service:
        envelope = {"event": "qrcode.updated", "instance": "vendas-05", "data": {}}
        secret = {"x-shared-secret": "the-secret-of-vendas-05-0123"}
        assert (await service.post_webhook(envelope, headers=secret)).status_code == 401
        # Registered through another replica (a registry of its own on the same Redis): this one still
        # answers from memory until its cache time is over.
        elsewhere = Registry(
            service.bus.redis, service.bus.keys, box=SecretBox.from_setting(make_settings().secrets_keys)
        )
        config = InstanceConfig(
            company_id=service.COMPANY, webhook_secret=secret["x-shared-secret"], api_key="token-of-vendas-05"
        )
        await elsewhere.put("vendas-05", config)
        assert (await service.post_webhook(envelope, headers=secret)).status_code == 401
        await asyncio.sleep(0.6)
        assert (await service.post_webhook(envelope, headers=secret)).status_code == 200
