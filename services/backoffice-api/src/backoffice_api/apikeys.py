"""API keys: each bound to one company and a set of scopes, with an expiry and revocation.

Only the SHA-256 of a key is stored (the key is shown once, by ``wolfgang keys create``): whoever reads Redis
cannot call the API. SHA-256 rather than a slow password hash because keys are 256 random bits, not
guessable passwords, and every request looks one up.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from eventbus import Client
from ulid import ULID

from backoffice_api.keyspace import Keyspace

#: Every scope a key may hold.
SCOPES = (
    "leads:read",
    "leads:write",
    "deals:read",
    "deals:write",
    "contracts:read",
    "contracts:write",
    "instances:read",
    "instances:write",
    "metrics:read",
    "events:read",
    "ops:admin",
    # A company's own administration: its API keys, instances, Conversions API and agent settings (/v1/admin).
    "admin",
    # Platform-wide views (consumer groups of every company): for the platform's operators, not a company's.
    "platform:admin",
)
KEY_PREFIX = "wbk_"


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    company_id: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    #: Token bucket of this key; None means the service's defaults.
    rate_per_minute: int | None
    burst: int | None

    def usable(self, now: datetime) -> str | None:
        """Why this key may not be used now (revoked, expired), or None."""
        if self.revoked_at is not None:
            return "API key revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "API key expired"
        return None

    def to_redis(self) -> dict[str, str]:
        return {
            "key_id": self.key_id,
            "company_id": self.company_id,
            "name": self.name,
            "scopes": " ".join(sorted(self.scopes)),
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else "",
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else "",
            "rate_per_minute": str(self.rate_per_minute or ""),
            "burst": str(self.burst or ""),
        }

    @classmethod
    def from_redis(cls, row: dict[str, str]) -> ApiKey:
        def when(value: str) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return cls(
            key_id=row["key_id"],
            company_id=row["company_id"],
            name=row.get("name", ""),
            scopes=frozenset(row.get("scopes", "").split()),
            created_at=datetime.fromisoformat(row["created_at"]),
            expires_at=when(row.get("expires_at", "")),
            revoked_at=when(row.get("revoked_at", "")),
            rate_per_minute=int(row["rate_per_minute"]) if row.get("rate_per_minute") else None,
            burst=int(row["burst"]) if row.get("burst") else None,
        )

    def public(self) -> dict[str, Any]:
        """What the CLI lists: everything but the key, which is not stored anywhere."""
        return {
            "key_id": self.key_id,
            "company_id": self.company_id,
            "name": self.name,
            "scopes": sorted(self.scopes),
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "rate_per_minute": self.rate_per_minute,
            "burst": self.burst,
        }


class UnknownScope(ValueError):
    pass


class ApiKeys:
    def __init__(self, redis: Client, keyspace: Keyspace) -> None:
        self.redis = redis
        self.ks = keyspace

    async def create(
        self,
        *,
        company_id: str,
        scopes: set[str],
        name: str = "",
        expires_at: datetime | None = None,
        rate_per_minute: int | None = None,
        burst: int | None = None,
        key_id: str | None = None,
        secret: str | None = None,
    ) -> tuple[str, ApiKey]:
        """A new key; returns it in clear (the only time it exists anywhere) with its record. ``key_id`` and
        ``secret``: chosen by the caller (an idempotent request repeats them, key_admin.py); writing the same
        ones again is harmless."""
        unknown = scopes - set(SCOPES)
        if unknown:
            raise UnknownScope(f"unknown scopes: {', '.join(sorted(unknown))}; known: {', '.join(SCOPES)}")
        secret = secret or new_secret()
        record = ApiKey(
            key_id=key_id or f"key_{ULID()}",
            company_id=company_id,
            name=name,
            scopes=frozenset(scopes),
            created_at=datetime.now(UTC),
            expires_at=expires_at,
            revoked_at=None,
            rate_per_minute=rate_per_minute,
            burst=burst,
        )
        hashed = digest(secret)
        # Three keys in three slots (Redis Cluster), so no MULTI: the indexes first, the record last. The key
        # works only once its record exists, and by then it can be listed and revoked; a crash before leaves
        # an id that leads to nothing (``by_id`` answers None).
        await self.redis.sadd(self.ks.api_keys(), record.key_id)
        await self.redis.set(self.ks.api_key_id(record.key_id), hashed)
        await self.redis.hset(self.ks.api_key(hashed), mapping=cast(Any, record.to_redis()))
        return secret, record

    async def lookup(self, key: str) -> ApiKey | None:
        row = cast("dict[str, str]", await self.redis.hgetall(self.ks.api_key(digest(key))))
        return ApiKey.from_redis(row) if row else None

    async def by_id(self, key_id: str) -> ApiKey | None:
        hashed = await self.redis.get(self.ks.api_key_id(key_id))
        if hashed is None:
            return None
        hashed = str(hashed)
        row = cast("dict[str, str]", await self.redis.hgetall(self.ks.api_key(hashed)))
        return ApiKey.from_redis(row) if row else None

    async def revoke(self, key_id: str) -> ApiKey | None:
        hashed = await self.redis.get(self.ks.api_key_id(key_id))
        if hashed is None:
            return None
        key = self.ks.api_key(str(hashed))
        revoked = await self.redis.hmget(key, ["key_id", "revoked_at"])
        if not revoked[0]:
            return None  # an id whose record was never written (see ``create``): nothing to revoke
        if not revoked[1]:
            await self.redis.hset(key, "revoked_at", datetime.now(UTC).isoformat())
        return await self.by_id(key_id)

    async def all(self, *, company_id: str | None = None) -> list[ApiKey]:
        ids = sorted(await self.redis.smembers(self.ks.api_keys()))
        keys = [k for k in [await self.by_id(str(i)) for i in ids] if k is not None]
        return [k for k in keys if company_id is None or k.company_id == company_id]
