"""The registry of Evolution instances, in Redis under the service's own keys (named in keys.py).

Per instance (Evolution's instance *name* is the natural key, as webhooks carry it) one hash, tagged with the
name so that instances spread over a Redis Cluster's shards::

    wb:svc:evolution-manager:{<name>}:instance
      instance_id ins_…   company_id   channel   webhook_secret   api_key   created_at   updated_at
      status  status_details  status_at  status_seq  announced_seq      (see statuses.py)

plus the indexes kept on write (no SCAN on request paths): every name, the names of one company, the name of
an ``ins_`` id. They span instances, so each is a key in a slot of its own and is written outside the
instance's transaction: before it the entries that make the instance findable, after it the removal from a
company it left. A reader may therefore meet an index entry ahead of the hash, or one left behind by a crash;
each read checks the hash itself (:meth:`Registry.list`, :meth:`Registry.by_id`).

Secrets are stored because they must be used (the webhook secret is the JWT's HMAC key; the API key is sent
to Evolution): encrypted at rest (``servicekit.secretbox``, keys from ``SECRETS_KEYS``), write-only at the
API and SecretStr in memory, so neither a Redis dump nor a repr leaks them.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import structlog
from eventbus import BusUnavailable, Client, Keys
from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter
from redis.exceptions import RedisError, WatchError
from servicekit import lua
from servicekit.secretbox import SecretBox
from ulid import ULID

from evolution_manager.errors import InstanceTaken, TokenRequired, UnknownInstance
from evolution_manager.keys import ServiceKeys

log = structlog.get_logger("evolution_manager.registry")

InstanceName = str
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
#: Instance ids whose name :meth:`Registry.by_id` remembers (a process serves a few hundred instances at most).
NAMES_REMEMBERED = 4096


class InstanceConfig(BaseModel):
    """What an operator registers: the admin API's PUT body, and one entry of ``EVOLUTION_INSTANCES_FILE``."""

    model_config = ConfigDict(extra="ignore")

    company_id: str = Field(min_length=1, max_length=64, pattern=r"^\S+$")
    #: Sent by Evolution as the custom header, or used as its `jwt_key`; HS256 wants a long key.
    webhook_secret: SecretStr | None = Field(None, min_length=16, max_length=512)
    api_key: SecretStr | None = Field(None, min_length=1, max_length=512)
    channel: Literal["whatsapp"] = "whatsapp"
    #: Created by the platform on its Evolution server: ``EVOLUTION_API_KEY`` may be used for it when it has
    #: no key of its own. Only the platform operator sets it; left out, the stored value is kept.
    managed: bool | None = None


class InstanceFileEntry(InstanceConfig):
    model_config = ConfigDict(extra="forbid")  # a typo in a hand-written file should stop the start

    name: str = Field(pattern=NAME_PATTERN)


_FILE = TypeAdapter(list[InstanceFileEntry] | dict[str, list[InstanceFileEntry]])


def read_instances_file(path: Path) -> list[InstanceFileEntry]:
    """Raises ``ValueError`` (pydantic's ``ValidationError``) naming the entry and field that is wrong."""
    parsed = _FILE.validate_json(path.read_bytes())
    if isinstance(parsed, dict):
        if set(parsed) != {"instances"}:
            raise ValueError(f"{path}: expected a list or {{'instances': [...]}}")
        return parsed["instances"]
    return parsed


@dataclass(frozen=True)
class Instance:
    instance_id: str
    name: str
    company_id: str
    channel: str
    status: str
    webhook_secret: SecretStr | None
    api_key: SecretStr | None
    status_seq: int = 0
    managed: bool = False

    @classmethod
    def from_hash(cls, fields: Mapping[bytes | str, bytes | str]) -> Instance:
        f = {_text(k): _text(v) for k, v in fields.items()}
        return cls(
            instance_id=f["instance_id"],
            name=f["name"],
            company_id=f["company_id"],
            channel=f.get("channel", "whatsapp"),
            status=f.get("status", "unknown"),
            webhook_secret=SecretStr(f["webhook_secret"]) if f.get("webhook_secret") else None,
            api_key=SecretStr(f["api_key"]) if f.get("api_key") else None,
            status_seq=int(f.get("status_seq", "0")),
            managed=f.get("managed") == "1",
        )

    def public(self) -> dict[str, Any]:
        """What the admin API shows: never the secrets."""
        return {
            "instance_id": self.instance_id,
            "name": self.name,
            "company_id": self.company_id,
            "channel": self.channel,
            "status": self.status,
        }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@asynccontextmanager
