"""Every Redis key and Pub/Sub channel name the bus uses, built only here.

All keys of one channel share the hash tag ``{<prefix>:<channel>}``: each Lua script touches one channel's
stream together with a group's processed ids, leases, ordering index and dead letters, so they must live in
one Redis Cluster slot; different channels spread over the shards. The consumer scripts name the processed
ids' time buckets themselves (``Keys.processed_bucket``, from the event ids): Redis Cluster lets a script reach
undeclared keys of the slot its declared keys are in. The prefix isolates deployments (and tests) sharing a
server.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "wb"
    #: Prepended to the catalog channel name for live Pub/Sub; empty in production so that a plain
    #: ``SUBSCRIBE message.received`` works, set in tests that share one server.
    live_prefix: str = ""
    #: Sharded Pub/Sub (Redis Cluster): SPUBLISH runs inside the publish script, whose keys are all in the
    #: channel's slot, so the live channel carries the same hash tag: ``message.received{wb:message.received}``.
    sharded: bool = False

    def _tag(self, channel: str) -> str:
        return f"{{{self.prefix}:{channel}}}"

    def stream(self, channel: str) -> str:
        return f"{self._tag(channel)}:stream"

    def retention(self, channel: str) -> str:
        """A hash kept with the stream: ``floor`` (the oldest entry any consumer group still needs, cached by the
        publish script until ``floor_until`` ms), and per group the unread entries the hard ceiling dropped
        (``dropped:<group>``) and when it last did (``dropped_at:<group>``, ms)."""
        return f"{self._tag(channel)}:retention"

    def dedupe(self, channel: str, key: str) -> str:
        return f"{self._tag(channel)}:dedupe:{key}"

    def processed(self, channel: str, group: str) -> str:
        """The group's processed ids that have no bucket (a sorted set scored by the time of marking): ids that
        are not ULIDs, ids handled far from their own time, marks written before buckets. The group's other
        processed keys are this name plus ``:<suffix>`` (``eventbus.idempotency``)."""
        return f"{self._tag(channel)}:processed:{group}"

    def processed_bucket(self, channel: str, group: str, bucket: str) -> str:
        """A SET of the processed ids whose ULID starts with ``bucket`` (7 characters: 32.768 s of ids)."""
        return f"{self.processed(channel, group)}:{bucket}"

    def processed_index(self, channel: str, group: str) -> str:
        """The group's buckets (sorted set: bucket → its start in ms), oldest first, for the trim."""
        return f"{self.processed(channel, group)}:buckets"

    def processed_count(self, channel: str, group: str) -> str:
        """How many ids the group's buckets hold (a string), for the trim by count."""
        return f"{self.processed(channel, group)}:count"

    def leases(self, channel: str, group: str) -> str:
        return f"{self._tag(channel)}:leases:{group}"

    def order(self, channel: str, group: str) -> str:
        return f"{self._tag(channel)}:order:{group}"

    def dead_letters(self, channel: str, group: str) -> str:
        return f"{self._tag(channel)}:dlq:{group}"

    def live(self, channel: str) -> str:
        if self.sharded:
            return f"{self.live_prefix}{channel}{self._tag(channel)}"
        return self.exact_live(channel)

    def exact_live(self, channel: str) -> str:
        """The live channel under the catalog's own name, whatever the deployment: what a consumer following
        the catalog subscribes to. On one server it is :meth:`live`; on a cluster the publish script also
        sends a classic ``PUBLISH`` to it (``docs/cluster.md``, "Live channels under the catalog's names")."""
        return f"{self.live_prefix}{channel}"

    def service(self, service: str, *parts: str) -> str:
        """A key in a service's own namespace: ``wb:svc:<service>:<parts…>``; services never read another's."""
        return ":".join((self.prefix, "svc", service, *parts))
