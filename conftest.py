"""Every test process says development explicitly (``WOLFGANG_ENV``, servicekit.settings): production is the
default, and refuses to start without real secrets. Subprocesses the tests start inherit it; a test of
production mode sets ``WOLFGANG_ENV=production`` itself."""

import os

os.environ.setdefault("WOLFGANG_ENV", "development")
