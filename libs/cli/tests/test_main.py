import json

from eventbus.server import free_port
from typer.testing import CliRunner
from wolfgang.__main__ import app


def test_redis_unreachable_is_one_line_on_stderr_and_exit_1():
    url = f"redis://127.0.0.1:{free_port()}/0"

    result = CliRunner().invoke(app, ["--redis-url", url, "consumers"], env={"WOLFGANG_DEBUG": ""})

    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach Redis")
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_an_invalid_prefix_is_refused_before_connecting(cli):
    result = cli("--prefix", "has space", "consumers")

    assert result.exit_code == 1
    assert "invalid --prefix 'has space'" in result.stderr


def test_help_names_every_command_and_where_keys_come_from():
    result = CliRunner().invoke(app, ["--help"])

    for command in (
        "up",
        "run",
        "demo",
        "setup",
        "tail",
        "publish",
        "events",
        "replay",
        "consumers",
        "dlq",
        "contracts",
    ):
        assert command in result.stdout
    assert "keys" in result.stdout


def test_run_env_shows_what_a_service_gets(cli, redis_url, bus_settings):
    result = cli("run", "facebook-capi", "--env")

    env = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert env["REDIS_URL"] == redis_url
    assert env["BUS_PREFIX"] == bus_settings.prefix
    assert env["CAPI_PORT"] == "8003"
    assert env["FACEBOOK_GRAPH_URL"] == "http://127.0.0.1:8082"


def test_run_refuses_what_is_not_a_service(cli):
    unknown = cli("run", "crm")
    fake = cli("run", "fake-graph")

    assert unknown.exit_code == fake.exit_code == 1
    assert "unknown process 'crm'" in unknown.stderr
    assert "fake-graph is not a service" in fake.stderr


def test_contracts_export_writes_the_catalog_then_finds_no_drift(tmp_path):
    runner = CliRunner()

    written = runner.invoke(app, ["contracts", "export", str(tmp_path), "--json"])
    checked = runner.invoke(app, ["contracts", "export", str(tmp_path), "--check"])
    (tmp_path / "asyncapi.json").write_text("{}")
    drifted = runner.invoke(app, ["contracts", "export", str(tmp_path), "--check"])

    assert json.loads(written.stdout)["unchanged"] == 0
    assert (tmp_path / "schemas" / "lead.created.v1.json").is_file()
    assert checked.exit_code == 0
    assert drifted.exit_code == 1 and "asyncapi.json" in drifted.stderr
