"""`harness show RUN [--detail] [--models/--formats/--loaders LIST] [--width N]`: the verdict and
table of a finished (or interrupted) run."""

from __future__ import annotations

from pathlib import Path

from .common import add_select_options, selection


def add_parser(sub) -> None:
    show = sub.add_parser("show", help="print the table of a finished (or interrupted) run")
    show.add_argument("run", type=Path, help="results/<run-id> folder")
    show.add_argument("--detail", action="store_true",
                      help="a row per model x format x loader, with max |diff| (default: rows "
                           "format x loader, columns models or save -> load pairs)")
    show.add_argument("--width", type=int, default=None, metavar="COLUMNS",
                      help="fit the table to this many columns (default: the terminal's; 160 "
                           "when piped)")
    add_select_options(show)


def main(args) -> int:
    from ..reports.terminal import terminal_table

    print(terminal_table(args.run, detail=args.detail, width=args.width,
                         select=selection(args)))
    return 0
