"""``wolfgang up``: Redis, the fakes and the services, then the seed, the demo and the bus tail, until Ctrl-C.

Order matters on the way down as on the way up: the services stop first (each finishes or releases its
in-flight events, which needs Redis), then the fakes, then Redis, gracefully, so that its AOF is complete
and the next ``up`` finds everything where it was.

While it runs it supervises (``wolfgang.supervisor``): Redis and the services are restarted when they die, and
the live display waits for Redis rather than ending the session. It holds its data directory
(``wolfgang.datadir``): a second ``up`` on the same directory is refused before it starts anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis
from eventbus import Bus, Envelope, EventBusError
from eventbus.server import RedisServer, free_port
from pydantic import SecretStr
from rich.markup import escape
from servicekit.secretbox import SecretBox

from wolfgang import banner, credentials, supervisor, tail
from wolfgang.acl import create_users, secrets_keys
from wolfgang.console import EXPECTED, describe, out
from wolfgang.datadir import DataDirLock, RunningSystem
from wolfgang.demo import Demo
from wolfgang.runner import Runner, progress_bar
from wolfgang.secrets import rotate as seal_stored_secrets
from wolfgang.system import FAKES, SERVICE_NAMES, System, port_in_use
from wolfgang.target import Target

EMBEDDED_REDIS_PORT = 6390


@dataclass(frozen=True)
class UpOptions:
    services: tuple[str, ...] = SERVICE_NAMES
    demo: bool = True
    tail: bool = True
    exit_after_demo: bool = False
    data_dir: Path = Path(".data")
    redis_port: int | None = None


async def up(target: Target, ports: dict[str, int], options: UpOptions) -> int:
    """Run until SIGINT/SIGTERM (or the demo's end with ``exit_after_demo``); returns the exit code."""
    lock = DataDirLock(options.data_dir).acquire()  # before anything starts: refused here, nothing to undo
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal() -> None:
        # A second Ctrl-C (or the copy `uv run` forwards) must not cut the shutdown short: that would
        # orphan the fakes and Redis. Stragglers are SIGKILLed after STOP_TIMEOUT anyway.
        if stop.is_set():
            out.print("[dim]still stopping …[/]")
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    server: RedisServer | None = None
    runner: Runner | None = None
    keeping_redis: asyncio.Task[None] | None = None
    try:
        redis_url = target.redis_url
        if redis_url is None:
            port = options.redis_port or (
                EMBEDDED_REDIS_PORT if not port_in_use(EMBEDDED_REDIS_PORT) else free_port()
            )
            server = RedisServer(options.data_dir / "redis", port=port, appendonly=True)
            out.print(f"starting Redis (embedded, AOF in {options.data_dir / 'redis'}) on port {port} …")
            # its own session: Ctrl-C reaches Redis only through stop(), after the services are done with it
            await asyncio.to_thread(server.start, new_session=True)
            redis_url = server.url
            keeping_redis = asyncio.create_task(supervisor.keep_redis(server, _say_supervisor))
        lock.publish(RunningSystem(redis_url, target.prefix, target.live_prefix, os.getpid()))
        keys = os.environ.get("SECRETS_KEYS") or secrets_keys(options.data_dir) or ""
        service_urls: dict[str, str] = {}
        if server is not None:  # our own server: each service gets its ACL user, as in production
            service_urls = await asyncio.to_thread(
                create_users, redis_url, target.prefix, target.live_prefix, options.services, os.environ
            )
            # .data/ from a version that stored secrets in clear: seal them before the services read them
            async with target.bus(redis_url) as bus:
                await seal_stored_secrets(bus, SecretBox.from_setting(SecretStr(keys)))
        system = System(
            redis_url,
            target.prefix,
            target.live_prefix,
            ports,
            credentials=credentials.load_or_create(options.data_dir),
            service_redis_urls=service_urls,
            secrets_keys=keys,
        )
        runner = Runner(system, logs=options.data_dir / "logs", console=out)
        session = asyncio.create_task(_session(system, runner, options))
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({session, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if session in done:
            stopping.cancel()
            return session.result()
        session.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await session
        return 0
    finally:
        stop.set()
        if keeping_redis is not None:  # first: Redis is stopped below on purpose
            keeping_redis.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeping_redis
        if runner is not None and runner.children:
            out.print("\nstopping: SIGTERM to every process, then waiting for each …")
            for name, code in await runner.stop():
                verdict = "[green]stopped[/]" if code in (0, -signal.SIGTERM) else f"[yellow]exit {code}[/]"
                if code is None:
                    verdict = "[red]killed (did not stop in time)[/]"
                out.print(f"  {name:<20} {verdict}")
        if server is not None:
            await asyncio.to_thread(server.stop)
            out.print(f"  {'redis':<20} [green]stopped[/] (data kept in {options.data_dir / 'redis'})")
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        lock.release()


async def _session(system: System, runner: Runner, options: UpOptions) -> int:
    # Every port first: finding a taken one after the fakes started would cost their start-up for nothing.
    runner.check_ports([*(f.name for f in FAKES), *options.services])
    with progress_bar(out) as progress:
        await runner.start([f.name for f in FAKES], progress)
        await runner.start(options.services, progress)
    keeper = asyncio.create_task(supervisor.ServiceKeeper(runner, _say_supervisor).run())
    try:
        async with (
            Bus.from_url(system.redis_url, source="wolfgang", settings=_bus_settings(system)) as bus,
            httpx.AsyncClient(timeout=15.0) as http,
        ):
            demo = Demo(system, bus, http, state=options.data_dir / "demo.json", report=_say)
            whole = set(options.services) == set(SERVICE_NAMES)
            seed = await demo.seed() if whole else None
            tailing: asyncio.Task[int] | None = None
            if options.tail:
                subscribed = asyncio.Event()
                tailing = asyncio.create_task(_display(bus, subscribed), name="tail")
                await subscribed.wait()
            failed = False
            if options.demo and seed is not None:
                out.rule("demo")
                try:
                    outcome = await demo.play(seed)
                    out.print(
                        f"[bold green]demo finished[/] in {outcome.seconds:.1f}s: lead {outcome.lead_id}, "
                        f"deal {outcome.deal_id}, contract {outcome.contract_id}, {outcome.replies} replies, "
                        f"conversions: {', '.join(outcome.conversions)}"
                    )
                except EXPECTED as exc:  # Redis lost mid-demo too: the demo fails, the system stays up
                    failed = True
                    out.print(f"[bold red]demo failed:[/] {escape(describe(exc))}")
            banner.show(system, options.services, options.data_dir, seed)
            if options.exit_after_demo:
                return 1 if failed else 0
            if tailing is None:
                await asyncio.Event().wait()
            else:
                out.rule("bus (live, at-most-once: `wolfgang events` reads the history)")
                await tailing
            return 0
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper


def _bus_settings(system: System) -> Any:
    return Target(system.redis_url, system.prefix, system.live_prefix).bus_settings()


def _say(line: str) -> None:
    out.print(f"[dim]demo ▸[/] {line}")


def _show(event: Envelope[Any]) -> None:
    out.print(tail.render(event))


def _say_supervisor(line: str) -> None:
    out.print(f"[dim]supervisor ▸[/] {line}")


async def _display(bus: Bus, subscribed: asyncio.Event) -> int:
    """The live bus until cancelled. Losing Redis pauses it (said once), never ends it: the services wait for
    Redis too, and the supervisor brings it back."""
    lost = False
    while True:
        connected = asyncio.Event()
        announce = asyncio.create_task(_when_connected(connected, subscribed, after_loss=lost))
        try:
            await tail.follow(bus, on_event=_show, subscribed=connected)
        except (redis.RedisError, OSError, EventBusError) as exc:
            if not lost:
                why = escape(f"{type(exc).__name__}: {exc}")
                out.print(f"[yellow]live display: lost Redis ({why}); it resumes when Redis is back[/]")
            lost = True
            await asyncio.sleep(1.0)
            continue
        finally:
            announce.cancel()
        return 0


async def _when_connected(connected: asyncio.Event, subscribed: asyncio.Event, *, after_loss: bool) -> None:
    await connected.wait()
    subscribed.set()
    if after_loss:
        out.print("[green]live display: reconnected[/] (events published meanwhile are in the streams)")
