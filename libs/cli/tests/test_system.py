import pytest
from wolfgang.console import CliError
from wolfgang.credentials import PAIRS
from wolfgang.system import MEMBERS, System, resolve_ports


def test_default_ports_are_the_documented_ones():
    ports = resolve_ports({})

    assert ports == {
        "fake-evolution": 8080, "fake-autentique": 8081, "fake-graph": 8082, "backoffice-api": 8000,
        "evolution-manager": 8001, "agent-runtime": 8002, "facebook-capi": 8003, "autentique-service": 8004,
    }  # fmt: skip


def test_flags_beat_the_environment_which_beats_the_offset():
    ports = resolve_ports({"AGENT_PORT": "7002"}, ["facebook-capi=7003"], offset=1000)

    assert ports["agent-runtime"] == 7002
    assert ports["facebook-capi"] == 7003
    assert ports["backoffice-api"] == 9000 and ports["fake-graph"] == 9082


@pytest.mark.parametrize("flag", ["agent-runtime", "agent-runtime=x", "crm=9000", "agent-runtime=70000"])
def test_bad_port_flags_are_refused(flag):
    with pytest.raises(CliError):
        resolve_ports({}, [flag])


def test_each_service_gets_the_bus_its_port_and_the_fakes_it_talks_to():
    ports = {name: 9000 + i for i, name in enumerate(MEMBERS)}
    system = System("redis://127.0.0.1:6390/0", "wb", "", ports)

    evolution = system.environment("evolution-manager")
    autentique = system.environment("autentique-service")
    backoffice = system.environment("backoffice-api")

    assert evolution["REDIS_URL"] == "redis://127.0.0.1:6390/0" and evolution["BUS_PREFIX"] == "wb"
    assert evolution["EVOLUTION_PORT"] == str(ports["evolution-manager"])
    assert evolution["EVOLUTION_API_URL"] == system.url("fake-evolution")
    assert autentique["AUTENTIQUE_API_URL"] == system.url("fake-autentique") + "/v2/graphql"
    assert backoffice["BACKOFFICE_AUTENTIQUE_URL"] == system.url("autentique-service")
    assert backoffice["BACKOFFICE_EVOLUTION_URL"] == system.url("evolution-manager")


def test_the_settings_of_each_service_read_what_the_system_sets(monkeypatch):
    """The variable names here must be the ones the services' settings read (they are written elsewhere)."""
    from agent_runtime.settings import Settings as AgentSettings
    from autentique_service.settings import Settings as AutentiqueSettings
    from backoffice_api.settings import Settings as BackofficeSettings
    from evolution_manager.settings import Settings as EvolutionSettings
    from facebook_capi.settings import Settings as CapiSettings

    ports = {name: 9100 + i for i, name in enumerate(MEMBERS)}
    system = System("redis://127.0.0.1:6391/0", "pfx", "live:", ports)
    for name, settings_class in [
        ("agent-runtime", AgentSettings),
        ("autentique-service", AutentiqueSettings),
        ("backoffice-api", BackofficeSettings),
        ("evolution-manager", EvolutionSettings),
        ("facebook-capi", CapiSettings),
    ]:
        with monkeypatch.context() as env:
            for key, value in system.environment(name).items():
                env.setenv(key, value)
            settings = settings_class()
        assert (settings.redis_url, settings.bus_prefix, settings.bus_live_prefix) == (
            system.redis_url,
            "pfx",
            "live:",
        )
        assert settings.port == ports[name]
    with monkeypatch.context() as env:
        for key, value in system.environment("autentique-service").items():
            env.setenv(key, value)
        assert AutentiqueSettings().api_url == system.url("fake-autentique") + "/v2/graphql"
    with monkeypatch.context() as env:
        for key, value in system.environment("facebook-capi").items():
            env.setenv(key, value)
        assert CapiSettings().graph_url == system.url("fake-graph")
    with monkeypatch.context() as env:
        for key, value in system.environment("evolution-manager").items():
            env.setenv(key, value)
        assert str(EvolutionSettings().api_url).rstrip("/") == system.url("fake-evolution")
    with monkeypatch.context() as env:
        for key, value in system.environment("backoffice-api").items():
            env.setenv(key, value)
        backoffice = BackofficeSettings()
    assert str(backoffice.autentique_url).rstrip("/") == system.url("autentique-service")
    assert str(backoffice.evolution_url).rstrip("/") == system.url("evolution-manager")
    assert str(backoffice.agent_url).rstrip("/") == system.url("agent-runtime")
    tokens = {
        "AUTENTIQUE_SERVICE_TOKEN": backoffice.autentique_token,
        "EVOLUTION_ADMIN_TOKEN": backoffice.evolution_token,
        "AGENT_ADMIN_TOKEN": backoffice.agent_token,
    }
    for name, token in tokens.items():
        assert token is not None and token.get_secret_value() == system.credential(name)


def test_every_caller_callee_pair_has_its_own_credential_and_only_the_pair_gets_it():
    system = System("redis://127.0.0.1:6391/0")
    values = [system.credential(name) for name in PAIRS]
    assert len(set(values)) == len(values) and all(len(v) >= 32 for v in values)
    for name, pair in PAIRS.items():
        given = {m for m in MEMBERS if system.environment(m).get(name) == system.credential(name)}
        assert given == {pair.caller, pair.callee} & {
            m for m, spec in MEMBERS.items() if spec.kind == "service"
        }
    assert System("redis://127.0.0.1:6391/0").credentials != system.credentials  # random per system


def test_the_system_says_development_to_every_service():
    system = System("redis://127.0.0.1:6391/0")
    assert {system.environment(m.name)["WOLFGANG_ENV"] for m in MEMBERS.values() if m.kind == "service"} == {
        "development"
    }


def test_a_credential_that_begins_with_a_dash_reaches_the_fake_whole():
    # secrets.token_urlsafe can begin with "-": passed as its own argument, argparse took it for an option and
    # fake-autentique would not start (seen once in CI).
    from fakes.__main__ import build_parser

    secret = "-Xq3" + "a" * 40
    system = System("redis://127.0.0.1:1/0", "wb", "", credentials={"AUTENTIQUE_WEBHOOK_SECRET": secret})
    command = system.command("fake-autentique")
    args = build_parser().parse_args(command[command.index("fakes") + 1 :])
    assert args.webhook_secret == secret
