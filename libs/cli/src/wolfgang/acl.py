"""Each service of a local system on its own Redis ACL user (``eventbus.acl``), as in production.

Passwords come from ``REDIS_PASSWORD_<SERVICE>`` (``REDIS_PASSWORD_BACKOFFICE_API``, …) when set, otherwise
fresh random ones for this run: the users are created again at every start (ACLs live in the server's
configuration, not in its AOF), so nothing needs remembering.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping

from eventbus import Keys, acl, is_cluster_url


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
