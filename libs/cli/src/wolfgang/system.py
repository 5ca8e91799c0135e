"""The table of processes ``wolfgang up`` runs: the three fakes and the five services, their ports, and the
environment each one gets.

A service reads its own settings (``services/<name>/src/<pkg>/settings.py``): the shared ``REDIS_URL``,
``BUS_PREFIX``, ``BUS_LIVE_PREFIX``, ``LOG_JSON``, and variables under its prefix (``EVOLUTION_``, ``AGENT_``,
``CAPI_``, ``AUTENTIQUE_``, ``BACKOFFICE_``). This module is the one place that knows those names, so a renamed
setting is a one-line change here. The system's own credentials are random, one per caller → callee pair
(``wolfgang.credentials``); the constants below are the fakes' placeholders for local runs, never real ones.
Every service is told ``WOLFGANG_ENV=development``: production (the default) would refuse those placeholders.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from fakes.autentique import DEFAULT_API_TOKEN as FAKE_AUTENTIQUE_TOKEN
from fakes.autentique import GRAPHQL_PATH
from fakes.evolution import DEFAULT_GLOBAL_APIKEY as FAKE_EVOLUTION_APIKEY

from wolfgang import credentials
from wolfgang.console import CliError

#: The WhatsApp instance the fake Evolution knows by default (``python -m fakes evolution``).
INSTANCE = "vendas-01"
INSTANCE_APIKEY = "fake-instance-apikey"
#: The secret fake Evolution sends with each webhook, and evolution-manager checks, for INSTANCE.
INSTANCE_WEBHOOK_SECRET = "dev-instance-webhook-secret"  # noqa: S105
#: The pixel (dataset) the fake Graph API accepts by default, and its token.
PIXEL_ID = "1234567890"
PIXEL_TOKEN = "fake-graph-token"  # noqa: S105
WABA_ID = "104000000000001"

Kind = Literal["fake", "service"]


@dataclass(frozen=True)
class Member:
    """One process of the system."""

    name: str
    kind: Kind
    module: str
    default_port: int
    #: Environment prefix: the service's settings prefix, or ``FAKE_<NAME>_`` for a fake.
    env_prefix: str
    #: 200 here means ready: the services' ``/readyz``; a fake is ready when it answers at all.
    ready_path: str

    @property
    def port_variable(self) -> str:
        return f"{self.env_prefix}PORT"


FAKES: tuple[Member, ...] = (
    Member("fake-evolution", "fake", "fakes", 8080, "FAKE_EVOLUTION_", "/_fake/requests"),
    Member("fake-autentique", "fake", "fakes", 8081, "FAKE_AUTENTIQUE_", "/_fake/requests"),
    Member("fake-graph", "fake", "fakes", 8082, "FAKE_GRAPH_", "/_fake/requests"),
)
SERVICES: tuple[Member, ...] = (
    Member("backoffice-api", "service", "backoffice_api", 8000, "BACKOFFICE_", "/readyz"),
    Member("evolution-manager", "service", "evolution_manager", 8001, "EVOLUTION_", "/readyz"),
    Member("agent-runtime", "service", "agent_runtime", 8002, "AGENT_", "/readyz"),
    Member("facebook-capi", "service", "facebook_capi", 8003, "CAPI_", "/readyz"),
    Member("autentique-service", "service", "autentique_service", 8004, "AUTENTIQUE_", "/readyz"),
)
MEMBERS: dict[str, Member] = {m.name: m for m in (*FAKES, *SERVICES)}
SERVICE_NAMES = tuple(m.name for m in SERVICES)


def member(name: str) -> Member:
    try:
        return MEMBERS[name]
    except KeyError:
        raise CliError(f"unknown process {name!r}; known: {', '.join(MEMBERS)}") from None


def require_installed(names: Iterable[str]) -> None:
    """The services are run (``python -m <module>``), never imported, and not dependencies of this package:
    they must be installed beside it, as ``make run``'s workspace environment has them."""
    missing = [n for n in names if importlib.util.find_spec(member(n).module) is None]
    if missing:
        raise CliError(
            f"{', '.join(missing)} not installed in this environment ({sys.prefix}): run the system from the "
            "project's environment (`make run`, or `uv sync --all-packages` then ./wolfgang up)"
        )


