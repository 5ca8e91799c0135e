"""One system per data directory, and how the other commands find it.

``wolfgang up`` holds an exclusive ``flock`` on ``<data dir>/wolfgang.lock`` for as long as it runs: a second
``up`` on the same directory would start a second Redis on the same append-only file, and the two servers
would overwrite each other's writes (seen: the first server's oldest events were gone after a reload). The
kernel drops the lock when the process dies, however it dies, so a crash leaves no stale lock behind.

While it holds the lock, ``up`` keeps ``<data dir>/system.json``: where its Redis listens and the bus's
prefixes. A command given no ``--redis-url`` reads it (only while the lock is held, so a file left by a
killed system is never believed), which is how ``./wolfgang consumers`` finds ``make run``'s Redis.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from wolfgang.console import CliError

LOCK_FILE = "wolfgang.lock"
STATE_FILE = "system.json"
#: Where ``up`` keeps its data, and where the other commands look for a running system.
DATA_DIR_VARIABLE = "WOLFGANG_DATA_DIR"


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_VARIABLE) or ".data")


class AlreadyRunning(CliError):
    """Another ``wolfgang up`` holds the data directory."""


@dataclass(frozen=True)
class RunningSystem:
    """What a command needs to talk to the system that holds a data directory."""

    redis_url: str
    prefix: str
    live_prefix: str
    pid: int


class DataDirLock:
    """The exclusive claim of one running system on its data directory (a context manager)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self.data_dir / LOCK_FILE

    def acquire(self) -> DataDirLock:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(
                f"a system is already running on data directory {self.data_dir.resolve()} (pid {holder}); "
                "stop it (Ctrl-C where it runs) or give this one another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def publish(self, system: RunningSystem) -> None:
        """Say where the system is, for the commands run beside it (owner-only: it names the admin URL)."""
        path = self.data_dir / STATE_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(asdict(system), file, indent=2)

    def release(self) -> None:
        if self._fd is None:
            return
        (self.data_dir / STATE_FILE).unlink(missing_ok=True)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> DataDirLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def running_system(data_dir: Path) -> RunningSystem | None:
    """The system that holds ``data_dir`` now, or None (no state file, or nobody holds the lock)."""
    try:
        state = json.loads((data_dir / STATE_FILE).read_text(encoding="utf-8"))
        system = RunningSystem(**state)
    except (OSError, ValueError, TypeError):
        return None
    return system if _held(data_dir / LOCK_FILE) else None


def _held(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
