"""`harness report RUN [--out DIR] [--formats md,html,png,csv]`: write the run's reports."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import UserError
from .common import csv


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="write Markdown, HTML, PNG and CSV reports of a run")
    p.add_argument("run", type=Path, help="results/<run-id> folder")
    p.add_argument("--out", type=Path, help="output folder (default: RUN/report)")
    p.add_argument("--formats", type=csv, default=None, metavar="LIST",
                   help="any of md,html,png,csv (default: all; png only if matplotlib is "
                        "installed)")


def main(args) -> int:
    from ..reports import DEFAULT_FORMATS, png, write_reports

    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out} is a file: give a folder for the reports")
    formats = args.formats
    if formats is None:
        formats = [f for f in DEFAULT_FORMATS if f != "png" or png.available()]
        if "png" not in formats:
            print("harness: note: no PNG heatmap (matplotlib is not installed: "
                  "`python3 -m uv run --extra report harness report ...`)", file=sys.stderr)
    for path in write_reports(args.run, args.out, formats):
        print(path)
    from ..results.view import RunView

    note = RunView(args.run).missing_note()
    if note:
        print(f"harness: note: {note}", file=sys.stderr)
    return 0
