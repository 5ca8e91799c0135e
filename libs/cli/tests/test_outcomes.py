"""``wolfgang outcomes``: an unknown sendText outcome listed from its owner (evolution-manager, over HTTP) and
from the dead letters, then resolved by an operator."""

import json

import httpx
from eventbus import DeadLetters, MessageSent, OutgoingMessage
from eventbus.server import free_port
from eventbus.testing.waiting import eventually
from evolution_manager.app import create_app
from evolution_manager.settings import Settings
from fakes import evolution as fake_evolution
from fakes.serving import served
from servicekit.secretbox import generate_key

#: The platform operators' credential for evolution-manager (EVOLUTION_OPERATOR_TOKEN) in this test.
OPERATOR = "operator-credential-for-the-outcomes-test"


async def test_an_unknown_outcome_is_listed_and_resolved_from_the_cli(
    acli, bus, redis_url, bus_settings
) -> None:
    fake = fake_evolution.EvolutionState(stores_messages=False)
    fake.add_instance("vendas-01", "k")
    async with served(fake_evolution.create_app(fake)) as evolution_url:
        settings = Settings(
            redis_url=redis_url,
            bus_prefix=bus_settings.prefix,
            bus_live_prefix=bus_settings.live_prefix,
            api_url=evolution_url,
            refresh_on_start=False,
            consumer_block_seconds=0.1,
            admin_token="backoffice-credential-for-the-test",
            operator_token=OPERATOR,
            secrets_keys=generate_key(),
        )
        async with served(create_app(settings), lifespan="on") as url:
            admin = {"Authorization": f"Bearer {OPERATOR}"}
            async with httpx.AsyncClient(base_url=url, headers=admin) as http:
                body = {"company_id": "cmp_1", "api_key": "k"}
                instance = (await http.put("/v1/instances/vendas-01", json=body)).json()
            fake.drop_next()  # Evolution sends, then the connection is cut before the answer
            payload = MessageSent(
                instance_id=instance["instance_id"],
                to="+5511987654321",
                messages=[OutgoingMessage(text="oi")],
            )
            await bus.emit(payload, company_id="cmp_1")
            letters = DeadLetters(bus, "message.sent", "evolution-manager")
            await eventually(letters.list)
            urls = [
                "--url", f"evolution-manager={url}",
                "--url", f"facebook-capi=http://127.0.0.1:{free_port()}",
                "--token", f"evolution-manager={OPERATOR}",
            ]  # fmt: skip

            listed = await acli("outcomes", "list", *urls, "--json")
            assert listed.exit_code == 0, listed.stderr
            [row] = json.loads(listed.stdout)
            assert (row["service"], row["effect"]) == ("evolution-manager", "send_text")
            dead = await acli("outcomes", "list", "--dead-letters", "--json")
            assert [d["event_id"] for d in json.loads(dead.stdout)] == [row["event_id"]]

            args = ("--decision", "delivered", "--operator", "ana")
            resolved = await acli(
                "outcomes", "resolve", "evolution-manager", "send_text", row["id"], *args, *urls
            )
            assert resolved.exit_code == 0, resolved.stderr
            await eventually(lambda: _empty(letters))
            assert json.loads((await acli("outcomes", "list", *urls, "--json")).stdout) == []
    assert [s.request["text"] for s in fake.sent] == ["oi"]


async def _empty(letters: DeadLetters) -> bool:
    return await letters.count() == 0
