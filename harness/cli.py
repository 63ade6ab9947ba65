"""The `harness` command line: parses, dispatches to harness/commands/<name>.py, and turns
errors into one line on stderr with a non-zero exit."""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import traceback

from . import __version__
from .commands import COMMANDS
from .errors import HarnessError, UserError

__all__ = ["main", "build_parser", "UserError"]


def _modules():
    return {name: importlib.import_module(f"harness.commands.{name}") for name in COMMANDS}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness", description="Does a TF model saved under one TF version load under "
        "another, with the same parameters and predictions?")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in _modules().values():
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _modules()[args.command].main(args)
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP turned into it: workers are
        # already killed by the command's own clean-up; one line, no traceback
        why = f" by {exc.args[0]}" if exc.args else ""
        print(f"harness: interrupted{why}", file=sys.stderr)
        return 130
    except OSError as exc:  # e.g. an unreadable file named on the command line
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"harness: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: still one line, and the traceback kept for the report
        with tempfile.NamedTemporaryFile("w", prefix="harness-crash-", suffix=".txt",
                                         delete=False) as f:
            traceback.print_exc(file=f)
        print(f"harness: internal error: {type(exc).__name__}: {exc} (traceback: {f.name})",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