def resolve_ports(
    environ: Mapping[str, str], overrides: Iterable[str] = (), *, offset: int = 0
) -> dict[str, int]:
    """Each member's port: ``--port NAME=PORT`` over ``<PREFIX>_PORT`` in the environment over the default,
    then ``offset`` added to the ones not given explicitly (to run a second system beside the first)."""
    ports: dict[str, int] = {}
    for m in MEMBERS.values():
        value = environ.get(m.port_variable)
        ports[m.name] = _port(value, m.port_variable) if value else m.default_port + offset
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--port takes NAME=PORT, got {item!r}")
        ports[member(name.strip()).name] = _port(value, f"--port {name}")
    return ports


def _port(value: str, where: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise CliError(f"{where}: {value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise CliError(f"{where}: {port} is not a port number")
    return port


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


@dataclass(frozen=True)
class System:
    """One local system: where Redis is, which prefix the bus uses, and where each process listens."""

    redis_url: str
    prefix: str = "wb"
    live_prefix: str = ""
    ports: Mapping[str, int] = field(
        default_factory=lambda: {m.name: m.default_port for m in MEMBERS.values()}
    )
    host: str = "127.0.0.1"
    #: Services log JSON lines (to their log files under ``up``; readable lines under ``run``).
    log_json: bool = True
    #: One random credential per caller → callee pair (``wolfgang.credentials``); ``up`` keeps them per data dir.
    credentials: Mapping[str, str] = field(default_factory=credentials.generate)
    #: A service's own ``REDIS_URL`` (its ACL user, ``wolfgang.acl``); ``redis_url`` for the others.
    service_redis_urls: Mapping[str, str] = field(default_factory=dict)
    #: SECRETS_KEYS of the services that store secrets (``wolfgang.acl.secrets_keys`` keeps it in .data/).
    secrets_keys: str | None = None

    def credential(self, name: str) -> str:
        return self.credentials[name]

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.ports[name]}"

    def command(self, name: str) -> list[str]:
        m = member(name)
        if m.kind == "service":
            return [sys.executable, "-m", m.module]
        fake = name.removeprefix("fake-")
        args = [sys.executable, "-m", "fakes", fake, "--host", self.host, "--port", str(self.ports[name])]
        # Real webhook retry waits span minutes; locally a failed delivery is retried within a second.
        args += ["--retry-delay-scale", "0.01"]
        if fake == "evolution":
            args += ["--send-delay-scale", "0.01", "--instance", f"{INSTANCE}:{INSTANCE_APIKEY}"]
        elif fake == "autentique":
            args += [
                "--webhook-url", f"{self.url('autentique-service')}/webhooks/autentique",
                # One token with "=": a random credential may begin with "-", which argparse would take for
                # an option of its own.
                f"--webhook-secret={self.credential('AUTENTIQUE_WEBHOOK_SECRET')}",
            ]  # fmt: skip
        elif fake == "graph":
            args += ["--pixel", f"{PIXEL_ID}:{PIXEL_TOKEN}"]
        return args

    def environment(self, name: str) -> dict[str, str]:
        """The variables this system sets for ``name`` (the rest of the caller's environment is kept)."""
        m = member(name)
        if m.kind == "fake":
            return {}
        p = m.env_prefix
        env = {
            "WOLFGANG_ENV": "development",
            "REDIS_URL": self.service_redis_urls.get(name, self.redis_url),
            "BUS_PREFIX": self.prefix,
            "BUS_LIVE_PREFIX": self.live_prefix,
            "LOG_JSON": "true" if self.log_json else "false",
            f"{p}HOST": self.host,
            f"{p}PORT": str(self.ports[name]),
        }
        if self.secrets_keys and name in ("evolution-manager", "facebook-capi"):
            env["SECRETS_KEYS"] = self.secrets_keys
        if name == "evolution-manager":
            env |= {
                "EVOLUTION_API_URL": self.url("fake-evolution"),
                "EVOLUTION_API_KEY": FAKE_EVOLUTION_APIKEY,
            }
        elif name == "facebook-capi":
            env |= {"FACEBOOK_GRAPH_URL": self.url("fake-graph")}
        elif name == "autentique-service":
            env |= {
                "AUTENTIQUE_API_URL": self.url("fake-autentique") + GRAPHQL_PATH,
                "AUTENTIQUE_API_TOKEN": FAKE_AUTENTIQUE_TOKEN,
            }
        elif name == "backoffice-api":
            env |= {
                "BACKOFFICE_AUTENTIQUE_URL": self.url("autentique-service"),
                "BACKOFFICE_EVOLUTION_URL": self.url("evolution-manager"),
                "BACKOFFICE_AGENT_URL": self.url("agent-runtime"),
            }
        # The credentials of the pairs it belongs to, under the names both sides read (backoffice-api its
        # tokens under the called services' names, without a BACKOFFICE_ prefix).
        return env | credentials.of(name, self.credentials)
