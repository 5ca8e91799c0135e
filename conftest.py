"""Every test process says development explicitly (``WOLFGANG_ENV``, servicekit.settings): production is the
default, and refuses to start without real secrets. Subprocesses the tests start inherit it; a test of
production mode sets ``WOLFGANG_ENV=production`` itself.

Hypothesis checks properties, not speed: its per-example deadline (200 ms by default) failed a packing test
on a loaded CI machine under coverage. Speed is the benchmarks' to measure (bench/, docs/benchmarks.md)."""

import os

from hypothesis import settings

os.environ.setdefault("WOLFGANG_ENV", "development")

settings.register_profile("wolfgang", deadline=None)
settings.load_profile("wolfgang")
