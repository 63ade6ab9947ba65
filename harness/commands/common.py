"""Options several commands share."""

from __future__ import annotations

import argparse
from pathlib import Path


def csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def add_env_options(p: argparse.ArgumentParser) -> None:
    from ..envs import BACKENDS, default_cache_dir

    p.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
                   help="where environments live (default: %(default)s; env HARNESS_CACHE)")
    p.add_argument("--backend", default="uv", choices=sorted(BACKENDS),
                   help="environment backend (default: %(default)s)")
    p.add_argument("--as-of", metavar="DATE",
                   help="resolve packages as of DATE (YYYY-MM-DD; uv --exclude-newer)")
    p.add_argument("--python", metavar="PATH",
                   help="uv: interpreter to build environments from (default: this one); "
                        "docker: the base to build on (a suite such as bullseye, a Python "
                        "version such as 3.9, an image such as python:3.9-slim, or tensorflow "
                        "for the official images; default: the newest local base with wheels)")
