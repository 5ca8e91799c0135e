"""servicekit.profiling: a service's profile on demand, written when the process stops."""

from __future__ import annotations

import pstats
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from servicekit import ServiceSettings
from servicekit.profiling import profiled


def work() -> int:
    return sum(range(1000))


def test_a_profile_directory_gets_the_services_profile_with_what_ran(tmp_path: Path) -> None:
    with profiled("agent-runtime", tmp_path / "prof"):
        work()

    stats = pstats.Stats(str(tmp_path / "prof" / "agent-runtime.prof"))
    assert any(name == "work" for (_, _, name) in stats.stats)  # type: ignore[attr-defined]


def test_the_profile_is_written_when_the_service_stops_with_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), profiled("backoffice-api", tmp_path):
        raise KeyboardInterrupt

    assert (tmp_path / "backoffice-api.prof").stat().st_size > 0


def test_without_a_directory_nothing_is_profiled(tmp_path: Path) -> None:
    with profiled("agent-runtime", None):
        work()

    assert list(tmp_path.iterdir()) == []


def test_the_directory_comes_from_PROFILE_DIR_and_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().profile_dir is None
    monkeypatch.setenv("PROFILE_DIR", "/tmp/profiles")
    assert ServiceSettings().profile_dir == Path("/tmp/profiles")


def test_a_sigterm_re_raised_after_shutdown_writes_the_profile_before_the_process_ends(
    tmp_path: Path,
) -> None:
    # uvicorn stops on SIGTERM, then re-raises it once shut down: the default action ends the process at once.
    code = (
        "import signal, sys; from pathlib import Path; from servicekit.profiling import profiled\n"
        "with profiled('evolution-manager', Path(sys.argv[1])):\n"
        "    signal.raise_signal(signal.SIGTERM)\n"
        "    print('not reached')\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, check=False)

    assert done.returncode == -signal.SIGTERM
    assert done.stdout == b""
    assert (tmp_path / "evolution-manager.prof").stat().st_size > 0
