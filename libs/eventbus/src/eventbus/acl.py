"""Redis ACL users, one per service, built from the catalog's producer/consumer table: least privilege.

A service may touch:

- its own state, under ``<prefix>:svc:<service>:*`` (``Keys.service``);
- for each channel it **publishes** (the catalog's producer): the channel's stream and producer dedupe keys,
  and the live Pub/Sub channel (``PUBLISH``/``SPUBLISH`` run inside the publish script);
- for each channel it **consumes** with its group (named after the service): the group's processed ids
  (the sorted set, the buckets, their index and count: ``<processed>`` and ``<processed>:*``), leases,
  ordering index and dead letters, read-only the other groups' dead letters (the lag gauges count every
  group's, ``operations.group_stats``), and the stream through a selector without ``XADD``,
  ``XTRIM``, ``XDEL``, ``DEL``…: ``XREADGROUP`` and ``XACK`` write the group's state inside the stream, so
  key permissions alone would let a consumer forge events on the channels it reads;
- for an **operator console** (backoffice-api: ``/v1/ops``, recent events, SSE): every stream and every
  group's dead letters (listing, replaying a letter onto its stream, purging), every live channel.

Commands: data commands, streams, Pub/Sub, scripts and transactions, without ``@admin`` and
``@dangerous`` (no ``FLUSHALL``, ``KEYS``, ``CONFIG``, ``DEBUG``, ``CLIENT KILL``, ``ACL``…), plus the
few a cluster client needs to learn the slot map. Anything else is ``NOPERM``.

Redis Cluster keeps ACLs per node: run the ``ACL SETUSER`` of :func:`setuser_commands` on every node
(:func:`install` does so for a ``RedisCluster`` client), or ship the same ``aclfile`` to each node.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

import redis
import redis.cluster

from eventbus.catalog import CHANNELS
from eventbus.client import CLUSTER_SCHEMES
from eventbus.keys import Keys

#: Services that read the whole bus and manage every group's dead letters for operators.
OPERATORS = frozenset({"backoffice-api"})

#: What every service may run. ``-@dangerous`` after the grants wins over them (ACL rules apply in order).
COMMANDS = (
    "+@read",
    "+@write",
    "+@stream",
    "+@pubsub",
    "+@scripting",
    "+@transaction",
    "+time",  # the scripts' clock
    "+@connection",  # PING, HELLO, CLIENT SETNAME/SETINFO, WAIT/WAITAOF (BUS_ACK_*), READONLY, COMMAND
    "-@admin",
    "-@dangerous",
    "-function",
    "-script|flush",
    "-script|kill",
    # a cluster client's slot map (redis-py asks CLUSTER SLOTS at start and after MOVED)
    "+cluster|slots",
    "+cluster|shards",
    "+cluster|nodes",
    "+cluster|info",
)


def services() -> tuple[str, ...]:
    """Every service the catalog names, as producer or consumer."""
    names = {spec.producer for spec in CHANNELS.values()}
    names.update(c for spec in CHANNELS.values() for c in spec.consumers)
    return tuple(sorted(names))


#: What a consumer may not do to a stream it only reads (ACL key permissions cannot tell XREADGROUP, which
#: writes the group's state, from XADD): append, trim, delete entries or the stream.
NOT_ON_CONSUMED = ("-xadd", "-xtrim", "-xdel", "-xsetid", "-del", "-unlink", "-rename", "-renamenx",
                   "-copy", "-restore", "-move", "-expire", "-pexpire", "-expireat", "-pexpireat")  # fmt: skip


@dataclass(frozen=True)
class Grant:
    """What one service may touch: key patterns (read-write and read-only), Pub/Sub channel patterns, and
    the streams it consumes without producing, which only a selector with fewer commands reaches."""

    service: str
    keys: tuple[str, ...]
    read_only_keys: tuple[str, ...]
    channels: tuple[str, ...]
    #: Streams it consumes, and with them the group's own keys (a script's KEYS must all be allowed by one
    #: selector: the consumer scripts get a stream with its group's processed set, leases and order).
    consumed: tuple[str, ...] = ()

    def rules(self, password: str) -> list[str]:
        """The arguments of ``ACL SETUSER <service>`` after the name. ``reset`` first: the user is exactly
        this, whatever it was before."""
        rules = [
            "reset",
            "on",
            # the SHA-256, not the password: ACL LIST, ACL GETUSER and an aclfile never show it
            f"#{hashlib.sha256(password.encode()).hexdigest()}",
            *(f"~{_glob(k)}" for k in self.keys),
            *(f"%R~{_glob(k)}" for k in self.read_only_keys),
            "resetchannels",
            *(f"&{_glob(c)}" for c in self.channels),
            *COMMANDS,
        ]
        if self.consumed:
            # A selector (Redis >= 7): root permissions or any selector may allow a command.
            rules.append(
                "(" + " ".join([*(f"~{_glob(k)}" for k in self.consumed), *COMMANDS, *NOT_ON_CONSUMED]) + ")"
            )
        return rules


def grant(service: str, keys: Keys) -> Grant:
    """The least privilege of ``service`` under ``keys``' prefix (module docstring)."""
    operator = service in OPERATORS
    rw: list[str] = [keys.service(service, "*")]
    ro: list[str] = []
    consumed: list[str] = []
    channels: list[str] = []
    for name, spec in CHANNELS.items():
        if spec.producer == service:
            # The publish script reads and updates the channel's retention floor as it trims (eventbus.bus).
            rw += [keys.stream(name), keys.dedupe(name, "*"), keys.retention(name)]
        if spec.producer == service or operator:
            # and the catalog's own name, which a cluster's publish script also PUBLISHes to (eventbus.bus)
            channels += [keys.live(name), keys.exact_live(name)]
        if operator:  # lists, replays (XADD) and purges any group's dead letters
            rw += [keys.stream(name), keys.retention(name), keys.dead_letters(name, "*")]
            # A replay first checks the group's processed-id window (eventbus.operations): read only.
            ro.append(keys.processed(name, "*"))
        if service in spec.consumers:
            group = [
                keys.processed(name, service),
                # its buckets, their index and count (eventbus.idempotency); ':' keeps other groups out
                keys.processed(name, service) + ":*",
                keys.leases(name, service),
                keys.order(name, service),
                keys.dead_letters(name, service),
            ]
            # A consumer marks the retention floor stale when its group moves (eventbus.channel), so that
            # publishers recompute it; it never touches the stream's entries through it.
            rw += [*group, keys.retention(name)]
            ro.append(keys.dead_letters(name, "*"))
            if spec.producer != service and not operator:
                consumed += [keys.stream(name), *group]
    return Grant(
        service,
        tuple(dict.fromkeys(rw)),
        tuple(dict.fromkeys(ro)),
        tuple(dict.fromkeys(channels)),
        tuple(dict.fromkeys(consumed)),
    )


