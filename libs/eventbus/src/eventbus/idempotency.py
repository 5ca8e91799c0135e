"""Side effects once: the group's processed-id set.

An event id is marked processed in the same Lua call that acknowledges its entry (``settle_packed`` in
``lua/prelude.lua``, run by ``read.lua`` and ``admit.lua`` ahead of the next read), so a crash can never leave
an acknowledged event unmarked or a marked one unacknowledged. Admission (``admit_all`` in the prelude)
acknowledges and skips any entry whose event id is already marked: a replay, a producer's second append, a
reclaim of an entry handled just before its consumer died. The marks are kept for
``BusSettings.processed_retention`` and at most ``processed_maxlen`` per (channel, group), which must cover the
stream's age (``docs/retention.md``). This module is the Python side: how acknowledgements travel to those
scripts, and the write acknowledgement of the marks.
"""

from __future__ import annotations

from typing import Any

from redis.commands.core import AsyncScript

from eventbus.channel_setup import ChannelSetup
from eventbus.durability import run_acknowledged
from eventbus.ledger import Delivery
from eventbus.observe import ChannelObserver


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
