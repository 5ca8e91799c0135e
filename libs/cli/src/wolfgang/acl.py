"""Each service of a local system on its own Redis ACL user (``eventbus.acl``), as in production, and the key
that seals the secrets services store (``servicekit.secretbox``).

Passwords come from ``REDIS_PASSWORD_<SERVICE>`` (``REDIS_PASSWORD_BACKOFFICE_API``, …) when set, otherwise
fresh random ones for this run: the users are created again at every start (ACLs live in the server's
configuration, not in its AOF), so nothing needs remembering.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

from eventbus import Keys, acl, is_cluster_url
from servicekit.secretbox import generate_key

from wolfgang.console import CliError


def password_variable(service: str) -> str:
    return "REDIS_PASSWORD_" + service.upper().replace("-", "_")


def create_users(
    admin_url: str,
    prefix: str,
    live_prefix: str,
    services: Iterable[str],
    environ: Mapping[str, str],
) -> dict[str, str]:
    """Create (or reset) the ACL user of every service through ``admin_url``; returns each service's
    ``REDIS_URL`` with its user and password."""
    keys = Keys(prefix, live_prefix, sharded=is_cluster_url(admin_url))
    passwords = {s: environ.get(password_variable(s)) or secrets.token_urlsafe(24) for s in services}
    acl.install(admin_url, acl.setuser_commands(keys, passwords))
    return {s: acl.with_credentials(admin_url, s, p) for s, p in passwords.items()}


def aclfile(prefix: str, live_prefix: str, environ: Mapping[str, str], *, cluster: bool = False) -> str:
    """An ``aclfile`` for ``redis-server --aclfile`` (compose, production): the admin (``default``, password
    ``REDIS_ADMIN_PASSWORD``) and every service's user (``REDIS_PASSWORD_<SERVICE>``). Only SHA-256 hashes
    of the passwords are written. A missing password is an error naming its variable."""
    wanted = ["REDIS_ADMIN_PASSWORD", *(password_variable(s) for s in acl.services())]
    missing = [name for name in wanted if not environ.get(name)]
    if missing:
        raise CliError(f"set {', '.join(missing)} (one strong random value each)")
    keys = Keys(prefix, live_prefix, sharded=cluster)
    admin = hashlib.sha256(environ["REDIS_ADMIN_PASSWORD"].encode()).hexdigest()
    passwords = {s: environ[password_variable(s)] for s in acl.services()}
    return f"user default on #{admin} ~* &* +@all\n" + acl.aclfile(keys, passwords)


def secrets_keys(data_dir: Path, *, create: bool = True) -> str | None:
    """The local system's SECRETS_KEYS: made once (``create``) and kept in ``data_dir``, owner-only, since the
    secrets sealed with it live on in the embedded Redis's AOF. None when absent and not to be made."""
    path = data_dir / "secrets.keys"
    if not path.exists():
        if not create:
            return None
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(generate_key() + "\n")
    return path.read_text().strip()
