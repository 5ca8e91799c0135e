"""Processes of a local system: start them in order, wait until each is ready, stop them all cleanly.

Every child runs in its own session (process group). A Ctrl-C in the terminal reaches the foreground group
only, that is this runner; it then sends each child exactly one SIGTERM. A child that got the terminal's
SIGINT as well would get a second signal from us, and uvicorn treats a second signal as "exit now", skipping
the graceful shutdown where consumers release their in-flight events.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from wolfgang.console import CliError
from wolfgang.system import Member, System, member, port_in_use

READY_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0


@dataclass
class Child:
    member: Member
    url: str
    log_path: Path
    process: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)

    @property
    def name(self) -> str:
        return self.member.name

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Runner:
    """Starts members of ``system`` as subprocesses, logs of each in ``logs/<name>.log``."""

    def __init__(self, system: System, *, logs: Path, console: Console) -> None:
        self.system = system
        self.logs = logs
        self.console = console
        self.children: list[Child] = []

    def check_ports(self, names: Iterable[str]) -> None:
        for name in names:
            port = self.system.ports[name]
            if port_in_use(port, self.system.host):
                raise CliError(
                    f"port {port} for {name} is in use: stop what holds it, or choose another port "
                    f"with --port {name}=N (or {member(name).port_variable}=N, or --port-offset N; a second "
                    "system also needs a --data-dir of its own)"
                )

    def spawn(self, name: str) -> Child:
        m = member(name)
        self.logs.mkdir(parents=True, exist_ok=True)
        log_path = self.logs / f"{name}.log"
        env = os.environ | self.system.environment(name)
        with log_path.open("ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} wolfgang started {name}\n".encode())
            log.flush()
            process = subprocess.Popen(
                self.system.command(name),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        child = Child(m, self.system.url(name), log_path, process)
        self.children.append(child)
        return child

    def respawn(self, child: Child) -> Child:
        """Start ``child``'s process again (it exited), in its place among the children."""
        if child in self.children:
            self.children.remove(child)
        return self.spawn(child.name)

    async def start(self, names: Iterable[str], progress: Progress) -> None:
        """Start ``names`` together and return when every one is ready; on failure, say which and why."""
        names = list(names)
        self.check_ports(names)
        tasks = {}
        for name in names:
            self.spawn(name)
            tasks[name] = progress.add_task(name, total=None, status="[dim]starting[/]")
        async with httpx.AsyncClient(timeout=2.0) as http:
            await asyncio.gather(
                *(
                    self._wait_ready(c, http, progress, tasks[c.name])
                    for c in self.children
                    if c.name in tasks
                )
            )

    async def _wait_ready(
        self, child: Child, http: httpx.AsyncClient, progress: Progress, task: TaskID
    ) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        url = child.url + child.member.ready_path
        last = "no answer yet"
        while True:
            code = child.process.poll()
            if code is not None:
                progress.update(task, status=f"[red]exited with {code}[/]")
                raise CliError(
                    f"{child.name} exited with code {code} while starting; last lines of {child.log_path}:\n"
                    + child.log_tail()
                )
            try:
                response = await http.get(url)
                if response.status_code == 200:
                    took = time.monotonic() - child.started_at
                    progress.update(task, status=f"[green]✓ ready[/] in {took:.1f}s at {child.url}")
                    progress.stop_task(task)
                    return
                last = f"{url} answered {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{url}: {type(exc).__name__}"
            if time.monotonic() > deadline:
                progress.update(task, status="[red]not ready[/]")
                raise CliError(
                    f"{child.name} not ready after {READY_TIMEOUT:.0f}s ({last}); see {child.log_path}"
                )
            await asyncio.sleep(0.1)

    def exited(self) -> list[Child]:
        return [c for c in self.children if c.process.poll() is not None]

    async def stop(self) -> list[tuple[str, int | None]]:
        """SIGTERM to the services, wait for them, then the fakes; SIGKILL what does not stop in time.
        Returns (name, exit code) per child."""
        services = [c for c in self.children if c.member.kind == "service"]
        fakes = [c for c in self.children if c.member.kind == "fake"]
        results: list[tuple[str, int | None]] = []
        for group in (services, fakes):
            for child in group:
                if child.process.poll() is None:
                    child.process.send_signal(signal.SIGTERM)
            codes = await asyncio.gather(*(asyncio.to_thread(_wait, c.process) for c in group))
            results += [(c.name, code) for c, code in zip(group, codes, strict=True)]
        self.children.clear()
        return results


def _wait(process: subprocess.Popen[bytes]) -> int | None:
    try:
        return process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


def progress_bar(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(finished_text="•"),
        TextColumn("{task.description:<20}"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
