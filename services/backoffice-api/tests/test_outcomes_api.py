"""/v1/ops/outcomes: unknown outcomes read from the real evolution-manager (over HTTP, with the fake Evolution
behind it), shown to their company only, and resolved with the deciding key recorded by the owner."""

from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager
from backoffice_api.app import create_app
from eventbus import DeadLetters, Envelope, MessageSent, OutgoingMessage
from eventbus.server import free_port
from eventbus.testing.waiting import eventually
from evolution_manager.app import create_app as create_evolution_manager
from evolution_manager.settings import Settings as EvolutionSettings
from fakes import evolution as fake_evolution
from fakes.serving import served
from servicekit.secretbox import generate_key

COMPANY = "cmp_A"  # the conftest's


async def test_an_unknown_send_is_listed_for_its_company_and_resolved(
    settings, bus, redis_url, bus_settings, headers, other_headers
) -> None:
    fake = fake_evolution.EvolutionState(stores_messages=False)
    fake.add_instance("vendas-01", "k")
    async with served(fake_evolution.create_app(fake)) as evolution_url:
        manager = EvolutionSettings(
            redis_url=redis_url,
            bus_prefix=bus_settings.prefix,
            bus_live_prefix=bus_settings.live_prefix,
            api_url=evolution_url,
            refresh_on_start=False,
            consumer_block_seconds=0.1,
            admin_token="dev-service-token",  # backoffice-api's credential for it in these tests
            secrets_keys=generate_key(),
        )
        async with served(create_evolution_manager(manager), lifespan="on") as manager_url:
            admin = {"Authorization": "Bearer dev-service-token"}
            async with httpx.AsyncClient(base_url=manager_url, headers=admin) as http:
                body = {"company_id": COMPANY, "api_key": "k"}
                instance = (await http.put("/v1/instances/vendas-01", json=body)).json()
            fake.garble_next()  # Evolution sends, then answers 201 with an HTML page
            payload = MessageSent(
                instance_id=instance["instance_id"],
                to="+5511987654321",
                messages=[OutgoingMessage(text="oi")],
            )
            await bus.publish(Envelope.new(payload, source="agent-runtime", company_id=COMPANY))
            letters = DeadLetters(bus, "message.sent", "evolution-manager")
            await eventually(letters.list)

            changes = {
                "evolution_url": manager_url,
                "capi_url": f"http://127.0.0.1:{free_port()}",
                "autentique_url": f"http://127.0.0.1:{free_port()}",
                "consume": False,
            }
            app = create_app(settings.model_copy(update=changes))
            async with (
                LifespanManager(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
            ):
                listed = (await client.get("/v1/ops/outcomes", headers=headers)).json()
                [item] = listed["items"]
                assert (item["service"], item["effect"], item["answer"]) == (
                    "evolution-manager",
                    "send_text",
                    "HTTP 201 (unreadable_body)",
                )
                assert sorted(listed["unavailable"]) == ["autentique-service", "facebook-capi"]
                assert (await client.get("/v1/ops/outcomes", headers=other_headers)).json()["items"] == []

                path = f"/v1/ops/outcomes/evolution-manager/send_text/{item['id']}/resolve"
                refused = await client.post(path, json={"decision": "resend"}, headers=other_headers)
                assert refused.status_code == 404  # another company's
                resolved = await client.post(path, json={"decision": "resend"}, headers=headers)
                assert resolved.status_code == 200, resolved.text
                await eventually(lambda: _async(len(fake.sent) == 2))  # sent again, once, as decided
                assert (await client.get("/v1/ops/outcomes", headers=headers)).json()["items"] == []
    assert [s.request["text"] for s in fake.sent] == ["oi", "oi"]


async def _async(value: bool) -> bool:
    return value
