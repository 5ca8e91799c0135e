"""The garbage collector, tuned for a long-running service whose handlers allocate in bursts.

CPython's cyclic collector is triggered by allocation counts, not memory. A handled event allocates a few
hundred tracked objects (pydantic models, futures, envelopes), so with the default young-generation
threshold (700) it ran every few messages, and each full collection walked the whole startup heap (every
module, every pydantic schema): in agent-runtime, drained alone, ~15 % of a message's CPU went to the
collector (docs/bench/agent-runtime.md). Two standard remedies, both from the ``gc`` module's own docs:

- ``gc.freeze()`` once the process has started: what start-up built lives as long as the process, so it
  moves to the permanent generation and no collection walks it again;
- a young-generation threshold of 10,000: collections run ~14 times less often. Reference counting still
  frees everything that is not in a cycle at once; only cyclic garbage waits a little longer.
"""

from __future__ import annotations

import gc

#: Allocations (minus deallocations) of tracked objects between two young-generation collections.
YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Collect what start-up left behind, freeze the rest, and raise the young-generation threshold. Call
    it once, after imports and app construction, before serving."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
