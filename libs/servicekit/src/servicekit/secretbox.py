"""Secrets at rest: what a service keeps in Redis only to use it later (an instance's webhook secret and
Evolution token, a company's Meta access token) is stored encrypted, so a Redis dump, backup or export
reveals nothing usable.

Fernet (``cryptography``: AES-128-CBC with HMAC-SHA256, a timestamp, a random IV) under keys from
``SECRETS_KEYS``: a comma-separated list of Fernet keys. The first encrypts; every one decrypts
(``MultiFernet``), which is how keys rotate (docs/security.md): put a new key first, restart, re-encrypt what
is stored (:meth:`SecretBox.rotate`), then drop the old key. A stored value carries the ``fernet:`` marker;
one without it, or one that no key opens, is refused (:class:`SecretUnreadable`), never used as is.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

MARKER = "fernet:"
VARIABLE = "SECRETS_KEYS"


class MissingSecretsKey(RuntimeError):
    """The service stores secrets and ``SECRETS_KEYS`` is unset or not a list of Fernet keys."""


class SecretUnreadable(ValueError):
    """A stored secret that no configured key opens (a key dropped too early, or a value not ours)."""


def generate_key() -> str:
    """A new Fernet key (32 random bytes, URL-safe base64)."""
    return Fernet.generate_key().decode()


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise MissingSecretsKey(f"{VARIABLE} is required: one Fernet key or more, comma-separated")
        try:
            self._fernet = MultiFernet([Fernet(key.strip().encode()) for key in keys])
        except ValueError:
            raise MissingSecretsKey(
                f"{VARIABLE} holds a value that is not a Fernet key (32 URL-safe base64 bytes)"
            ) from None

    @classmethod
    def from_setting(cls, value: SecretStr | None) -> SecretBox:
        """From the settings' ``secrets_keys``; a missing value stops the service, naming the variable."""
        raw = value.get_secret_value() if value is not None else ""
        return cls([k for k in raw.split(",") if k.strip()])

    def seal(self, plaintext: str) -> str:
        return MARKER + self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(MARKER):
            raise SecretUnreadable("a stored secret is not encrypted")
        try:
            return self._fernet.decrypt(stored.removeprefix(MARKER).encode()).decode()
        except InvalidToken:
            raise SecretUnreadable("no key in SECRETS_KEYS opens a stored secret") from None

    def rotate(self, stored: str) -> str:
        """The same secret encrypted with the first key (what to write back before dropping older keys)."""
        self.open(stored)  # same refusals as open
        return MARKER + self._fernet.rotate(stored.removeprefix(MARKER).encode()).decode()
