"""Where output goes, and how a failure reaches the user: one line on stderr, exit code 1, no traceback.

Scripts read stdout (``--json``); people read stderr's errors and the coloured rest. Every command runs its
work through :func:`guard`, which is the one place that turns the errors we expect (Redis down, a bad event,
an unknown dead letter, a service answering 4xx) into that line.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, ParamSpec, TypeVar

import httpx
import redis
import typer
from eventbus import EventBusError
from rich.console import Console

T = TypeVar("T")
P = ParamSpec("P")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(Exception):
    """A failure the user can act on; its message is the whole story."""


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(1)


def describe(exc: BaseException) -> str:
    """One line for an error we expect, naming what failed rather than where."""
    if isinstance(exc, redis.ConnectionError | ConnectionRefusedError):
        return f"cannot reach Redis: {exc} (is the system running? `make run`; else set --redis-url or REDIS_URL)"
    if isinstance(exc, redis.RedisError):
        return f"Redis refused the command: {exc}"
    if isinstance(exc, httpx.HTTPError):
        return f"HTTP request failed: {type(exc).__name__}: {exc}"
    return str(exc) or type(exc).__name__


EXPECTED: tuple[type[BaseException], ...] = (
    CliError,
    EventBusError,
    redis.RedisError,
    httpx.HTTPError,
    OSError,
    ValueError,
)


def run(work: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(work)


def guard(command: Callable[P, None]) -> Callable[P, None]:
    """Wrap a command: the errors we expect become one line on stderr and exit code 1
    (``WOLFGANG_DEBUG=1`` shows the traceback instead)."""

    @functools.wraps(command)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except EXPECTED as exc:
            if os.environ.get("WOLFGANG_DEBUG"):
                raise
            fail(describe(exc))

    return guarded


def print_json(value: Any) -> None:
    """Machine-readable output: plain JSON on stdout, no colour, no wrapping."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
