"""Every test process says development explicitly (``WOLFGANG_ENV``, servicekit.settings): production is the
default, and refuses to start without real secrets. Subprocesses the tests start inherit it; a test of
production mode sets ``WOLFGANG_ENV=production`` itself.

Hypothesis checks properties, not speed: its per-example deadline (200 ms by default) failed a packing test
on a loaded CI machine under coverage. Speed is the benchmarks' to measure (bench/, docs/benchmarks.md).
Its regex strategies import (and pytest's assertion rewriting compiles) their module on first use, inside a
test; CPython 3.11 before 3.11.8 keeps the AST builder's recursion depth per interpreter, not per thread, so
that compile can fail with "SystemError: AST constructor recursion depth mismatch" while another thread
compiles too (python/cpython#106905; seen once in CI's cluster pass). A session fixture loads it before the
first test, before any test starts a thread (not at import: hypothesis refuses that work during conftest
initialization).

The console's browser tests (backoffice-api's ``tests/console/`` against the app alone, ``tests/e2e/
test_console_day.py`` against the whole system) share what is here: Debian's Chromium, the browser window they
open, and where their screenshots go. Each folder's conftest opens the browser with the Playwright API its tests
use (sync there, async beside the e2e system's async fixtures)."""

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

os.environ.setdefault("WOLFGANG_ENV", "development")

settings.register_profile("wolfgang", deadline=None)
settings.load_profile("wolfgang")


@pytest.fixture(scope="session", autouse=True)
def _hypothesis_regex_loaded() -> None:
    import hypothesis.strategies._internal.regex  # noqa: F401 (the docstring says why)


#: A laptop's window, the console's labels in Portuguese (its default language).
BROWSER_CONTEXT: dict[str, Any] = {"viewport": {"width": 1280, "height": 860}, "locale": "pt-BR"}


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium (`make browser` installs it); Playwright's own browser download fails here."""
    path = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if shutil.which(path) is None:
        message = f"{path} is missing: `make test` installs Debian's chromium (apt-get, as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def browser_context() -> dict[str, Any]:
    return BROWSER_CONTEXT


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the console's screenshots go: ``CONSOLE_SCREENSHOTS``, else ``.artifacts/console/``."""
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS", Path(__file__).parent / ".artifacts" / "console"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
