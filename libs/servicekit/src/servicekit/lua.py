"""Lua scripts live in ``.lua`` files beside the module that runs them (``<package>/lua/<name>.lua``), loaded
as package data as eventbus loads its own: an editor highlights them, and a review reads them as code."""

from __future__ import annotations

from importlib.resources import files


def script(package: str, name: str) -> str:
    """The text of ``<package>/lua/<name>.lua``, for ``redis.register_script``."""
    return files(package).joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")
