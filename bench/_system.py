"""The whole system as ``make run`` starts it, for the end-to-end benchmarks (``whatsapp_turn.py``, ``soak.py``).

``wolfgang up --no-demo --no-tail`` in a data directory of its own, on free ports: an embedded Redis (AOF on, each
service its ACL user), the three fakes and the five services, and the seed (the demo company, WhatsApp instance
``vendas-01`` registered with evolution-manager, its Conversions API settings). What the benchmarks add:

- the process tree, by name, with CPU seconds and RSS of each process from ``/proc``;
- leads that write to evolution-manager as fake Evolution would (``webhook``), in conversations of the agent
  benchmark's script, one message of a lead every ``gap`` seconds;
- the turn of each message: from when its webhook was due to the first ``sendText`` fake Evolution received for
  that lead afterwards (``SentMessage.received_monotonic``; CLOCK_MONOTONIC is one clock for the machine).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _noise import cpu_seconds
from agent_conversations import SCRIPT
from evolution_webhooks import webhook

INSTANCE = "vendas-01"
WEBHOOK_SECRET = "dev-instance-webhook-secret"  # wolfgang.system.INSTANCE_WEBHOOK_SECRET
DEFAULT_PORTS = {
    "backoffice-api": 8000,
    "evolution-manager": 8001,
    "agent-runtime": 8002,
    "facebook-capi": 8003,
    "autentique-service": 8004,
    "fake-evolution": 8080,
    "fake-autentique": 8081,
    "fake-graph": 8082,
}
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _offset() -> int:
    """A port offset at which every member's port is free (another engineer may run a system too), below
    the kernel's ephemeral range (32768-60999 here): a port free when checked there could be taken by any
    outgoing connection before the service binds it (agent-runtime exited "address already in use" twice in
    one sitting with offsets up to 50,000)."""
    for _ in range(200):
        offset = random.randrange(10_000, 24_000, 100)
        if all(_free(p + offset) for p in DEFAULT_PORTS.values()):
            return offset
    raise RuntimeError("no free port range for the system")


@dataclass
class System:
    process: subprocess.Popen[bytes]
    data_dir: Path
    offset: int
    redis_url: str = ""

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{DEFAULT_PORTS[name] + self.offset}"

    @property
    def webhook_port(self) -> int:
        return DEFAULT_PORTS["evolution-manager"] + self.offset

    def processes(self) -> dict[str, int]:
        """Every process of the system by name (``wolfgang`` is the supervisor itself), from /proc."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry))
        out: dict[str, int] = {}
        todo = [self.process.pid]
        while todo:
            pid = todo.pop()
            todo += children.get(pid, [])
            name = _name(pid)
            if name:
                out[name] = pid
        return out

    def cpu(self) -> dict[str, float]:
        out = {}
        for name, pid in self.processes().items():
            try:
                out[name] = cpu_seconds(pid)
            except OSError:
                continue
        return out

    def waited(self) -> dict[str, float]:
        """Seconds each process's main thread spent runnable but waiting for a core (``/proc/<pid>/schedstat``,
        second field): a turn slowed by CPU contention shows here, one slowed by a lock or a timer does not."""
        out = {}
        for name, pid in self.processes().items():
            try:
                with open(f"/proc/{pid}/schedstat", encoding="ascii") as f:
                    out[name] = int(f.read().split()[1]) / 1e9
            except (OSError, IndexError, ValueError):
                continue
        return out

    def rss(self) -> dict[str, int]:
        """Resident memory per process, bytes (/proc/<pid>/statm)."""
        out = {}
        for name, pid in self.processes().items():
            try:
                with open(f"/proc/{pid}/statm", encoding="ascii") as f:
                    out[name] = int(f.read().split()[1]) * _PAGE
            except OSError:
                continue
        return out

    def sent(self, offset: int = 0) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url('fake-evolution')}/_fake/sent", params={"offset": offset}, timeout=60)
        answer.raise_for_status()
        result: list[dict[str, Any]] = answer.json()
        return result


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return ""
    if not argv:
        return ""
    if "redis-server" in argv[0]:
        return "redis"
    if "-m" in argv:
        module = argv[argv.index("-m") + 1]
        if module == "fakes":
            return "fake-" + argv[argv.index("-m") + 2]
        if module == "wolfgang":
            return "wolfgang (supervisor)"
        return module.replace("_", "-")
    return ""


