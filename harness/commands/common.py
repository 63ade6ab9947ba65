"""Options several commands share, and the up-front checks of what they name: every bad value
is one line naming it (exit 2) before anything starts."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import UserError


def csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def add_select_options(p: argparse.ArgumentParser) -> None:
    """`--models/--formats/--loaders` on commands that read a run (show, advise): only those cells;
    a loader without `[variant]` selects its variants too."""
    p.add_argument("--models", type=csv, metavar="LIST", help="only these models, comma-separated")
    p.add_argument("--formats", type=csv, metavar="LIST", help="only these formats")
    p.add_argument("--loaders", type=csv, metavar="LIST",
                   help="only these loaders (a name without [variant] includes its variants)")


def selection(args) -> dict[str, list[str]] | None:
    """The filters given, as RunView's `select`, or None."""
    found = {k: getattr(args, k) for k in ("models", "formats", "loaders") if getattr(args, k)}
    return found or None


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


def validate_env_options(args) -> None:
    """--as-of, --python, --cache-dir and --cell-timeout (every command that has them), checked
    before any environment is touched."""
    import math

    from ..plan.specs import parse_as_of

    timeout = getattr(args, "cell_timeout", None)
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise UserError(f"--cell-timeout must be a number of seconds > 0, not {timeout:g}")
    if getattr(args, "as_of", None):
        parse_as_of(args.as_of, "--as-of")
    if getattr(args, "python", None) and getattr(args, "backend", "uv") == "uv":
        check_interpreter(args.python)
    if getattr(args, "cache_dir", None) is not None:
        writable_folder(args.cache_dir, "--cache-dir")


def check_interpreter(python: str) -> None:
    found = shutil.which(python)
    if found is None:
        if os.path.exists(python):
            raise UserError(f"--python {python}: not an executable file")
        raise UserError(f"--python {python}: no such interpreter (neither a file nor a command "
                        "on PATH)")


def writable_folder(path: Path, option: str) -> None:
    """`path` is a folder we can write in, or can be made one; nothing is left behind."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is a file, not a folder")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{option} {path}: {probe} is a file, not a folder")
    try:
        tempfile.TemporaryDirectory(dir=probe, prefix=".harness-probe-").cleanup()
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot write in {probe} "
                        f"({exc.strerror or type(exc).__name__})") from None
