"""What keeps a local system up while ``wolfgang up`` runs: the embedded Redis restarted from its append-only
file when it dies, a crashed service restarted with backoff, and every restart shown.

The services need nothing from us while Redis is away: their consumers treat a lost connection as an outage
(no attempt is counted) and wait for the server; the AOF gives back streams, groups, pending entries and the
ACL users (``users.acl``), so they carry on where they were. A process that keeps crashing is restarted
ever later (0.5 s, doubling, at most ``MAX_DELAY``); one that stayed up ``STABLE_AFTER`` seconds starts
again from the shortest delay.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import redis
from eventbus.errors import EventBusError
from eventbus.server import RedisServer

from wolfgang.runner import Child, Runner

FIRST_DELAY = 0.5
MAX_DELAY = 30.0
STABLE_AFTER = 30.0
POLL = 0.25
READY_TIMEOUT = 90.0

Say = Callable[[str], None]


def delay_after(failures: int) -> float:
    """Seconds to wait before restart number ``failures`` (1 for the first) of a process that keeps failing."""
    return float(min(FIRST_DELAY * 2 ** max(failures - 1, 0), MAX_DELAY))


async def keep_redis(server: RedisServer, say: Say) -> None:
    """Until cancelled: when the server's process is gone, start it again on the same port and directory."""
    failures = 0
    while True:
        await asyncio.sleep(POLL)
        process = server.process
        if process is None or process.poll() is None:
            continue
        code = process.returncode
        say(
            f"[bold red]redis exited (code {code})[/]: restarting it from its append-only file in "
            f"{server.data_dir}; the services wait for it"
        )
        while True:
            failures += 1
            started = time.monotonic()
            try:
                await asyncio.to_thread(server.start, new_session=True)
            except (EventBusError, redis.RedisError, OSError) as exc:
                delay = delay_after(failures)
                say(f"[red]redis did not start again ({exc}); next try in {delay:.1f}s[/]")
                await asyncio.sleep(delay)
                continue
            say(
                f"[green]redis restarted[/] in {time.monotonic() - started:.1f}s on port {server.port} "
                f"(restart #{failures}), data from its append-only file"
            )
            break


@dataclass
class ServiceKeeper:
    """Restarts the runner's processes that exit, each after its own backoff, and says so."""

    runner: Runner
    say: Say
    restarts: dict[str, int] = field(default_factory=dict)
    _failures: dict[str, int] = field(default_factory=dict)
    _restarting: set[str] = field(default_factory=set)

    async def run(self) -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                for child in self.runner.exited():
                    if child.name not in self._restarting:
                        self._restarting.add(child.name)
                        task = asyncio.create_task(self._restart(child), name=f"restart {child.name}")
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                await asyncio.sleep(POLL)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _restart(self, child: Child) -> None:
        name = child.name
        try:
            up_for = time.monotonic() - child.started_at
            failures = 1 if up_for >= STABLE_AFTER else self._failures.get(name, 0) + 1
            self._failures[name] = failures
            delay = delay_after(failures)
            self.say(
                f"[bold red]{name} exited with code {child.process.returncode}[/] after {up_for:.1f}s; "
                f"restarting it in {delay:.1f}s (see {child.log_path})"
            )
            await asyncio.sleep(delay)
            fresh = self.runner.respawn(child)
            self.restarts[name] = self.restarts.get(name, 0) + 1
            count = self.restarts[name]
            self.say(f"[yellow]{name} restarted[/] (restart #{count}, pid {fresh.process.pid})")
            if await _ready(fresh):
                self.say(f"[green]✓ {name} ready again[/] at {fresh.url}")
        finally:
            self._restarting.discard(name)


async def _ready(child: Child) -> bool:
    """True once the restarted process answers its readiness route; False if it exits or never does."""
    deadline = time.monotonic() + READY_TIMEOUT
    url = child.url + child.member.ready_path
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() < deadline and child.process.poll() is None:
            try:
                if (await http.get(url)).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    return False