def setuser_commands(
    keys: Keys, passwords: Mapping[str, str], *, users: Mapping[str, str] | None = None
) -> list[list[str]]:
    """One ``ACL SETUSER`` command per service in ``passwords``. ``users`` renames a service's user (tests
    give each run its own names); by default the user is the service's name."""
    names = users or {}
    return [
        ["ACL", "SETUSER", names.get(service, service), *grant(service, keys).rules(password)]
        for service, password in passwords.items()
    ]


def aclfile(keys: Keys, passwords: Mapping[str, str]) -> str:
    """The same users as ``aclfile`` lines (``user <name> <rules…>``) for ``redis-server --aclfile``; the
    caller adds its own admin line (``user default …``)."""
    return "".join(" ".join(("user", *command[2:])) + "\n" for command in setuser_commands(keys, passwords))


def with_credentials(url: str, user: str, password: str) -> str:
    """``url`` with ``user:password@`` (``redis://host:port/0`` → ``redis://user:pw@host:port/0``); any
    credentials already there are replaced."""
    scheme, rest = url.split("://", 1)
    authority, slash, path = rest.partition("/")
    host = authority.rsplit("@", 1)[-1]
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{host}{slash}{path}"


def _glob(name: str) -> str:
    """A key or channel name as an ACL glob matching it literally, except for a trailing ``*`` we put."""
    literal, star = (name[:-1], "*") if name.endswith("*") else (name, "")
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in literal) + star


def install(admin_url: str, commands: Iterable[list[str]]) -> None:
    """Run ``commands`` (``ACL SETUSER …``) as the admin of ``admin_url``: on every node, primaries and
    replicas, of a ``redis+cluster://`` URL, since each node keeps its own users."""
    scheme, rest = admin_url.split("://", 1)
    if scheme.lower() in CLUSTER_SCHEMES:
        cluster = redis.cluster.RedisCluster.from_url(f"{CLUSTER_SCHEMES[scheme.lower()]}://{rest}")
        try:
            for command in commands:
                cluster.execute_command(*command, target_nodes=redis.cluster.RedisCluster.ALL_NODES)  # type: ignore[no-untyped-call]
        finally:
            cluster.close()
        return
    with redis.Redis.from_url(admin_url) as client:
        for command in commands:
            client.execute_command(*command)
        _save(client)


def _save(client: redis.Redis) -> None:
    """Keep the users across a restart where the server has an aclfile (our embedded and test servers, and
    production's ``--aclfile``); a server without one keeps them in memory only, which is not an error."""
    try:
        client.execute_command("ACL", "SAVE")  # type: ignore[no-untyped-call]
    except redis.ResponseError as exc:
        if "ACL file" not in str(exc) and "aclfile" not in str(exc).lower():
            raise
