"""One credential per caller → callee pair: what `wolfgang up` gives backoffice-api for one service opens no
other, and each callee lets in only the callers it knows (before: one `dev-service-token` opened every API)."""

import httpx
import pytest
from agent_runtime.app import create_app as agent_app
from agent_runtime.settings import Settings as AgentSettings
from asgi_lifespan import LifespanManager
from evolution_manager.app import create_app as evolution_app
from evolution_manager.settings import Settings as EvolutionSettings
from facebook_capi.app import create_app as capi_app
from facebook_capi.settings import Settings as CapiSettings
from servicekit.secretbox import generate_key
from wolfgang.system import System

#: An admin route of each callee, and the apps as `wolfgang up` configures them.
CALLEES = {
    "agent-runtime": (agent_app, AgentSettings, "/v1/leads/lead_x/handoff?company_id=cmp_A"),
    "evolution-manager": (evolution_app, EvolutionSettings, "/v1/instances?company_id=cmp_A"),
    "facebook-capi": (capi_app, CapiSettings, "/v1/companies/cmp_A/capi"),
}
#: A credential whose pair grants one route only: backoffice-api reads facebook-capi's unknown outcomes, never
#: its company settings.
ROUTE_OF = {("facebook-capi", "CAPI_BACKOFFICE_TOKEN"): "/ops/outcomes"}


@pytest.mark.parametrize("callee", CALLEES)
async def test_each_callee_lets_in_its_own_callers_credentials_and_no_other(
    callee: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = System(redis_url, "cred", "cred:", secrets_keys=generate_key())
    for name, value in system.environment(callee).items():
        monkeypatch.setenv(name, value)
    create, settings_class, path = CALLEES[callee]
    app = create(
        settings_class(refresh_on_start=False) if callee == "evolution-manager" else settings_class()
    )
    own = {name for name, value in system.environment(callee).items() if value in system.credentials.values()}
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        for name, value in system.credentials.items():
            answer = await http.get(
                ROUTE_OF.get((callee, name), path), headers={"Authorization": f"Bearer {value}"}
            )
            if name in own:
                assert answer.status_code != 401, (name, answer.text)
            else:
                assert answer.status_code == 401, name
        assert (
            await http.get(path, headers={"Authorization": "Bearer dev-service-token"})
        ).status_code == 401
        assert (await http.get(path)).status_code == 401
