"""The service's own errors; each is a servicekit or bus error, so the one HTTP table and the consumer know them.

ServiceError (servicekit)
  NotFound
    UnknownInstance        no registered instance by that name or id → HTTP 404
  Conflict
    InstanceTaken          the name is registered to another company → HTTP 409
  Forbidden                an action of the platform operator asked with the service token → HTTP 403
RequestValidationError (FastAPI)
  TokenRequired            a company registers a new instance without its own Evolution token → HTTP 422
  Unauthenticated          webhook secret/JWT or admin token missing or wrong → HTTP 401
  UpstreamRejected         (also a PermanentFailure)
    EvolutionRejected      Evolution answered 400/401/403/404 → dead letter with the reason
  Malformed
    MalformedWebhook       the body is not JSON, or the URL and the body disagree → HTTP 400
PermanentFailure (eventbus)
  UndeliverableReply       a message.sent we can never send (unknown instance, bad number, a type not supported)
    MissingApiKey          neither the instance nor EVOLUTION_API_KEY has a key; also a Conflict → HTTP 409
"""

from __future__ import annotations

from eventbus import PermanentFailure
from fastapi.exceptions import RequestValidationError
from servicekit import Conflict, Malformed, NotFound, UpstreamRejected, UpstreamUnavailable


class UnknownInstance(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no registered Evolution instance {ref!r}")
        self.ref = ref


class InstanceTaken(Conflict):
    def __init__(self, name: str) -> None:
        super().__init__(f"instance name {name!r} is registered to another company")


class TokenRequired(RequestValidationError):
    """422 naming ``api_key``, through servicekit's one handler of FastAPI's validation errors."""

    def __init__(self, name: str) -> None:
        super().__init__(
            [
                {
                    "loc": ("body", "api_key"),
                    "msg": f"required to register {name!r}: the instance's own Evolution token (its hash)",
                    "type": "missing",
                }
            ]
        )


class MalformedWebhook(Malformed):
    """A body that cannot be read at all (HTTP 400; Evolution does not retry it)."""


class EvolutionRejected(UpstreamRejected):
    """Evolution refused the call; the message says why without echoing its body (it holds phone numbers)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class SendInProgress(UpstreamUnavailable):
    pass


class UndeliverableReply(PermanentFailure):
    pass


class MissingApiKey(UndeliverableReply, Conflict):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"instance {name!r} has no Evolution API key of its own"
            " (EVOLUTION_API_KEY serves only instances the platform created)"
        )
