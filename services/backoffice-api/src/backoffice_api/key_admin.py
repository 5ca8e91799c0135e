"""A company's API keys over HTTP (``/v1/admin/keys``): create, rotate and revoke, idempotently.

A new key's secret is shown once. A request retried with the same ``Idempotency-Key`` must answer the same
secret (the first answer may have been lost), yet only its hash may be stored. So the request's record keeps
the secret sealed with a pad derived from the Idempotency-Key itself (SHAKE-256 of the key and the new key's
id; the key id is derived from a digest of company and Idempotency-Key, which is never stored): whoever
reads Redis without the Idempotency-Key cannot unseal it. The record lives 24 hours; keys of at least 16
characters (a UUID) are required for this reason.

Rotation revokes the old key at once (one script sets ``revoked_at`` if unset: of two concurrent rotations
without a key only one wins) and makes a new one with the same name, scopes and limits.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from servicekit import Conflict, NotFound
from ulid import ULID

from backoffice_api.apikeys import ApiKey, ApiKeys, new_secret

REQUEST_TTL_SECONDS = 24 * 3600
# Sets revoked_at unless it is set (a record keeps the field, empty, while the key is live): 1 if this call
# revoked it.
_REVOKE_ONCE = """
local at = redis.call('HGET', KEYS[1], 'revoked_at')
if at == false or at == '' then redis.call('HSET', KEYS[1], 'revoked_at', ARGV[1]) return 1 end
return 0
"""


class IdempotencyKeyReused(ValueError):
    """The ``Idempotency-Key`` came before with another request (HTTP 422 naming the header)."""


def _seal(secret: str, idempotency_key: str, key_id: str) -> str:
    raw = secret.encode()
    pad = hashlib.shake_256(f"{idempotency_key}\0{key_id}".encode()).digest(len(raw))
    return base64.b64encode(bytes(a ^ b for a, b in zip(raw, pad, strict=True))).decode()


def _unseal(sealed: str, idempotency_key: str, key_id: str) -> str:
    raw = base64.b64decode(sealed)
    pad = hashlib.shake_256(f"{idempotency_key}\0{key_id}".encode()).digest(len(raw))
    return bytes(a ^ b for a, b in zip(raw, pad, strict=True)).decode()


def _derived_id(*parts: str) -> str:
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return f"key_{ULID.from_bytes(digest[:16])}"


@dataclass(frozen=True)
class Issued:
    secret: str
    key: ApiKey
    #: False when this answers a repeat of an earlier request (its Idempotency-Key).
    created: bool


class KeyAdmin:
    def __init__(self, keys: ApiKeys) -> None:
        self.keys = keys
        self.redis = keys.redis
        self._revoke_once = self.redis.register_script(_REVOKE_ONCE)

    async def _claim(
        self, company: str, idempotency_key: str, request: dict[str, Any], key_id: str
    ) -> tuple[str, bool, str]:
        """(the secret for ``key_id``, whether this call is the first, the record's key): the request's
        record, made now or read back; another request under the same Idempotency-Key is refused."""
        fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
        record_key = self.keys.ks.key_request(
            hashlib.sha256(f"{company}\0{idempotency_key}".encode()).hexdigest()
        )
        secret = new_secret()
        record = {"fingerprint": fingerprint, "sealed": _seal(secret, idempotency_key, key_id)}
        if await self.redis.set(record_key, json.dumps(record), nx=True, ex=REQUEST_TTL_SECONDS):
            return secret, True, record_key
        first = json.loads(str(await self.redis.get(record_key) or "{}"))
        if first.get("fingerprint") != fingerprint:
            raise IdempotencyKeyReused("this Idempotency-Key came with another request")
        return _unseal(first["sealed"], idempotency_key, key_id), False, record_key

    async def create(self, company: str, request: dict[str, Any], *, idempotency_key: str | None) -> Issued:
        """``request``: name, scopes, expires_at, rate_per_minute, burst (already checked by the route)."""
        options = {**request, "scopes": set(request["scopes"])}
        if idempotency_key is None:
            secret, key = await self.keys.create(company_id=company, **options)
            return Issued(secret, key, True)
        key_id = _derived_id("create", company, idempotency_key)
        secret, first, _ = await self._claim(company, idempotency_key, {"create": request}, key_id)
        existing = await self.keys.by_id(key_id)
        if existing is not None:
            return Issued(secret, existing, False)
        # First time, or a repeat after a crash before the key was written: write it (same id, same secret).
        secret, key = await self.keys.create(company_id=company, key_id=key_id, secret=secret, **options)
        return Issued(secret, key, first)

    async def owned(self, company: str, key_id: str) -> ApiKey:
        key = await self.keys.by_id(key_id) if key_id.startswith("key_") else None
        if key is None or key.company_id != company:
            raise NotFound(f"API key {key_id} not found")
        return key

    async def revoke(self, company: str, key_id: str) -> ApiKey:
        await self.owned(company, key_id)
        revoked = await self.keys.revoke(key_id)
        assert revoked is not None
        return revoked

    async def rotate(self, company: str, key_id: str, *, idempotency_key: str | None) -> Issued:
        old = await self.owned(company, key_id)
        given = idempotency_key or f"auto-{ULID()}"
        new_id = _derived_id("rotate", company, key_id, given)
        secret, first, record_key = await self._claim(company, given, {"rotate": key_id}, new_id)
        existing = await self.keys.by_id(new_id)
        if existing is not None:
            return Issued(secret, existing, False)
        if first:
            # Only the request that revokes the old key makes its successor.
            record = self.keys.ks.api_key(str(await self.redis.get(self.keys.ks.api_key_id(key_id))))
            revoked_now = await self._revoke_once(keys=[record], args=[datetime.now(UTC).isoformat()])
            if not revoked_now:
                await self.redis.delete(record_key)  # a retry must not find a claim to complete
                raise Conflict(f"API key {key_id} is revoked already (rotated or revoked): nothing to rotate")
        secret, key = await self.keys.create(
            company_id=company,
            scopes=set(old.scopes),
            name=old.name,
            expires_at=old.expires_at,
            rate_per_minute=old.rate_per_minute,
            burst=old.burst,
            key_id=new_id,
            secret=secret,
        )
        return Issued(secret, key, first)
