"""`harness run`: save under some TF versions, load under others, compare, print the table."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import UserError
from .common import add_env_options, csv


def add_parser(sub) -> None:
    run = sub.add_parser("run", help="save under some TF versions, load under others, compare")
    run.add_argument("--save", required=True, type=csv, metavar="SPECS",
                     help="TF version specs to save under, comma-separated (2.12,2.16.1,"
                          "2.16+tf_keras,2.16+keras==3.3.3)")
    run.add_argument("--load", required=True, type=csv, metavar="SPECS",
                     help="TF version specs to load under")
    run.add_argument("--models", type=csv, help="zoo models (default: all)")
    run.add_argument("--formats", type=csv, help="formats (default: all)")
    run.add_argument("--loaders", type=csv, help="loaders (default: every loader of a format)")
    run.add_argument("--results-dir", type=Path, default=Path("results"),
                     help="where results/<run-id>/ goes (default: %(default)s)")
    run.add_argument("--run-id", help="name of the run folder (default: timestamp)")
    run.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                     help="environments worked on at once (default: %(default)s)")
    run.add_argument("--cell-timeout", type=float, default=600.0,
                     help="seconds one cell may take (default: %(default)s)")
    add_env_options(run)


def main(args) -> int:
    from .. import execute
    from ..report import terminal_table
    from ..runner import Progress, Run, RunOptions

    if args.jobs < 1:
        raise UserError("-j/--jobs must be at least 1")
    opts = RunOptions(save=args.save, load=args.load, models=args.models, formats=args.formats,
                      loaders=args.loaders, results_dir=args.results_dir, cache_dir=args.cache_dir,
                      backend=args.backend, as_of=args.as_of, python=args.python, jobs=args.jobs,
                      cell_timeout=args.cell_timeout, run_id=args.run_id)
    run = Run(opts, Progress())
    try:
        run_dir = run.execute()
    except KeyboardInterrupt:
        execute.kill_all()
        where = f"; finished cells are in {run.run.cells_file}" if run.run else ""
        print(f"harness: interrupted after {run.done} cells{where}", file=sys.stderr)
        return 130
    print(terminal_table(run_dir.path))
    print(f"\nresults: {run_dir.path}")
    return 0
