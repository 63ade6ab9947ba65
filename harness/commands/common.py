"""Options several commands share, and the up-front checks of what they name: every bad value
is one line naming it (exit 2) before anything starts."""

from __future__ import annotations

import argparse

from ..run import options


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
    """--cache-dir, --backend, --as-of, --python: the shared run options (harness.run.options)."""
    options.add_to_parser(p)


def add_cell_timeout(p: argparse.ArgumentParser) -> None:
    options.add_to_parser(p, ["cell-timeout"])


validate_env_options = options.validate
check_interpreter = options.check_interpreter
writable_folder = options.writable_folder
