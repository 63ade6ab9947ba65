"""Environment backends: where a TF version lives and how the worker runs in it.

base.py (Environment: create or reuse, prepare, run the worker), uv.py (the default: a uv
virtualenv per spec), query.py (a script run inside an environment to read its versions),
docker/ (the Docker backend and its images).  It may import the base modules and plan (specs)."""

from __future__ import annotations

import os
from pathlib import Path

from .base import EnvError, Environment

# backend name -> "module:Class"; imported only when chosen (docker needs the docker package)
BACKENDS = {"uv": "harness.envs.uv:UvEnvironment",
            "docker": "harness.envs.docker.backend:DockerEnvironment"}


def get_backend(name: str):
    import importlib

    if name not in BACKENDS:
        raise EnvError(f"unknown backend {name!r}; available: {', '.join(sorted(BACKENDS))}")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def default_cache_dir() -> Path:
    """$HARNESS_CACHE, else $XDG_CACHE_HOME/tf-compat-harness, else ~/.cache/tf-compat-harness."""
    if os.environ.get("HARNESS_CACHE"):
        return Path(os.environ["HARNESS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tf-compat-harness"


__all__ = ["BACKENDS", "EnvError", "Environment", "get_backend", "default_cache_dir"]
