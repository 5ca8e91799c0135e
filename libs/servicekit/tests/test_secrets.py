from typing import ClassVar

import pytest
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict
from servicekit.credentials import caller
from servicekit.errors import Unauthenticated
from servicekit.secrets import UnsafeSettings, problems, refuse_unsafe
from servicekit.settings import ServiceSettings


class Example(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_", extra="ignore")
    required_secrets: ClassVar[tuple[str, ...]] = ("admin_token", "peer_token")

    admin_token: SecretStr | None = None
    peer_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("peer_token", "PEER_ADMIN_TOKEN")
    )
    api_key: SecretStr | None = None
    company_tokens: dict[str, SecretStr] = Field(default_factory=dict)


GOOD = "a-generated-credential-0123456789"


def test_each_variable_at_fault_is_named_once_with_its_fault() -> None:
    settings = Example(
        wolfgang_env="production",
        admin_token="short",
        api_key="fake-evolution-global-apikey",
        company_tokens={"cmp_1": "dev-service-token"},
    )
    assert problems(settings) == [
        "EXAMPLE_ADMIN_TOKEN is shorter than 16 characters",
        "EXAMPLE_API_KEY holds a published development value",
        "EXAMPLE_COMPANY_TOKENS holds a published development value",
        "PEER_ADMIN_TOKEN is not set",
    ]
    assert problems(Example(admin_token=GOOD, peer_token=GOOD + "x")) == []


def test_production_exits_with_one_line_and_development_does_not(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UnsafeSettings) as exited:
        refuse_unsafe(Example(wolfgang_env="production", admin_token=GOOD), service="example")
    assert exited.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "example: refusing to start in production (WOLFGANG_ENV=production): PEER_ADMIN_TOKEN is not set"
    ]
    refuse_unsafe(Example(wolfgang_env="development"), service="example")  # no secrets, still starts


def test_an_empty_variable_is_an_unset_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_ADMIN_TOKEN", "")
    assert Example().admin_token is None


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (f"Bearer {GOOD}", "backoffice-api"),
        (f"bearer   {GOOD}x", "operator"),
        (None, None),
        ("Bearer", None),
        ("Bearer ", None),
        (f"Basic {GOOD}", None),
        ("Bearer wrong", None),
    ],
)
def test_the_caller_is_the_one_whose_own_credential_is_presented(
    authorization: str | None, expected: str | None
) -> None:
    callers = {"backoffice-api": SecretStr(GOOD), "operator": SecretStr(GOOD + "x"), "unset": None}
    if expected is None:
        with pytest.raises(Unauthenticated):
            caller(authorization, callers)
    else:
        assert caller(authorization, callers) == expected
