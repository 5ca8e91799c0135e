"""The machine is shared: other sessions' test suites run on the same two cores. Before each run a benchmark
waits (a while) for a quiet machine, and measures a run that others disturbed again, all within one time
budget for the whole benchmark (``--noise-budget``). Shared by ``bus_throughput.py``, ``bus_cluster.py`` and
``evolution_webhooks.py``; ``cpu_seconds`` (a process's CPU from /proc) by the service benchmarks too."""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds all processes (and the hypervisor, as steal) have used since boot, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (
            int(v) for v in stat.readline().split()[1:9]
        )
    return (user + nice + system + irq + softirq + steal) / _TICK


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process so far, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / _TICK


def wait_for_quiet(threshold: float, longest: float) -> float:
    """Wait (up to ``longest`` seconds) until the machine is quieter than ``threshold`` busy cores over one
    second: other sessions share this machine and a burst of theirs ruins a round. Returns the last load."""
    deadline = time.monotonic() + longest
    while True:
        before = machine_busy()
        time.sleep(1.0)
        load = machine_busy() - before
        if load <= threshold or time.monotonic() > deadline:
            return load


def add_options(p: argparse.ArgumentParser, *, budget: float, quiet_wait: float, quiet_below: float) -> None:
    p.add_argument(
        "--noise-budget",
        type=float,
        default=budget,
        help="seconds the whole benchmark may spend waiting for a quiet machine and measuring disturbed runs\n"
        "again (0: never wait, never repeat)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=quiet_wait,
        help="before each run, wait up to this long for a quiet machine",
    )
    p.add_argument(
        "--quiet-below",
        type=float,
        default=quiet_below,
        help="quiet: other processes use fewer cores than this",
    )
    p.add_argument(
        "--repeat-busy", type=int, default=1, help="measure a disturbed run again, up to this many times"
    )
    p.add_argument(
        "--busy-above",
        type=float,
        default=0.4,
        help="disturbed: other processes used more cores than this, on average, during a run",
    )


@dataclass
class Noise:
    """The budget and what it was spent on, for the options :func:`add_options` adds. A benchmark measures::

    for attempt in noise.attempts():
        noise.settle()
        started = time.monotonic()
        run = ...
        if not noise.again(others_during(run), attempt, started):
            break
    """

    args: argparse.Namespace
    budget: float = 0.0  # seconds left for waiting on a quiet machine and repeating disturbed runs
    repeated: int = 0  # disturbed runs measured again

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Noise:
        return cls(args, budget=args.noise_budget)

    def attempts(self) -> range:
        return range(self.args.repeat_busy + 1)

    def settle(self) -> None:
        """Before a run: wait for a quiet machine, within what is left of the budget."""
        if self.budget <= 0:
            return
        waited = time.monotonic()
        load = wait_for_quiet(self.args.quiet_below, min(self.args.quiet_wait, self.budget))
        self.budget -= time.monotonic() - waited
        if load > self.args.quiet_below:
            print(f"  (machine still busy: {load:.2f} cores in use by others; running anyway)")

    def again(self, others: float, attempt: int, started: float) -> bool:
        """After a run: measure it again? Yes if others disturbed it and the budget and attempts allow."""
        if others <= self.args.busy_above or attempt == self.args.repeat_busy or self.budget <= 0:
            return False
        self.budget -= time.monotonic() - started
        self.repeated += 1
        print(f"  (disturbed: other processes used {others:.2f} cores; measuring again)", flush=True)
        return True
