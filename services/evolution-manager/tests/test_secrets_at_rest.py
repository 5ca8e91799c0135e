"""Instance secrets at rest (issue #20, finding 5): the webhook secret and the instance's Evolution token are
stored encrypted with SECRETS_KEYS, still work, survive a key rotation, and no key means no start."""

from __future__ import annotations

import pytest
from evolution_manager.app import create_app
from evolution_manager.keys import ServiceKeys
from fakes.evolution_webhooks import text_message_webhook
from servicekit.secretbox import MissingSecretsKey, SecretBox, SecretUnreadable, generate_key

INSTANCE_APIKEY = "fake-instance-apikey-vendas-01"  # what conftest registers


def hello(service) -> dict:
    return text_message_webhook(instance=service.INSTANCE, from_number="5511987654321", text="oi")


async def stored(service) -> dict[bytes, bytes]:
    return await service.bus.redis.hgetall(ServiceKeys(service.bus.keys).instance(service.INSTANCE))


async def test_instance_secrets_are_stored_encrypted_and_still_authenticate_and_send(service) -> None:
    raw = await stored(service)
    assert raw[b"webhook_secret"].startswith(b"fernet:") and raw[b"api_key"].startswith(b"fernet:")
    dump = b" ".join(raw.values())
    assert service.SECRET.encode() not in dump and INSTANCE_APIKEY.encode() not in dump
    box = SecretBox.from_setting(service.app.state.ports.settings.secrets_keys)
    assert box.open(raw[b"webhook_secret"].decode()) == service.SECRET
    accepted = await service.post_webhook(hello(service))
    assert accepted.status_code == 200, accepted.text
    refused = await service.post_webhook(hello(service), headers={"x-shared-secret": "x" * 32})
    assert refused.status_code == 401


async def test_with_a_new_key_first_the_old_values_still_open_and_new_ones_use_the_new_key(
    run_service, make_settings
) -> None:
    """The service's half of a rotation (``wolfgang secrets rotate`` re-seals what is stored)."""
    old, new = make_settings().secrets_keys.get_secret_value(), generate_key()
    async with run_service() as service:
        before = await stored(service)
    async with run_service(register=False, secrets_keys=f"{new},{old}") as service:
        accepted = await service.post_webhook(hello(service))
        assert accepted.status_code == 200, accepted.text
        await service.register(service.INSTANCE, company_id=service.COMPANY, api_key="new-token")
        after = await stored(service)
    assert after[b"webhook_secret"] == before[b"webhook_secret"]  # untouched: still the old key's
    assert SecretBox([new]).open(after[b"api_key"].decode()) == "new-token"
    with pytest.raises(SecretUnreadable):
        SecretBox([old]).open(after[b"api_key"].decode())


def test_without_secrets_keys_the_service_refuses_to_start(make_settings) -> None:
    with pytest.raises(MissingSecretsKey, match="SECRETS_KEYS"):
        create_app(make_settings(secrets_keys=None))
    with pytest.raises(MissingSecretsKey, match="SECRETS_KEYS"):
        create_app(make_settings(secrets_keys="not-a-key"))
