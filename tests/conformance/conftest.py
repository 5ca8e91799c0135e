"""The conformance suite: the catalog's rules, checked the way another team's producer or consumer would meet
them (``conformance_kit``). Its helpers live in a plain module beside the tests, importable by them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from conformance_kit import first_alternative, payload_examples


@pytest.fixture
def examples() -> dict[str, dict[str, Any]]:
    """Each channel's payload example from the catalog's text, the first of each "a|b|c" alternative."""
    return {name: first_alternative(example) for name, example in payload_examples().items()}
