"""Side effects once: the group's processed ids.

An event id is marked processed in the same Lua call that acknowledges its entry (``settle_packed`` in
``lua/prelude.lua``, run by ``read.lua`` and ``admit.lua`` ahead of the next read), so a crash can never leave
an acknowledged event unmarked or a marked one unacknowledged. Admission (``admit_all`` in the prelude)
acknowledges and skips any entry whose event id is already marked: a replay, a producer's second append, a
reclaim of an entry handled just before its consumer died.

Where a mark lives (``Keys.processed*``, all under the channel's hash tag, so in the stream's cluster slot):

- an id that is a ULID (``evt_<ULID>`` or bare) handled within ``BUCKET_SKEW_MS`` (5 minutes) of its own
  time: in the SET of its *bucket*, the ULID's first 7 characters (``BUCKET_MS``, 32.768 s of ids),
  ``…:processed:<group>:<bucket>``. A SET member costs ~80 B of Redis memory, a sorted set member ~128 B
  (``docs/retention.md``). The bucket follows from the id alone, so every later copy of the event finds it;
  admission asks one ``SMISMEMBER`` per bucket a batch touches (usually one or two).
- anything else in the sorted set ``…:processed:<group>``, scored by the time of marking: ids that are not
  ULIDs (``eventbus.ids.EVENT_ID`` admits UUIDs), ids handled long after (or before) their own time, whose
  bucket would be trimmed too early (or late), and the marks written before buckets existed. Admission asks
  it (one ``ZMSCORE``) for the ids no bucket holds, so an upgrade runs no event twice.

Both are kept for ``BusSettings.processed_retention`` and at most ``processed_maxlen`` per (channel, group)
each, which must cover the stream's age (``docs/retention.md``). Buckets are trimmed whole, oldest first,
through their index ``…:processed:<group>:buckets`` (bucket → start ms) and the running count
``…:processed:<group>:count``: by age once a bucket's end is older than the retention plus the skew; by
count while the remaining buckets still hold ``processed_maxlen`` ids, checked when a bucket begins, so
never below the bound and above it by at most the oldest bucket and the newest (~66 s of traffic).

No TTLs on buckets: a bucket expiring behind the count's back would make the count lie, and the trim by count
would then drop marks the stream can still redeliver. Nothing needs one: every write and trim is one script,
and ``forget_processed`` deletes the buckets with their index in one step, so no bucket is ever left that
the index does not name. A group that stops for good keeps its marks, as its sorted set always did.

This module is the Python side: how acknowledgements travel to those scripts, and the write acknowledgement
of the marks.
"""

from __future__ import annotations

from typing import Any

from redis.commands.core import AsyncScript

from eventbus.channel_setup import ChannelSetup
from eventbus.durability import run_acknowledged
from eventbus.ledger import Delivery
from eventbus.observe import ChannelObserver

#: A bucket's span: the 7 leading characters of a ULID fix its time to 32^3 ms (``lua/prelude.lua``).
BUCKET_MS = 32**3
#: How far from its own time an id may be handled and still go to its bucket (``lua/prelude.lua``).
BUCKET_SKEW_MS = 300_000


class ProcessedSet:
    """Marks handled events processed, with their acknowledgement, for one channel and group."""

    def __init__(self, setup: ChannelSetup, observer: ChannelObserver) -> None:
        self._setup = setup
        self._observer = observer
        settings = setup.bus.settings
        ttl_ms = int(settings.processed_retention.total_seconds() * 1000)
        #: the scripts' ``processed_ttl_ms|processed_max`` argument
        self.bounds = f"{ttl_ms}|{settings.processed_maxlen}"

    async def run_marking(self, script: AsyncScript, args: list[Any], acks: list[Delivery]) -> Any:
        """Run a read/admit script that also writes ``acks`` (processed marks + XACK). With a write
        acknowledgement level set, wait until the marks are on the replicas too: a mark lost in a failover
        means the event is handled again (idempotent side effects absorb it, but it costs a repeat)."""
        setup = self._setup
        if acks:
            self._observer.settling()
        ack = setup.bus.write_ack
        if not acks or not ack.enabled:
            return await setup.lane.run(script, setup.script_keys, args)
        result, missing = await run_acknowledged(setup.bus.redis, ack, script, setup.script_keys, args)
        if missing is not None:
            self._observer.log.warning("consumer_marks_not_acknowledged", missing=missing, count=len(acks))
        return result


def packed(acks: list[Delivery]) -> list[str]:
    """Acknowledgements as ``settle_packed`` in ``lua/prelude.lua`` reads them: one argument for all, then the
    ordering members of the entries that have one."""
    text = "".join(f"{d.entry_id} {d.event_id} {1 if d.member else 0}\n" for d in acks)
    return [text, *(d.member for d in acks if d.member)]