async def redis_errors() -> AsyncIterator[None]:
    """Redis trouble on a request path is ours and transient: 503 with Retry-After, never a 4xx that
    Evolution would not retry."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise BusUnavailable(f"instance registry unavailable: {exc}") from exc


_TRANSITION = lua.script("evolution_manager", "status_transition")
_ANNOUNCED = lua.script("evolution_manager", "status_announced")


class Registry:
    def __init__(self, redis: Client, keys: Keys, *, box: SecretBox, cache_seconds: float = 0.0) -> None:
        self.redis = redis
        self._box = box
        self._keys = ServiceKeys(keys)
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Instance | None]] = {}
        #: ``ins_`` id → name: an id is drawn once for a name and never changes (``put``), so what was read
        #: stays true; only ids that resolved are kept, at most ``NAMES_REMEMBERED``.
        self._names: dict[str, str] = {}
        self._transition = redis.register_script(_TRANSITION)
        self._announced = redis.register_script(_ANNOUNCED)

    async def get(self, name: str) -> Instance:
        async with redis_errors():
            fields = await self.redis.hgetall(self._keys.instance(name))
        if not fields:
            raise UnknownInstance(name)
        return self._opened(Instance.from_hash(fields))

    async def cached(self, name: str) -> Instance:
        """:meth:`get`, remembered for ``cache_seconds``: webhooks arrive in bursts per instance, and this
        saves a round trip each. A change made through another replica shows here within that time.

        Names that are not registered are remembered too: were only known names answered from memory, an
        unsigned webhook's answer time (microseconds against a Redis round trip) would tell which names
        exist, though the answers are alike (authentication.py)."""
        hit = self._cache.get(name)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            if hit[1] is None:
                raise UnknownInstance(name)
            return hit[1]
        try:
            instance: Instance | None = await self.get(name)
        except UnknownInstance:
            instance = None
        if self._cache_seconds > 0:
            if len(self._cache) > 10_000:  # names come from outside: bound what they can fill
                self._cache.clear()
            self._cache[name] = (now + self._cache_seconds, instance)
        if instance is None:
            raise UnknownInstance(name)
        return instance

    async def by_id(self, instance_id: str) -> Instance:
        """The instance as stored now (its hash is read every time: a rotated API key is used at once); the
        id's name is read once (every reply to a lead resolves the same few ids)."""
        name = self._names.get(instance_id)
        if name is None:
            async with redis_errors():
                stored = await self.redis.get(self._keys.instance_id(instance_id))
            if stored is None:
                raise UnknownInstance(instance_id)
            name = _text(stored)
        instance = await self.get(name)
        if instance.instance_id != instance_id:
            # An id drawn by a registration that lost a race to another (see put), or a name deleted and
            # registered anew (another id): never handed out.
            self._names.pop(instance_id, None)
            raise UnknownInstance(instance_id)
        if instance_id not in self._names:
            if len(self._names) >= NAMES_REMEMBERED:
                self._names.clear()
            self._names[instance_id] = name
        return instance

    async def list(self, company_id: str | None = None) -> list[Instance]:
        index = self._keys.company(company_id) if company_id else self._keys.all_instances()
        async with redis_errors():
            names = sorted(_text(n) for n in await self.redis.smembers(index))
            # Not a transaction: on a cluster the hashes are in many slots (redis-py sends one batch per node).
            async with self.redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hgetall(self._keys.instance(name))
                rows: Iterable[Mapping[bytes | str, bytes | str]] = await pipe.execute()
        # The hash decides: a name indexed ahead of its hash, or left in a company it moved from, is not shown.
        instances = [self._opened(Instance.from_hash(row)) for row in rows if row]
        return [i for i in instances if company_id is None or i.company_id == company_id]

    async def put(
        self, name: str, config: InstanceConfig, *, operator: bool = False
    ) -> tuple[Instance, bool]:
        """Register or update ``name``; returns it and whether it was created. The ``ins_`` id never changes;
        secrets left out of ``config`` keep their stored values.

        Create-if-absent: an instance of another company raises :class:`InstanceTaken` (409), decided inside
        the transaction, so of two companies registering one new name at once exactly one gets it. A company
        creates an instance only with its own token (:class:`TokenRequired`; registration.py has Evolution
        verify it first). Only the platform operator (``operator=True``) creates one without a token or
        changes an instance's company, and a move is logged.

        The hash is written in a WATCH/MULTI of its own (one slot). The indexes that find it are written
        before, so that an id known from the hash (an ``instance.status`` published by a refresh, the answer
        to this call) always resolves, even after a crash between the two steps; the removal from the
        company the instance left comes after, so that the instance is in some company's list throughout.
        Two registrations moving one instance back and forth between companies at the same moment can leave
        it out of its company's list (the late removal of the first); its next registration puts it back.
        """
        key = self._keys.instance(name)
        self._cache.pop(name, None)
        now = datetime.now(UTC).isoformat()
        drawn: str | None = None  # the id drawn for a creation, indexed before its hash exists
        indexed = False  # whether this call put the name in config.company_id's index
        async with redis_errors():
            async with self.redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        stored_id, old_company = await pipe.hmget(key, ["instance_id", "company_id"])
                        created = stored_id is None
                        if stored_id is None:
                            if config.api_key is None and not operator:
                                raise TokenRequired(name)
                            drawn = drawn or f"ins_{ULID()}"  # the same id on a retry: one index entry
                            instance_id = drawn
                        else:
                            instance_id = _text(stored_id)
                            moving = old_company is not None and _text(old_company) != config.company_id
                            if moving and not operator:
                                await self._undo(name, config.company_id, drawn, indexed=indexed)
                                raise InstanceTaken(name)
                        await self._index(name, instance_id, config.company_id, with_id=created)
                        indexed = True
                        pipe.multi()  # type: ignore[no-untyped-call]
                        fields: dict[str, str] = {
                            "name": name,
                            "company_id": config.company_id,
                            "channel": config.channel,
                            "updated_at": now,
                        }
                        if created:
                            fields |= {
                                "instance_id": instance_id,
                                "created_at": now,
                                "status": "unknown",
                            }
                        if config.webhook_secret is not None:
                            fields["webhook_secret"] = self._box.seal(
                                config.webhook_secret.get_secret_value()
                            )
                        if config.api_key is not None:
                            fields["api_key"] = self._box.seal(config.api_key.get_secret_value())
                        if config.managed is not None:
                            fields["managed"] = "1" if config.managed else "0"
                        pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
                        await pipe.execute()
                        break
                    except WatchError:
                        continue
            if drawn is not None and drawn != instance_id:
                # Another registration created the instance first: the id drawn here was never stored.
                await self.redis.delete(self._keys.instance_id(drawn))
            if old_company is not None and _text(old_company) != config.company_id:
                await self.redis.srem(self._keys.company(_text(old_company)), name)
                log.info(
                    "instance_moved",
                    instance=name,
                    from_company=_text(old_company),
                    to_company=config.company_id,
                )
        return await self.get(name), created

    async def _undo(self, name: str, company_id: str, drawn: str | None, *, indexed: bool) -> None:
        """What a registration that lost the name to another company had indexed (a WATCH retry)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            if drawn is not None:
                pipe.delete(self._keys.instance_id(drawn))
            if indexed:
                pipe.srem(self._keys.company(company_id), name)
            await pipe.execute()

    async def remove(self, name: str, *, company_id: str | None = None) -> Instance:
        """Unregister ``name`` (its webhooks are refused from then on; Evolution keeps the instance). With
        ``company_id``, only that company's instance (UnknownInstance otherwise). The hash goes first: from
        then on the name is unknown, and what indexes still name it is skipped (``list``) or repaired by a
        later registration of the name."""
        instance = await self.get(name)
        if company_id is not None and instance.company_id != company_id:
            raise UnknownInstance(name)
        self._cache.pop(name, None)
        async with redis_errors():
            await self.redis.delete(self._keys.instance(name))
            async with self.redis.pipeline(transaction=False) as pipe:  # three slots: no transaction
                pipe.srem(self._keys.company(instance.company_id), name)
                pipe.srem(self._keys.all_instances(), name)
                pipe.delete(self._keys.instance_id(instance.instance_id))
                await pipe.execute()
        log.info("instance_removed", instance=name, company=instance.company_id)
        return instance

    def _opened(self, instance: Instance) -> Instance:
        """The instance with its secrets decrypted (they are stored sealed, servicekit.secretbox)."""
        secret, key = instance.webhook_secret, instance.api_key
        return replace(
            instance,
            webhook_secret=SecretStr(self._box.open(secret.get_secret_value())) if secret else None,
            api_key=SecretStr(self._box.open(key.get_secret_value())) if key else None,
        )

    async def _index(self, name: str, instance_id: str, company_id: str, *, with_id: bool) -> None:
        """Idempotent, so that each registration also repairs what a crash left out. Three keys in three
        slots: a plain pipeline, not a transaction."""
        async with self.redis.pipeline(transaction=False) as pipe:
            if with_id:
                pipe.set(self._keys.instance_id(instance_id), name)
            pipe.sadd(self._keys.all_instances(), name)
            pipe.sadd(self._keys.company(company_id), name)
            await pipe.execute()

    async def begin_transition(self, instance: Instance, status: str, details: dict[str, Any]) -> int:
        """0: nothing to announce; n > 0: announce transition number n (see statuses.py)."""
        async with redis_errors():
            seq = int(
                await self._transition(
                    keys=[self._keys.instance(instance.name)],
                    args=[status, json.dumps(details), datetime.now(UTC).isoformat()],
                )
            )
        if seq < 0:
            raise UnknownInstance(instance.name)
        return seq

    async def announced(self, instance: Instance, seq: int) -> None:
        async with redis_errors():
            await self._announced(keys=[self._keys.instance(instance.name)], args=[seq])
