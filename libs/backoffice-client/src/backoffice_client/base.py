"""The base of every answer model (unknown fields are ignored, so a newer API does not break an older client)
and the catalog's channels, as the answers name them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

EventType = Literal[
    "message.received",
    "message.sent",
    "lead.created",
    "lead.qualified",
    "contract.created",
    "contract.signed",
    "instance.status",
    "conversion.reported",
]


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
