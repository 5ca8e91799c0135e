"""`wolfgang up` (what `make run` runs) as a supervisor, with real processes: one system per data directory,
a killed service restarted, a killed Redis restarted from its append-only file with nothing lost, and the
CLI finding the running system's Redis by itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from eventbus import Keys, catalog
from eventbus.ids import new_id
from eventbus.server import RedisServer, free_port
from wolfgang.datadir import running_system
from wolfgang.supervisor import MAX_DELAY, delay_after

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

SERVICE = "agent-runtime"
MEMBERS = ("fake-evolution", "fake-autentique", "fake-graph", SERVICE)


class Up:
    """One `python -m wolfgang up` with its embedded Redis, read line by line as a person reads the terminal."""

    def __init__(self, data_dir: Path, *, tail: bool = True) -> None:
        self.data_dir = data_dir
        self.ports = {name: free_port() for name in MEMBERS}
        self.redis_port = free_port()
        command = [
            sys.executable, "-m", "wolfgang", "up", "--service", SERVICE, "--no-demo",
            "--tail" if tail else "--no-tail", "--data-dir", str(data_dir), "--redis-port", str(self.redis_port),
            *(arg for name, port in self.ports.items() for arg in ("--port", f"{name}={port}")),
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRETS_KEYS")}
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env | {"WOLFGANG_DEBUG": ""},
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert self.process.poll() is None, (
                f"wolfgang up exited while waiting for {text!r}:\n{self.output}"
            )
            assert time.monotonic() < deadline, f"no {text!r} within {timeout}s:\n{self.output}"
            time.sleep(0.1)

    def wait_ready(self, timeout: float = 40.0) -> None:
        self.wait_for("─ running ─", timeout)  # the banner: every process answered its readiness route

    def ready(self, name: str) -> bool:
        path = "/readyz" if name == SERVICE else "/_fake/requests"
        try:
            return httpx.get(f"http://127.0.0.1:{self.ports[name]}{path}", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def child_pid(self, marker: str) -> int:
        """The pid of the child process whose command line holds ``marker``."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ValueError, IndexError):
                continue
            if ppid == self.process.pid and marker in cmdline:
                return int(stat.parent.name)
        raise AssertionError(f"no child of wolfgang up runs {marker!r}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    system = Up(tmp_path / "data")
    try:
        system.wait_ready()
        yield system
    finally:
        system.stop()


def _eventually(check, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.1)


def _snapshot(client: redis.Redis) -> dict[bytes, bytes]:
    return {key: client.type(key) for key in client.scan_iter(count=1000)}


def test_a_second_system_on_the_same_data_directory_is_refused_and_the_first_keeps_every_key(
    up: Up, tmp_path: Path
) -> None:
    with redis.Redis(port=up.redis_port) as admin:
        for i in range(50):
            admin.xadd("wb:test:stream", {"n": i})
        admin.set("wb:test:marker", "first")
        before = _snapshot(admin)

    second = Up(up.data_dir)
    assert second.process.wait(timeout=30) == 1
    second.stop()

    assert f"a system is already running on data directory {up.data_dir.resolve()}" in second.output
    assert f"pid {up.process.pid}" in second.output
    assert "starting Redis" not in second.output  # refused before it started anything
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=second.redis_port, socket_connect_timeout=1).ping()
    assert up.process.poll() is None and up.ready(SERVICE)
    with redis.Redis(port=up.redis_port) as admin:
        assert _snapshot(admin) == before
    # and the files too: the first system's AOF, reloaded by a server of its own, has every key
    assert up.stop() == 0
    with (
        RedisServer(up.data_dir / "redis", appendonly=True) as reloaded,
        redis.Redis(port=reloaded.port) as r,
    ):
        assert _snapshot(r) == before
        assert r.xlen("wb:test:stream") == 50
    # the lock went with the system: the next one starts
    assert running_system(up.data_dir) is None


def test_the_cli_finds_the_running_systems_redis_by_itself(up: Up, tmp_path: Path) -> None:
    found = running_system(up.data_dir)
    assert found is not None, up.output
    assert found.redis_url == f"redis://127.0.0.1:{up.redis_port}/0"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "BUS_PREFIX", "BUS_LIVE_PREFIX")}
    result = subprocess.run(
        [sys.executable, "-m", "wolfgang", "consumers", "--json"],
        env=env | {"WOLFGANG_DATA_DIR": str(up.data_dir), "WOLFGANG_DEBUG": ""},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    groups = json.loads(result.stdout)
    assert any(group["group"] == SERVICE for group in groups), (groups, result.stderr, up.output)


def test_a_killed_service_is_restarted_by_the_supervisor_and_the_restart_is_shown(up: Up) -> None:
    pid = up.child_pid("agent_runtime")

    os.kill(pid, signal.SIGKILL)

    up.wait_for(f"{SERVICE} exited with code -9")
    up.wait_for(f"{SERVICE} restarted (restart #1")
    up.wait_for(f"✓ {SERVICE} ready again")
    assert up.child_pid("agent_runtime") != pid
    assert up.ready(SERVICE)


def test_redis_killed_is_restarted_from_its_aof_the_service_recovers_and_nothing_is_lost(up: Up) -> None:
    with redis.Redis(port=up.redis_port) as admin:
        for i in range(200):
            admin.xadd("wb:test:stream", {"n": i})
        before = _snapshot(admin)
    server = up.child_pid(f"127.0.0.1:{up.redis_port}")  # the server's process title

    os.kill(server, signal.SIGKILL)

    up.wait_for("redis exited (code -9)")
    up.wait_for("redis restarted")
    with redis.Redis(port=up.redis_port) as admin:
        after = _snapshot(admin)
        assert after.items() >= before.items()  # every key back (services may have added their own since)
        assert admin.xlen("wb:test:stream") == 200
    _eventually(lambda: up.ready(SERVICE), what=f"{SERVICE} ready again after the outage")
    # the live display is still there and subscribed again: an event announced now is shown
    company = new_id("cmp")
    event = catalog.build(
        "instance.status",
        {
            "instance_id": "after-the-outage",
            "company_id": company,
            "channel": "whatsapp",
            "status": "connected",
        },
        source="test",
        company_id=company,
    )

    def shown() -> bool:
        with redis.Redis(port=up.redis_port) as admin:
            admin.publish(Keys("wb", "").live("instance.status"), event.to_wire())
        return "after-the-outage connected" in up.output

    _eventually(shown, what="an event on the live display after the outage")
    assert "error:" not in up.output
    assert up.process.poll() is None  # the live display did not take the system down
    assert up.stop() == 0


def test_a_process_that_keeps_crashing_is_restarted_ever_later_up_to_a_ceiling() -> None:
    delays = [delay_after(n) for n in range(1, 10)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert delays == sorted(delays) and delays[-1] == MAX_DELAY
