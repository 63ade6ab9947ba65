"""Environment backends: where a TF version lives and how the worker runs in it."""

from __future__ import annotations

import os
from pathlib import Path

from .base import EnvError, Environment


def get_backend(name: str):
    if name == "uv":
        from .uv import UvEnvironment

        return UvEnvironment
    raise EnvError(f"unknown backend {name!r}; available: uv")


def default_cache_dir() -> Path:
    """$HARNESS_CACHE, else $XDG_CACHE_HOME/tf-compat-harness, else ~/.cache/tf-compat-harness."""
    if os.environ.get("HARNESS_CACHE"):
        return Path(os.environ["HARNESS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tf-compat-harness"


__all__ = ["EnvError", "Environment", "get_backend", "default_cache_dir"]
