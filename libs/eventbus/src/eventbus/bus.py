"""Publishing: one atomic append to the channel's durable stream plus a live PUBLISH.

Plain Pub/Sub loses whatever a subscriber misses while it is down or slow, so the stream is the source of
truth and Pub/Sub serves live taps only (``docs/architecture.md``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from eventbus import catalog, metrics, tracing
from eventbus.batching import NodeBatchers, ScriptBatcher
from eventbus.client import Client, connect, unreachable, warm
from eventbus.durability import WriteAck, run_acknowledged
from eventbus.envelope import Envelope, Payload
from eventbus.errors import BusUnavailable, InvalidEvent, WriteNotAcknowledged
from eventbus.eventlog import EventLog
from eventbus.keys import Keys
from eventbus.scripts import Scripts
from eventbus.settings import BusSettings

log = structlog.get_logger("eventbus")

# Idempotency keys come from outside (message ids, webhook fields): long ones are hashed so that a key
# name stays small and printable whatever a sender puts in it.
_MAX_DEDUPE_KEY = 128


@dataclass(frozen=True)
class Published:
    """What a publish did. ``duplicate`` means the idempotency key was seen: ``event_id`` is the first one's."""

    event_id: str
    entry_id: str | None
    duplicate: bool


class Bus:
    """A handle on the event bus for one service (``source``). Safe to share between tasks."""

    def __init__(self, redis: Client, *, source: str, settings: BusSettings | None = None) -> None:
        self.redis = redis
        self.source = source
        self.settings = settings or BusSettings()
        #: On a cluster, plain PUBLISH is broadcast to every node; sharded Pub/Sub stays on the channel's shard.
        self.cluster = not isinstance(redis, Redis)
        self.sharded = self.settings.sharded_pubsub or self.cluster
        self.keys = Keys(self.settings.prefix, self.settings.live_prefix, sharded=self.sharded)
        self.scripts = Scripts.register(redis)
        self.write_ack = WriteAck.from_settings(self.settings)
        # Concurrent publishes share round trips (eventbus.batching): on one server, and per node on a cluster.
        # Not with write acknowledgement, which pipelines its own WAIT after each write.
        self._publish_batched: ScriptBatcher | NodeBatchers | None = None
        if not self.write_ack.enabled:
            self._publish_batched = (
                ScriptBatcher(redis, self.scripts.publish)
                if isinstance(redis, Redis)
                else NodeBatchers(redis, self.scripts.publish)
            )
        self._publish_cmd = "SPUBLISH" if self.sharded else "PUBLISH"
        self._events = EventLog(self.settings.event_log_level, self.settings.event_log_sample)
        #: On a cluster the sharded channel carries a hash tag; a classic PUBLISH under the catalog's name
        #: beside it keeps ``SUBSCRIBE message.received`` working (BusSettings.exact_name_pubsub).
        self._exact_live = self.sharded and self.settings.exact_name_pubsub

    @classmethod
    @asynccontextmanager
    async def from_url(
        cls, url: str, *, source: str, settings: BusSettings | None = None, **options: Any
    ) -> AsyncIterator[Bus]:
        redis = connect(url, **options)
        bus: Bus | None = None
        try:
            await warm(redis)
            bus = cls(redis, source=source, settings=settings)
            yield bus
        finally:
            if bus is not None:
                await bus.aclose()
            await redis.aclose()

    async def aclose(self) -> None:
        """Close what the bus opened itself (its publish lines); not the client it was given."""
        if self._publish_batched is not None:
            await self._publish_batched.aclose()

    async def ping(self) -> bool:
        """Readiness: can we reach Redis right now?"""
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def publish(self, event: Envelope[Any], *, dedupe_key: str | None = None) -> Published:
        """Append ``event`` to its channel's stream and announce it live, atomically.

        ``dedupe_key`` is the producer's natural key (catalog "Idempotência", e.g. ``instance_id + message_id``):
        while it is retained, publishing again returns the first event's id and publishes nothing.

        Raises :class:`~eventbus.errors.InvalidEvent` for an event outside the catalog and
        :class:`~eventbus.errors.BusUnavailable` when Redis cannot take the write; in both cases nothing was
        published. When this returns, the event is in Redis (and on disk as far as the server's AOF policy says).
        """
        catalog.check(event)
        with tracing.publishing(event) as event:
            keys, args = self._call(event, dedupe_key)
            try:
                if self._publish_batched is not None:
                    reply, missing = await self._publish_batched(keys, args), None
                elif self.write_ack.enabled:
                    reply, missing = await run_acknowledged(
                        self.redis, self.write_ack, self.scripts.publish, keys, args
                    )
                else:
                    reply, missing = await self.scripts.publish(keys=keys, args=args), None
            except Exception as exc:
                raise self._failure(event, exc) from exc
            if missing is not None:
                log.warning("event_publish_not_acknowledged", missing=missing, **event.log_fields())
                raise WriteNotAcknowledged(f"{event.type} written but not acknowledged: {missing}")
        return self._published(event, reply)

    async def publish_many(
        self, events: Sequence[tuple[Envelope[Any], str | None]]
    ) -> list[Published | InvalidEvent | BusUnavailable]:
        """:meth:`publish` each ``(event, dedupe_key)``, sharing round trips without a task per event (a batch
        handler's replies). Each gets its own outcome, in order: what it published, or why it was not
        (``InvalidEvent`` outside the catalog, ``BusUnavailable``, ``WriteNotAcknowledged``). Events of one
        channel are appended in the order given, except with write acknowledgement, tracing or a cluster:
        there they are published one each, all at once (the per-node lines still batch them)."""
        outcomes: list[Published | InvalidEvent | BusUnavailable | None] = [None] * len(events)
        valid: list[int] = []
        for i, (event, _) in enumerate(events):
            try:
                catalog.check(event)
                valid.append(i)
            except InvalidEvent as exc:
                outcomes[i] = exc
        batcher = self._publish_batched
        if not isinstance(batcher, ScriptBatcher) or tracing.enabled():
            # A cluster's calls go node by node, write acknowledgement waits per write, and a traced publish
            # needs its own span.
            results = await asyncio.gather(
                *(self.publish(events[i][0], dedupe_key=events[i][1]) for i in valid), return_exceptions=True
            )
            for i, result in zip(valid, results, strict=True):
                outcomes[i] = _outcome(result)
        else:
            replies = await batcher.many([self._call(*events[i]) for i in valid])
            for i, reply in zip(valid, replies, strict=True):
                event = events[i][0]
                outcomes[i] = (
                    self._failure(event, reply)
                    if isinstance(reply, Exception)
                    else self._published(event, reply)
                )
        assert all(outcome is not None for outcome in outcomes)  # one each: checked, then sent
        return [outcome for outcome in outcomes if outcome is not None]

    def _call(
        self, event: Envelope[Any], dedupe_key: str | None
    ) -> tuple[list[str], list[str | int | bytes]]:
        """The publish script's keys and arguments for ``event``."""
        s = self.settings
        keys = [self.keys.stream(event.type), self.keys.retention(event.type)]
        if dedupe_key is not None:
            if len(dedupe_key) > _MAX_DEDUPE_KEY:
                dedupe_key = hashlib.sha256(dedupe_key.encode()).hexdigest()
            keys.append(self.keys.dedupe(event.type, dedupe_key))
        args: list[str | int | bytes] = [
            event.id,
            event.type,
            event.version,
            event.to_wire(),
            self.keys.live(event.type),
            s.stream_maxlen,
            int(s.stream_max_age.total_seconds() * 1000),
            int(s.dedupe_retention.total_seconds() * 1000),
            self._publish_cmd,
            s.ceiling,
            self.keys.exact_live(event.type) if self._exact_live else "",
        ]
        return keys, args

    def _failure(self, event: Envelope[Any], exc: Exception) -> BusUnavailable:
        """The error a publish that failed with ``exc`` raises; ``exc`` itself when it is a bug of ours."""
        if not unreachable(exc):
            raise exc  # a bug, not an outage: never disguised as one
        if isinstance(exc, RedisError | OSError):
            log.warning("event_publish_failed", error=str(exc), **event.log_fields())
            return BusUnavailable(f"cannot publish {event.type}: {exc}")
        log.warning("event_publish_failed", error=repr(exc), **event.log_fields())
        return BusUnavailable(f"cannot publish {event.type}: connection closed while writing")

    def _published(self, event: Envelope[Any], reply: Any) -> Published:
        appended, event_id, entry_id = reply
        if not appended:
            metrics.PUBLISH_DEDUPED.labels(event.type).inc()
            log.info("event_publish_deduplicated", first_event_id=event_id.decode(), **event.log_fields())
            return Published(event_id.decode(), None, duplicate=True)
        metrics.PUBLISHED.labels(event.type, event.source).inc()
        entry = entry_id.decode()
        self._events.published(event, entry)  # the catalog's logging rule (eventbus.eventlog)
        return Published(event.id, entry, duplicate=False)

    async def emit(
        self, payload: Payload, *, company_id: str, dedupe_key: str | None = None, **envelope: Any
    ) -> Published:
        """Wrap ``payload`` in a new envelope from this service and publish it (see :meth:`publish`)."""
        event = Envelope.new(payload, source=self.source, company_id=company_id, **envelope)
        return await self.publish(event, dedupe_key=dedupe_key)


def _outcome(result: Published | BaseException) -> Published | InvalidEvent | BusUnavailable:
    if isinstance(result, Published | InvalidEvent | BusUnavailable):
        return result
    raise result  # not an outage (a bug, a cancellation): it surfaces as publish would raise it
