"""HTTP models derived from the libraries' own types, so that an answer cannot drift from what it shows."""

from __future__ import annotations

import dataclasses
from typing import Any, get_type_hints


def fields_of(kind: type[Any], *, omit: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields of dataclass ``kind`` (resolved types, in order), less ``omit``: the ``__annotations__`` of a
    pydantic model that answers it, e.g. ``class DeadLetterPublic(BaseModel): __annotations__ =
    {**fields_of(DeadLetter, omit=("entry",)), "event": EventPublic | None}``."""
    hints = get_type_hints(kind)
    unknown = set(omit) - hints.keys()
    if unknown:
        raise ValueError(f"{kind.__name__} has no field {sorted(unknown)}")  # a rename upstream: say so here
    return {f.name: hints[f.name] for f in dataclasses.fields(kind) if f.name not in omit}
