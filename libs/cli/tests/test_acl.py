"""`wolfgang acl-file`: an aclfile redis-server loads, whose users are the services' least privilege."""

from __future__ import annotations

import redis
from eventbus import acl
from eventbus.server import RedisServer
from typer.testing import CliRunner
from wolfgang.__main__ import app
from wolfgang.acl import password_variable


def test_acl_file_is_loaded_by_redis_server_and_locks_out_anonymous_clients(tmp_path):
    env = {"REDIS_ADMIN_PASSWORD": "admin-pw"} | {password_variable(s): f"{s}-pw" for s in acl.services()}
    result = CliRunner().invoke(app, ["--prefix", "wb", "acl-file"], env=env)
    assert result.exit_code == 0, result.output
    assert "admin-pw" not in result.output and "-pw" not in result.output  # hashes only
    aclfile = tmp_path / "users.acl"
    aclfile.write_text("")  # open while the harness waits for the server, then the file is loaded
    with RedisServer(tmp_path, extra_args=("--aclfile", str(aclfile))) as server:
        aclfile.write_text(result.output)
        with redis.Redis(port=server.port) as loader:
            loader.execute_command("ACL", "LOAD")
        anonymous = redis.Redis(port=server.port)
        try:
            anonymous.ping()
            raise AssertionError("an anonymous client was let in")
        except redis.AuthenticationError:
            pass
        capi = redis.Redis(port=server.port, username="facebook-capi", password="facebook-capi-pw")
        capi.set("wb:svc:facebook-capi:probe", "1")
        try:
            capi.get("wb:svc:evolution-manager:probe")
            raise AssertionError("facebook-capi read evolution-manager's key")
        except redis.exceptions.NoPermissionError:
            pass
        admin = redis.Redis(port=server.port, password="admin-pw")
        assert admin.get("wb:svc:facebook-capi:probe") == b"1"
        for client in (anonymous, capi, admin):
            client.close()


def test_acl_file_names_every_missing_password():
    result = CliRunner().invoke(app, ["acl-file"], env={"REDIS_ADMIN_PASSWORD": "x"})
    assert result.exit_code == 1 and "REDIS_PASSWORD_BACKOFFICE_API" in result.output
