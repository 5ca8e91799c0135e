"""cProfile around a service's whole life, on demand: ``PROFILE_DIR=/tmp/prof`` writes ``<service>.prof`` there
when the process stops (read it with ``python -m pstats``). Off unless the variable is set.

For the end-to-end benchmarks (``bench/whatsapp_turn.py --profile DIR``): py-spy is not in the lock, and a
service's CPU per turn is spread over one event loop, so a deterministic profile of the main thread (where
uvicorn runs the loop) says which function costs what. The clock is the process's CPU time, not the wall's:
on a shared machine the wall clock charges other processes' turns on the core to whatever was running.
Its overhead roughly doubles the CPU: read shares, not absolute times.
"""

from __future__ import annotations

import cProfile
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType


@contextmanager
def profiled(service: str, directory: Path | None) -> Iterator[None]:
    """Profile the block when ``directory`` is set and dump the stats to ``directory/<service>.prof`` at its
    end, however it ends: uvicorn re-raises the SIGTERM it stopped on once it has shut down, and the default
    action ends the process without unwinding, so a SIGTERM writes the profile before that action runs."""
    if directory is None:
        yield
        return
    profiler = cProfile.Profile(time.process_time)

    def dump() -> None:
        profiler.disable()
        directory.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(directory / f"{service}.prof")

    def terminated(signum: int, frame: FrameType | None) -> None:
        dump()
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    previous = signal.signal(signal.SIGTERM, terminated)
    profiler.enable()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        dump()
