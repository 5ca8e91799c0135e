"""`wolfgang setup` against the running system: what it prints is enough to go live. Its API key works on
backoffice-api, and the Evolution configuration it prints, posted as is to (fake) Evolution, makes the
instance's next message arrive on the bus under the new company, by header or by JWT."""

import asyncio
import json
import shlex

import pytest
from eventbus import catalog
from eventbus.testing.waiting import eventually
from typer.testing import CliRunner
from wolfgang.__main__ import app
from wolfgang.demo import FAKE_EVOLUTION_AUTH
from wolfgang.system import INSTANCE, INSTANCE_APIKEY

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


async def setup(running, *args: str):
    """The command as a user types it; it runs its own event loop, hence the thread."""
    system = running.system
    env = {
        "REDIS_URL": system.redis_url,
        "BUS_PREFIX": running.bus.keys.prefix,
        "BUS_LIVE_PREFIX": running.bus.keys.live_prefix,
        "BACKOFFICE_URL": system.url("backoffice-api"),
        "WOLFGANG_PUBLIC_URL": system.url("evolution-manager"),
        "WOLFGANG_DEBUG": "",
        # The instance's own Evolution token, as its owner reads it in Evolution (evolution-manager verifies it).
        "WOLFGANG_INSTANCE_API_KEY": INSTANCE_APIKEY,
        # The platform operator's credential: backoffice-api makes the company's first key with it.
        "BACKOFFICE_ADMIN_TOKEN": system.credential("BACKOFFICE_ADMIN_TOKEN"),
    }
    return await asyncio.to_thread(CliRunner().invoke, app, ["setup", *args], env=env)


async def lead_writes_and_arrives(running, company_id: str, text: str) -> None:
    """Fake Evolution delivers to the webhook the instance was given (no url nor headers in this request)."""
    fake = running.system.url("fake-evolution")
    body = {
        "instance": INSTANCE,
        "template": "text",
        "params": {"from_number": "5511987650001", "text": text},
    }
    sent = (await running.http.post(f"{fake}/_fake/webhooks/send", json=body)).json()
    assert sent["delivery"]["delivered"], sent["delivery"]

    async def arrived() -> bool:
        rows = await running.bus.redis.xrange(running.bus.keys.stream("message.received"))
        events = [catalog.parse(fields[b"e"]) for _, fields in rows]
        return any(e.company_id == company_id and e.payload.body == text for e in events)

    await eventually(arrived, timeout=20)


@pytest.mark.parametrize("mode", [[], ["--jwt"]], ids=["secret-header", "jwt"])
async def test_setup_prints_a_key_and_an_evolution_webhook_that_work_as_printed(running, mode):
    result = await setup(running, "--instance", INSTANCE, "--json", *mode)

    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["company_id"].startswith("cmp_") and done["api_key"].startswith("wbk_")
    api = running.system.url("backoffice-api")
    instance = await running.http.get(
        f"{api}/v1/instances/{INSTANCE}", headers={"X-API-Key": done["api_key"]}
    )
    assert instance.status_code == 200, instance.text
    assert instance.json()["company_id"] == done["company_id"]
    assert instance.json()["instance_id"] == done["instance_id"]
    hook = done["evolution_webhook"]["webhook"]
    assert hook["url"] == f"{running.system.url('evolution-manager')}/webhooks/evolution"
    assert hook["headers"] == (
        {"jwt_key": done["webhook_secret"]} if mode else {"x-shared-secret": done["webhook_secret"]}
    )

    fake = running.system.url("fake-evolution")
    configured = await running.http.post(
        f"{fake}/webhook/set/{INSTANCE}", json=done["evolution_webhook"], headers=FAKE_EVOLUTION_AUTH
    )
    assert configured.status_code == 201, configured.text
    await lead_writes_and_arrives(running, done["company_id"], f"Oi, configurado por setup {mode}")


async def test_setup_prints_the_curl_that_configures_evolution_and_shows_the_secret_once(running):
    result = await setup(running, "--instance", INSTANCE)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    secret = next(line.split()[1] for line in lines if line.startswith("secret"))
    company = next(line.split()[1] for line in lines if line.startswith("company"))
    curl = shlex.split(next(line for line in lines if line.startswith("curl ")))
    assert curl[curl.index("-X") + 1] == "POST"
    assert curl[curl.index("-X") + 2] == f"$EVOLUTION_API_URL/webhook/set/{INSTANCE}"
    body = json.loads(curl[curl.index("-d") + 1])
    assert body["webhook"]["headers"] == {"x-shared-secret": secret}
    assert body["webhook"]["events"] == ["MESSAGES_UPSERT", "CONNECTION_UPDATE"]
    assert "not HTTPS" in result.stderr  # a loopback URL is fine here, not for a real Evolution
    assert sum(line.count(secret) for line in lines) == 2  # the secret line and the curl body

    fake = running.system.url("fake-evolution")
    await running.http.post(f"{fake}/webhook/set/{INSTANCE}", json=body, headers=FAKE_EVOLUTION_AUTH)
    await lead_writes_and_arrives(running, company, "Oi, pelo curl impresso")


async def test_setup_for_a_name_another_company_holds_is_refused_and_says_how_to_undo_the_key(running):
    first = await setup(running, "--instance", INSTANCE, "--json")
    assert first.exit_code == 0, first.output

    second = await setup(running, "--instance", INSTANCE)

    assert second.exit_code == 1
    assert "409" in second.stderr and "not available" in second.stderr
    assert "backoffice-api keys revoke key_" in second.stderr
