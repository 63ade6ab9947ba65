"""`harness show RUN`: the table of a finished (or interrupted) run."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError


def add_parser(sub) -> None:
    show = sub.add_parser("show", help="print the table of a finished (or interrupted) run")
    show.add_argument("run", type=Path, help="results/<run-id> folder")


def main(args) -> int:
    from ..report import terminal_table

    if not (args.run / "run.json").exists():
        raise UserError(f"{args.run} is not a run folder (no run.json)")
    print(terminal_table(args.run))
    return 0
