"""`keys` is backoffice-api's sub-app, mounted when that package provides it; here: that it is mounted and
talks to the Redis and prefix of this command line."""

import pytest
from wolfgang.__main__ import keys_app

pytestmark = pytest.mark.skipif(keys_app is None, reason="backoffice_api.keys_cli is not installed")


def test_keys_created_through_wolfgang_are_listed_on_the_same_prefix(cli, redis_url, bus_settings):
    created = cli("keys", "create", "--company", "cmp_keys", "--scope", "leads:read", "--name", "ops")

    assert created.exit_code == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("wbk_")
    listed = cli("keys", "list", "--company", "cmp_keys")
    assert listed.exit_code == 0
    assert "ops" in listed.stdout and secret not in listed.stdout  # their table wraps the long ids
