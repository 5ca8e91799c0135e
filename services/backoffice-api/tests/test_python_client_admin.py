"""backoffice_client's administration calls against this app over real Redis (async, through the ASGI app):
a key made, listed, rotated and revoked, each answer in its model; a retried creation is the same key; the
refusals arrive as the client's error types."""

from __future__ import annotations

import httpx
import pytest
from backoffice_client import AsyncBackofficeClient, Conflict, Forbidden, NotFound, Unauthorized


@pytest.fixture
async def api_for(app):
    made = []

    def build(key):
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        made.append(http)
        return AsyncBackofficeClient(api_key=key, http=http)

    yield build
    for http in made:
        await http.aclose()


async def test_keys_through_the_client(api_for, headers):
    admin = api_for(headers["X-API-Key"])

    issued = await admin.create_key(["leads:read"], name="tablet", idempotency_key="0f3c9a7e-tablet-key-1")
    again = await admin.create_key(["leads:read"], name="tablet", idempotency_key="0f3c9a7e-tablet-key-1")
    listed = await admin.list_keys()
    rotated = await admin.rotate_key(issued.key.key_id)
    works = await api_for(rotated.secret).me()
    revoked = await admin.revoke_key(rotated.key.key_id)

    assert again == issued and issued.key.scopes == ["leads:read"]
    assert issued.key.key_id in [k.key_id for k in listed]
    assert works.key_id == rotated.key.key_id and works.scopes == ["leads:read"]
    assert revoked.revoked_at is not None
    for secret in (issued.secret, rotated.secret):
        with pytest.raises(Forbidden):
            await api_for(secret).me()
    with pytest.raises(Conflict):
        await admin.rotate_key(issued.key.key_id)
    with pytest.raises(NotFound):
        await admin.revoke_key("key_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1")
    with pytest.raises(Unauthorized):
        await api_for("wbk_not-a-key").list_keys()


async def test_a_key_without_admin_gets_forbidden(api_for, make_key):
    reader = api_for(await make_key(scopes={"leads:read"}))

    with pytest.raises(Forbidden):
        await reader.list_keys()
    with pytest.raises(Forbidden):
        await reader.get_capi_settings()