@contextmanager
def running(env: dict[str, str] | None = None, *, log: Path | None = None) -> Iterator[System]:
    """Start the system, wait for the seed (fake Evolution's webhook points at evolution-manager), stop it."""
    import tempfile

    from eventbus.server import free_port

    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        offset = _offset()
        environ = {
            k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "BUS_PREFIX", "SECRETS_KEYS")
        }
        # One instance carries what many would: its webhook rate limit (50/s, echoes of the sends included) must
        # not be what is measured; the limiter's cost still is (every webhook is counted).
        environ |= {"LOG_LEVEL": "WARNING", "EVOLUTION_WEBHOOK_RATE_PER_SECOND": "1000000"} | (env or {})
        args = [sys.executable, "-m", "wolfgang", "up", "--no-demo", "--no-tail", "--data-dir", str(data_dir)]
        args += ["--port-offset", str(offset), "--redis-port", str(free_port())]
        log = log or Path(tmp) / "up.log"
        out = open(log, "wb")  # noqa: SIM115
        process = subprocess.Popen(args, env=environ, stdout=out, stderr=subprocess.STDOUT)
        system = System(process, data_dir, offset)
        try:
            _wait_seeded(system, log)
            state = json.loads((data_dir / "system.json").read_text())
            system.redis_url = state["redis_url"]
            yield system
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
            out.close()


def _wait_seeded(system: System, log: Path) -> None:
    """``up`` prints its banner (the instance's webhook secret among it) once the seed is done."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if system.process.poll() is not None:
            tail = log.read_text(errors="replace").splitlines()[-20:]
            raise RuntimeError(f"wolfgang up exited with {system.process.returncode}:\n" + "\n".join(tail))
        if b"webhook secret" in log.read_bytes() and (system.data_dir / "system.json").exists():
            return
        time.sleep(0.5)
    raise RuntimeError(f"the system was not seeded in time; see {log}")


# -- conversations ------------------------------------------------------------------------------------------


def number_of(lead: int, run: str) -> str:
    """A Brazilian mobile number per lead and run (a run's leads are new leads)."""
    return f"55119{int(run) % 1000:03d}{lead:05d}"


@dataclass(frozen=True)
class Turn:
    number: str
    step: int  # the message's place in its conversation (SCRIPT)
    body: bytes


def turns(count: int, rate: float, gap: float, run: str) -> list[Turn]:
    """``count`` messages at ``rate`` per second in all, each lead writing one every ``gap`` seconds.

    Message *i* is due at ``i / rate``: ``rate * gap`` leads talk at once, slot ``s = i mod L`` holding one lead
    for the script's length, then a new one."""
    slots = max(1, round(rate * gap))
    out = []
    for i in range(count):
        slot, rnd = i % slots, i // slots
        lead = slot + slots * (rnd // len(SCRIPT))
        step = rnd % len(SCRIPT)
        number = number_of(lead, run)
        body = webhook(
            run,
            i,
            instance=INSTANCE,
            secret=WEBHOOK_SECRET,
            number=number,
            text=SCRIPT[step],
            path="/webhooks/evolution",
        )
        out.append(Turn(number, step, body))
    return out


def turn_latencies(
    plan: list[Turn], t0: float, rate: float, sent: list[dict[str, Any]]
) -> tuple[list[float], int]:
    """Seconds from each message's due time to the first send to its lead at or after it; and how many
    messages got none (the agent answers a lead's messages that arrive together once)."""
    by_number: dict[str, list[float]] = {}
    for s in sent:
        number = str(s["request"].get("number", "")).lstrip("+").split("@")[0]
        by_number.setdefault(number, []).append(float(s["received_monotonic"]))
    for times in by_number.values():
        times.sort()
    out, missing = [], 0
    for i, turn in enumerate(plan):
        due = t0 + i / rate
        times = by_number.get(turn.number, [])
        j = bisect_left(times, due)
        if j == len(times):
            missing += 1
        else:
            out.append(times[j] - due)
    return out, missing
