import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
import redis
from eventbus.server import free_port
from typer.testing import CliRunner
from wolfgang.__main__ import app
from wolfgang.system import port_in_use


def _wait_ready(url, process, timeout=25.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready within {timeout}s")


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_up_starts_the_fakes_and_a_service_then_stops_all_of_them_on_ctrl_c(
    redis_url, bus_settings, tmp_path
):
    ports = {
        name: free_port() for name in ("fake-evolution", "fake-autentique", "fake-graph", "agent-runtime")
    }
    command = [
        sys.executable, "-m", "wolfgang",
        "--redis-url", redis_url, "--prefix", bus_settings.prefix, "--live-prefix", bus_settings.live_prefix,
        "up", "--service", "agent-runtime", "--no-demo", "--data-dir", str(tmp_path),
        *(arg for name, port in ports.items() for arg in ("--port", f"{name}={port}")),
    ]  # fmt: skip
    env = os.environ | {"WOLFGANG_DEBUG": ""}
    up = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        _wait_ready(f"http://127.0.0.1:{ports['agent-runtime']}/readyz", up)
        for fake in ("fake-evolution", "fake-autentique", "fake-graph"):
            _wait_ready(f"http://127.0.0.1:{ports[fake]}/_fake/requests", up)

        up.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal does
        output, _ = up.communicate(timeout=30)
    finally:
        if up.poll() is None:
            up.kill()
            up.communicate()

    assert up.returncode == 0, output
    assert "✓ ready" in output and "agent-runtime" in output
    for name in ports:
        assert f"{name}" in output.split("stopping:")[1]
        assert not port_in_use(ports[name]), f"{name} still listens after Ctrl-C"
    stopped = output.split("stopping:")[1]
    assert stopped.count("stopped") == 4, stopped
    assert (tmp_path / "logs" / "agent-runtime.log").read_text()


def test_up_names_a_taken_port_and_how_to_choose_another_before_starting_anything(redis_url, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = CliRunner().invoke(
            app,
            ["--redis-url", redis_url, "up", "--data-dir", str(tmp_path), "--port", f"fake-evolution={port}"],
            env={"WOLFGANG_DEBUG": ""},
        )

    assert result.exit_code == 1
    assert f"port {port} for fake-evolution is in use" in result.stderr
    assert "--port fake-evolution=N" in result.stderr
    assert not (tmp_path / "logs").exists()  # nothing was started


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_up_with_its_embedded_redis_runs_each_service_on_its_acl_user_with_a_secrets_key(tmp_path):
    ports = {
        name: free_port() for name in ("fake-evolution", "fake-autentique", "fake-graph", "facebook-capi")
    }
    redis_port = free_port()
    command = [
        sys.executable, "-m", "wolfgang", "up", "--service", "facebook-capi", "--no-demo", "--no-tail",
        "--data-dir", str(tmp_path), "--redis-port", str(redis_port),
        *(arg for name, port in ports.items() for arg in ("--port", f"{name}={port}")),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRETS_KEYS")} | {
        "WOLFGANG_DEBUG": ""
    }
    up = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        # facebook-capi starts only with a usable SECRETS_KEYS, and is ready only once its user reaches Redis
        _wait_ready(f"http://127.0.0.1:{ports['facebook-capi']}/readyz", up)
        with redis.Redis(port=redis_port) as admin:  # make run's admin (the default user) stays local
            users = {client["user"] for client in admin.client_list()}
        assert "facebook-capi" in users
        assert (tmp_path / "secrets.keys").stat().st_mode & 0o077 == 0
        up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=30)
    finally:
        if up.poll() is None:
            up.kill()
            up.communicate()
    assert up.returncode == 0, output
