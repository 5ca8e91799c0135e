"""Identifiers with the catalog's prefixes: ``evt_``, ``cor_``, ``cmp_``, ``lead_`` … followed by a ULID.

ULIDs sort by creation time, which keeps ids readable in logs and makes stream replays easy to reason about.
"""

from __future__ import annotations

import re

from ulid import ULID

ULID_PATTERN = r"[0-9A-HJKMNP-TV-Z]{26}"
EVENT_ID = re.compile(rf"^evt_{ULID_PATTERN}$")


def new_id(prefix: str) -> str:
    """A fresh ``<prefix>_<ULID>`` id, e.g. ``new_id("lead")`` → ``lead_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1``."""
    return f"{prefix}_{ULID()}"


def event_id() -> str:
    return new_id("evt")


def correlation_id() -> str:
    return new_id("cor")
