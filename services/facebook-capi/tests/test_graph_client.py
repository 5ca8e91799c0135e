"""Graph error answers become ours once: transient → retried, code 100 → a bad event, the rest permanent."""

import httpx
import pytest
from eventbus import PermanentFailure
from facebook_capi.clients.graph import error_of
from facebook_capi.errors import EventRejected, GraphRejected, GraphUnavailable
from fakes.graph import graph_error_body
from servicekit import UpstreamUnavailable


def answer(status: int, code: int, subcode: int | None = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=graph_error_body(code, subcode=subcode), headers=headers)


@pytest.mark.parametrize("code", [1, 2, 4, 17, 32, 341, 613, 80004])
def test_throttling_and_temporary_codes_are_retryable(code: int) -> None:
    error = error_of(answer(400, code))
    assert isinstance(error, GraphUnavailable) and not isinstance(error, PermanentFailure)
    assert error.code == code


def test_5xx_and_429_are_retryable_and_keep_retry_after() -> None:
    assert isinstance(error_of(httpx.Response(502, text="bad gateway")), GraphUnavailable)
    error = error_of(answer(429, 4, **{"Retry-After": "3"}))
    assert isinstance(error, UpstreamUnavailable) and error.retry_after == 3.0


@pytest.mark.parametrize(("code", "status"), [(190, 401), (10, 403), (200, 403), (3, 400), (368, 400)])
def test_token_permission_and_policy_errors_are_permanent_for_the_whole_request(
    code: int, status: int
) -> None:
    error = error_of(answer(status, code))
    assert isinstance(error, GraphRejected) and isinstance(error, PermanentFailure)
    assert not isinstance(error, EventRejected)
    assert f"code {code}" in str(error)


def test_invalid_parameter_blames_an_event_with_metas_code_and_message() -> None:
    error = error_of(answer(400, 100, 2804087))
    assert isinstance(error, EventRejected)
    assert (error.code, error.subcode) == (100, 2804087)
    assert "code 100/2804087" in str(error) and "Invalid parameter" in str(error)


def test_unknown_pixel_is_not_blamed_on_an_event() -> None:
    error = error_of(answer(400, 100, 33))
    assert isinstance(error, GraphRejected) and not isinstance(error, EventRejected)
